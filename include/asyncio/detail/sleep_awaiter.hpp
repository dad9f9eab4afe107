// SleepAwaiter: what `co_await asyncio::sleep(d)` suspends on (tasks.hpp); also what a bare
// `co_await std::suspend_always{}` in a task becomes (Python's bare yield: give the loop one
// turn, see foreign_awaiter.hpp).
#pragma once

#include <coroutine>
#include <exception>

#include "asyncio/detail/task_base.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/handle.hpp"

namespace asyncio::detail {

/// `co_await sleep(d)`: suspends the task on a timer; a zero delay just yields once. It lives in
/// the awaiting frame, so sleeping allocates nothing beyond the loop's pooled timer node.
class SleepAwaiter final : public WaitTarget {
 public:
  explicit SleepAwaiter(Clock::duration delay) noexcept : delay_(delay) {}
  /// Moves only before it is awaited (into a coroutine frame: wait_for(sleep(d), t)).
  SleepAwaiter(SleepAwaiter&& other) noexcept : WaitTarget(), delay_(other.delay_) {}
  SleepAwaiter(const SleepAwaiter&) = delete;
  SleepAwaiter& operator=(const SleepAwaiter&) = delete;
  ~SleepAwaiter() {  // a frame destroyed while asleep
    if (delay_ > Clock::duration::zero()) timer_.cancel();
  }

  bool await_ready() const noexcept { return false; }
  template <AsyncioPromise P>
  void await_suspend(std::coroutine_handle<P>) {
    TaskBase* task = running_task();
    if (delay_ <= Clock::duration::zero()) {
      task->schedule_step();
      return;
    }
    EventLoop* loop = task->loop();
    timer_ = loop->wake_task_at(deadline_after(loop->time(), delay_), task);
    task->begin_wait(this);
  }
  void await_resume() {
    // Woken: the timer ran, or cancel_wait cancelled it. The destructor has nothing to cancel,
    // and need not read the recycled timer node (a cache miss per sleep with many sleepers).
    delay_ = Clock::duration::zero();
    running_task()->end_wait();
  }

  bool cancel_wait(TaskBase* task, const std::exception_ptr&) override {
    if (!timer_.cancelled()) {  // a second cancel must not schedule the task twice
      timer_.cancel();
      task->schedule_step();
    }
    return false;  // the task raises CancelledError itself when it runs
  }

 private:
  // Every byte here is in the sleeping frame: no task pointer (the running task is known), and
  // a Handle rather than a TimerHandle (its deadline is not needed).
  Clock::duration delay_;
  Handle timer_;
};

}  // namespace asyncio::detail
