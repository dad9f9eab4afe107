// asyncio::Outcome<T>: how one awaitable ended (a value, an exception, or a cancellation), as
// gather(return_exceptions, ...) reports it where Python puts the exception object in the list.
#pragma once

#include <exception>
#include <optional>
#include <utility>

#include "asyncio/detail/future_state.hpp"

namespace asyncio {

template <class T>
class Outcome {
 public:
  static Outcome from_value(T value) { return Outcome(std::move(value), nullptr); }
  static Outcome from_exception(std::exception_ptr error) {
    return Outcome(std::nullopt, std::move(error));
  }

  bool has_value() const noexcept { return !error_; }
  /// True when it ended by CancelledError.
  bool cancelled() const noexcept { return detail::is_cancelled_error(error_); }
  /// The exception (a CancelledError when cancelled), or null.
  const std::exception_ptr& exception() const noexcept { return error_; }
  /// The value; rethrows the exception when there is one.
  T& value() & {
    if (error_) std::rethrow_exception(error_);
    return *value_;
  }
  T&& value() && { return std::move(value()); }

 private:
  Outcome(std::optional<T> value, std::exception_ptr error)
      : value_(std::move(value)), error_(std::move(error)) {}
  std::optional<T> value_;
  std::exception_ptr error_;
};

template <>
class Outcome<void> {
 public:
  static Outcome from_value() { return Outcome(nullptr); }
  static Outcome from_exception(std::exception_ptr error) { return Outcome(std::move(error)); }

  bool has_value() const noexcept { return !error_; }
  bool cancelled() const noexcept { return detail::is_cancelled_error(error_); }
  const std::exception_ptr& exception() const noexcept { return error_; }
  void value() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  explicit Outcome(std::exception_ptr error) : error_(std::move(error)) {}
  std::exception_ptr error_;
};

}  // namespace asyncio
