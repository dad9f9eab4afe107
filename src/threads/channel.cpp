// Channel's untyped part: waking, reservations and their hand-on, blocked threads, and a task's
// wait (see channel.hpp).
#include "asyncio/channel.hpp"

#include <condition_variable>
#include <string>

#include "asyncio/event_loop.hpp"

namespace asyncio::detail {

namespace {

/// A thread blocked in put_blocking / get_blocking, on a condition variable of its own over the
/// channel's mutex.
class ChannelThreadWaiter final : public ChannelWaiter {
 public:
  std::condition_variable woken;

 private:
  void wake() noexcept override { woken.notify_one(); }
};

}  // namespace

std::size_t ChannelCore::size() const {
  std::lock_guard lock(mutex_);
  return count_;
}

bool ChannelCore::closed() const {
  std::lock_guard lock(mutex_);
  return closed_;
}

void ChannelCore::close() {
  std::lock_guard lock(mutex_);
  if (closed_) return;
  closed_ = true;
  while (wake_first(ChannelSide::get, Reason::closed)) {
  }
  while (wake_first(ChannelSide::put, Reason::closed)) {
  }
}

void ChannelCore::added() noexcept {
  ++count_;
  if (!getters_.empty() && can_get()) {
    ++reserved_gets_;
    wake_first(ChannelSide::get, Reason::reserved);
  }
}

void ChannelCore::taken() noexcept {
  --count_;
  if (!putters_.empty() && can_put()) {
    ++reserved_puts_;
    wake_first(ChannelSide::put, Reason::reserved);
  }
}

void ChannelCore::claim(ChannelSide side) noexcept { --reserved(side); }

void ChannelCore::hand_on(ChannelSide side, Reason reason) noexcept {
  if (reason != Reason::reserved) return;  // woken by close(), which woke everybody
  --reserved(side);
  const bool available = side == ChannelSide::get ? can_get() : can_put();
  if (available && !list(side).empty()) {
    ++reserved(side);
    wake_first(side, Reason::reserved);
  }
}

void ChannelCore::push_waiter(ChannelSide side, ChannelWaiter& w) noexcept {
  w.reason_ = Reason::none;
  list(side).push_back(&w);
}

bool ChannelCore::wake_first(ChannelSide side, Reason reason) noexcept {
  auto* w = static_cast<ChannelWaiter*>(list(side).front());
  if (!w) return false;
  w->unlink();
  w->reason_ = reason;
  w->wake();
  return true;
}

ChannelCore::Reason ChannelCore::wait_blocking(std::unique_lock<std::mutex>& lock, ChannelSide side,
                                               std::optional<Clock::time_point> deadline,
                                               const char* caller) {
  if (running_loop.loop) {
    throw RuntimeError(std::string("Channel.") + caller +
                       "() would block the event loop running on this thread; use co_await");
  }
  ChannelThreadWaiter waiter;
  push_waiter(side, waiter);
  auto woken = [&] { return waiter.reason_ != Reason::none; };
  if (!deadline) {
    waiter.woken.wait(lock, woken);
  } else if (!waiter.woken.wait_until(lock, *deadline, woken)) {
    waiter.unlink();
    throw TimeoutError();
  }
  return waiter.reason_;
}

void ChannelCore::throw_shut_down() { throw QueueShutDown("Channel is closed"); }

// --- a task's wait ------------------------------------------------------------------------------

bool ChannelTaskWaiter::suspend(std::unique_lock<std::mutex>& lock) {
  task_ = running_task();
  loop_ = task_->loop();
  if (!wake_) wake_ = std::make_shared<Wake>();
  wake_->task = task_;
  core_.push_waiter(side_, *this);
  lock.unlock();
  task_->begin_wait(this);  // a cancellation already requested ends the wait at once
  return true;
}

void ChannelTaskWaiter::wake() noexcept {
  // Any thread, the channel's mutex held: the frame, and so the loop, are alive.
  try {
    loop_->call_soon_threadsafe([wake = wake_] {
      if (TaskBase* task = std::exchange(wake->task, nullptr)) task->schedule_step();
    });
  } catch (...) {
    // The loop is closed (or out of memory): the frame is destroyed with the loop's tasks, and
    // its destructor hands the reservation on.
  }
}

CancelOutcome ChannelTaskWaiter::cancel_wait(TaskBase*, const std::exception_ptr&) {
  {
    std::lock_guard lock(core_.mutex());
    unlink();  // still waiting: leaves the list; woken: resume() hands its reservation on
  }
  if (TaskBase* task = std::exchange(wake_->task, nullptr)) task->schedule_step();
  return CancelOutcome::aborted;  // either way the task raises CancelledError when it resumes
}

ChannelWaiter::Reason ChannelTaskWaiter::resume() {
  TaskBase* task = std::exchange(task_, nullptr);
  wake_->task = nullptr;
  std::unique_lock lock(core_.mutex());
  const Reason reason = reason_;
  lock.unlock();
  try {
    task->end_wait();
  } catch (...) {
    lock.lock();
    core_.hand_on(side_, reason);
    throw;
  }
  return reason;
}

void ChannelTaskWaiter::abandon() noexcept {
  task_ = nullptr;
  wake_->task = nullptr;
  std::lock_guard lock(core_.mutex());
  if (linked()) {
    unlink();
  } else {
    core_.hand_on(side_, reason_);
  }
}

}  // namespace asyncio::detail
