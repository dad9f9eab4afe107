// The deadline mechanism under timeout() and wait_for (Python 3.12's asyncio.Timeout): on
// expiry it cancels the current task, and at the end of the scope it turns that cancellation,
// and only that one, into TimeoutError, using the task's cancel-request count to tell it from
// an outside cancel.
#pragma once

#include <cstdint>
#include <exception>
#include <optional>

#include "asyncio/event_loop.hpp"
#include "asyncio/handle.hpp"
#include "asyncio/task.hpp"

namespace asyncio::detail {

class TimeoutScope {
 public:
  enum class State : std::uint8_t { created, entered, expiring, expired, exited };

  /// A scope not entered yet, with a deadline of `when` on the loop clock (none: no deadline
  /// until reschedule()).
  explicit TimeoutScope(std::optional<TimePoint> when) noexcept : when_(when) {}
  /// A scope whose deadline `when` was just computed from a positive delay: entering it
  /// schedules the timer without reading the clock again to see whether it already passed.
  struct AheadTag {};
  TimeoutScope(AheadTag, TimePoint when) noexcept : when_(when), ahead_(true) {}
  TimeoutScope(const TimeoutScope&) = delete;
  TimeoutScope& operator=(const TimeoutScope&) = delete;
  ~TimeoutScope() { handle_.cancel(); }

  /// Enters the scope in the current task: the deadline starts to count. RuntimeError outside a
  /// task, or when it was entered before.
  void enter();

  /// Leaves the scope. `error` is what the block exited with (null: normally). Returns true
  /// when that error is this scope's own cancellation and must become TimeoutError.
  bool exit(const std::exception_ptr& error) noexcept;
  /// exit() from a handler of what the block threw: what the block must end with instead, made
  /// without a throw. A TimeoutError with the handled exception nested (Python's `raise
  /// TimeoutError from exc`; std::rethrow_if_nested gives it back) when that exception is this
  /// scope's own cancellation, else the handled exception itself.
  std::exception_ptr exit_from_handler() noexcept;
  /// exit_from_handler() for an `error` the block ended with but did not throw (a
  /// CancellableWait's cancellation).
  std::exception_ptr exit_with(const std::exception_ptr& error) noexcept;
  State state() const noexcept { return state_; }
  std::optional<TimePoint> when() const noexcept { return when_; }
  /// Moves the deadline (none: no deadline). RuntimeError before it is entered, and once it
  /// expired or was left.
  void reschedule(std::optional<TimePoint> when);

 private:
  /// The deadline passed: cancels the task (with the CancelledError all deadlines share).
  void on_timeout();

  TaskRef task_;
  Handle handle_;  // the expiry: a timer, or a callback when already expired
  std::optional<TimePoint> when_;
  std::uint32_t cancelling_ = 0;  // the task's cancel requests when the scope was entered
  State state_ = State::created;
  bool ahead_ = false;  // when_ is known to be ahead of the clock until enter()
};

}  // namespace asyncio::detail
