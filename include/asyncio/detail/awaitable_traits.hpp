// What awaiting something gives, for the functions that take any awaitable (wait_for, timeout,
// gather, shield, wait): a Coro<T>, Future<T> or Task<T> gives T; a plain awaiter, what a
// primitive's wait returns (q.get(), q.put(x), lock.acquire(), event.wait(), sem.acquire(),
// sleep(d)), gives what its await_resume returns. Python's functions take such a wait as a
// coroutine (`wait_for(q.get(), 1)`); these traits let the C++ forms take it the same way. A
// plain awaiter may be moved until it is awaited, so it can live in the frame that awaits it.
#pragma once

#include <type_traits>
#include <utility>

namespace asyncio {

template <class T>
class Coro;
template <class T>
class Future;
template <class T>
class Task;

namespace detail {

/// An object with await_ready/await_suspend/await_resume itself, not a Coro, Future or Task.
template <class A>
concept PlainAwaiter = requires(A& a) {
  a.await_ready();
  a.await_resume();
};

/// Defined only for what can be awaited, so that a function taking an awaitable does not take
/// anything else.
template <class A>
struct AwaitableTraits;
template <class T>
struct AwaitableTraits<Coro<T>> {
  using value_type = T;
};
template <class T>
struct AwaitableTraits<Future<T>> {
  using value_type = T;
};
template <class T>
struct AwaitableTraits<Task<T>> {
  using value_type = T;
};
template <PlainAwaiter A>
struct AwaitableTraits<A> {
  using value_type = decltype(std::declval<A&>().await_resume());
};

}  // namespace detail

/// What `co_await a` gives for an `a` of type A (references and const ignored).
template <class A>
using awaitable_value_t = typename detail::AwaitableTraits<std::remove_cvref_t<A>>::value_type;

}  // namespace asyncio
