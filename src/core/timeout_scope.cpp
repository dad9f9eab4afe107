// TimeoutScope: the deadline mechanism under timeout() and wait_for (see the header).
#include "asyncio/detail/timeout_scope.hpp"

namespace asyncio::detail {

void TimeoutScope::enter() {
  if (state_ != State::created) throw RuntimeError("Timeout has already been entered");
  task_ = current_task();
  if (!task_.valid()) throw RuntimeError("Timeout should be used inside a task");
  cancelling_ = task_.cancelling();
  state_ = State::entered;
  reschedule(when_);
}

void TimeoutScope::reschedule(std::optional<TimePoint> when) {
  if (state_ != State::entered) {  // Python's messages, with its names of the states
    throw RuntimeError(state_ == State::created    ? "Timeout has not been entered"
                       : state_ == State::exited   ? "Cannot change state of finished Timeout"
                       : state_ == State::expiring ? "Cannot change state of expiring Timeout"
                                                   : "Cannot change state of expired Timeout");
  }
  when_ = when;
  handle_.cancel();
  handle_ = {};
  if (!when) return;
  // A deadline already past still lets the block start: it is cancelled at its first
  // suspension. As in CPython, the expiry is then a ready callback, not a timer, so that it runs
  // before a task that only yields (sleep(0)) gets to run again.
  EventLoop& loop = task_.get_loop();
  if (!std::exchange(ahead_, false) && *when <= loop.time()) {
    handle_ = loop.call_soon([this] { on_timeout(); });
  } else {
    handle_ = loop.call_at(*when, [this] { on_timeout(); });
  }
}

bool TimeoutScope::exit(const std::exception_ptr& error) noexcept {
  handle_.cancel();
  if (state_ == State::expiring) {
    state_ = State::expired;
    return task_.uncancel() <= cancelling_ && is_cancelled_error(error);
  }
  if (state_ == State::entered) state_ = State::exited;
  return false;
}

namespace {
/// The TimeoutError a scope's own cancellation becomes, with that cancellation nested (what
/// std::throw_with_nested(TimeoutError()) throws, here made without throwing).
class TimeoutAfterCancellation final : public TimeoutError, public std::nested_exception {};

/// A TimeoutAfterCancellation copied from `prototype` (a new exception object, the same nested
/// cancellation), or the allocation's failure.
std::exception_ptr copy_of(const TimeoutAfterCancellation& prototype) noexcept {
  try {
    return std::make_exception_ptr(prototype);
  } catch (...) {
    return std::current_exception();
  }
}

/// The CancelledError every deadline cancels its task with, and a TimeoutError nesting it:
/// made once (one throw, for std::nested_exception takes what is being handled), so that a
/// scope leaving with its deadline's cancellation in hand (a primitive's wait under wait_for)
/// makes its TimeoutError without a throw. CancelledError carries nothing but its message, the
/// same (none) for every deadline, so one object serves them all.
struct DeadlineCancellation {
  std::exception_ptr cancellation;
  TimeoutAfterCancellation timeout_error;

  static const DeadlineCancellation& get() {
    static const DeadlineCancellation shared = [] {
      try {
        throw CancelledError();
      } catch (...) {
        return DeadlineCancellation{std::current_exception(), TimeoutAfterCancellation()};
      }
    }();
    return shared;
  }
};
}  // namespace

void TimeoutScope::on_timeout() {
  task_.state()->cancel(DeadlineCancellation::get().cancellation);
  state_ = State::expiring;
}

std::exception_ptr TimeoutScope::exit_from_handler() noexcept {
  std::exception_ptr error = std::current_exception();
  if (!exit(error)) return error;
  return copy_of(TimeoutAfterCancellation());
}

std::exception_ptr TimeoutScope::exit_with(const std::exception_ptr& error) noexcept {
  if (!exit(error)) return error;
  // exit() said this is the scope's own cancellation, so on_timeout() ran and the shared one
  // exists. It is nearly always that one; another CancelledError (the block's own, or a
  // cancellation from outside that was uncancelled) can be nested only from a handler: a
  // throw, but through this small frame only.
  const DeadlineCancellation& deadline = DeadlineCancellation::get();
  if (error == deadline.cancellation) return copy_of(deadline.timeout_error);
  try {
    std::rethrow_exception(error);
  } catch (...) {
    return copy_of(TimeoutAfterCancellation());
  }
}

}  // namespace asyncio::detail
