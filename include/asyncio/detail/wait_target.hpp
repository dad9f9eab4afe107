// WaitTarget: what a suspended task waits on, as far as cancelling the task and tearing it
// down are concerned (CPython's Task._fut_waiter).
#pragma once

#include <exception>

namespace asyncio::detail {

class TaskBase;

/// The one thing a task can be suspended on: a future, a timer, a primitive's waiter.
class WaitTarget {
 public:
  /// Called by Task::cancel of `task`, which waits on this target. Returns true when the target
  /// was cancelled and will itself wake the task with a CancelledError (a future); false when
  /// the task must raise CancelledError by itself when it next runs: the target scheduled it
  /// now (a timer, a lock's waiter), or it will when it completes (a foreign awaitable).
  /// `error` is the CancelledError to deliver.
  virtual bool cancel_wait(TaskBase* task, const std::exception_ptr& error) = 0;
  /// Called when `task`, which waits on this target, is torn down with its frames
  /// (EventLoop::close): the target forgets the task where the awaiters in those frames will
  /// not as they are destroyed. A future drops the task from its callbacks, a sleep's timer is
  /// cancelled; targets that live in the awaiter itself clean up in their destructors.
  virtual void forget_waiter(TaskBase*) noexcept {}

 protected:
  ~WaitTarget() = default;
};

}  // namespace asyncio::detail
