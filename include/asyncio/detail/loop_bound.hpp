// Which types refer to an event loop so that destroying them touches it (loop_bound): a
// Future, Task or TaskRef, a Handle, a stream, a server, an async generator, and any standard
// container, tuple, pair, optional, variant or smart pointer holding one. asyncio::run refuses
// to return such a value, because run destroys the loop before its caller could drop it.
#pragma once

#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

namespace asyncio::detail {

/// Base of the library's types whose destruction touches their loop.
struct LoopBound {};

template <class T, class = void>
struct IsLoopBound : std::is_base_of<LoopBound, T> {};

// Containers and std::optional: their elements.
template <class T>
struct IsLoopBound<T, std::void_t<typename T::value_type>>
    : std::bool_constant<std::is_base_of_v<LoopBound, T> ||
                         (!std::is_same_v<std::remove_cv_t<typename T::value_type>, T> &&
                          IsLoopBound<std::remove_cv_t<typename T::value_type>>::value)> {};
template <class... T>
struct IsLoopBound<std::tuple<T...>>
    : std::bool_constant<(IsLoopBound<std::remove_cv_t<T>>::value || ...)> {};
template <class A, class B>
struct IsLoopBound<std::pair<A, B>> : std::bool_constant<IsLoopBound<std::remove_cv_t<A>>::value ||
                                                         IsLoopBound<std::remove_cv_t<B>>::value> {
};
template <class... T>
struct IsLoopBound<std::variant<T...>>
    : std::bool_constant<(IsLoopBound<std::remove_cv_t<T>>::value || ...)> {};
template <class T, class D>
struct IsLoopBound<std::unique_ptr<T, D>> : IsLoopBound<std::remove_cv_t<T>> {};
template <class T>
struct IsLoopBound<std::shared_ptr<T>> : IsLoopBound<std::remove_cv_t<T>> {};

template <class T>
inline constexpr bool loop_bound = IsLoopBound<std::remove_cv_t<T>>::value;

}  // namespace asyncio::detail
