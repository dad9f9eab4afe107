// WaitTarget: what a suspended task waits on, as far as cancelling the task and tearing it
// down are concerned (CPython's Task._fut_waiter).
#pragma once

#include <exception>

namespace asyncio::detail {

class TaskBase;

/// What handing a cancellation to the target a task waits on did (Python: what the cancel() of
/// the future the task awaits did, and so whether Task.uncancel() can still withdraw it).
enum class CancelOutcome : unsigned char {
  delivered,  // the target is cancelled and wakes the task with the CancelledError (a future)
  aborted,    // the target gave the wait up and scheduled the task, which raises CancelledError
              // itself when it runs; uncancel() cannot withdraw it (Python's awaited future is
              // cancelled already)
  too_late,   // the target woke the task already (or will, when a foreign awaitable completes):
              // the cancellation waits for the task's next resumption, as Python's
              // _must_cancel, and uncancel() can withdraw it until then
};

/// The one thing a task can be suspended on: a future, a timer, a primitive's waiter.
class WaitTarget {
 public:
  /// Called by Task::cancel of `task`, which waits on this target; `error` is the
  /// CancelledError to deliver.
  virtual CancelOutcome cancel_wait(TaskBase* task, const std::exception_ptr& error) = 0;
  /// Called when `task`, which waits on this target, is torn down with its frames
  /// (EventLoop::close): the target forgets the task where the awaiters in those frames will
  /// not as they are destroyed. A future drops the task from its callbacks, a sleep's timer is
  /// cancelled; targets that live in the awaiter itself clean up in their destructors.
  virtual void forget_waiter(TaskBase*) noexcept {}

 protected:
  ~WaitTarget() = default;
};

}  // namespace asyncio::detail
