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
/// the awaiting frame and holds only the delay: the task waits on the loop's pooled timer node
/// (WakeNode), which a cancel or a teardown of the task reaches through the task.
class SleepAwaiter final {
 public:
  explicit SleepAwaiter(Clock::duration delay) noexcept : delay_(delay) {}
  /// Moves only before it is awaited (into a coroutine frame: wait_for(sleep(d), t)).
  SleepAwaiter(SleepAwaiter&&) noexcept = default;
  SleepAwaiter(const SleepAwaiter&) = delete;
  SleepAwaiter& operator=(const SleepAwaiter&) = delete;

  bool await_ready() const noexcept { return false; }
  template <AsyncioPromise P>
  void await_suspend(std::coroutine_handle<P>) {
    TaskBase* task = running_task();
    if (delay_ <= Clock::duration::zero()) {
      task->schedule_step();
      return;
    }
    EventLoop* loop = task->loop();
    task->begin_wait(loop->wake_task_at(deadline_after(loop->time(), delay_), task));
  }
  void await_resume() { running_task()->end_wait(); }

 private:
  Clock::duration delay_;
};

}  // namespace asyncio::detail
