// FdWaiter: what `co_await loop.wait_readable(fd)` / `wait_writable(fd)` suspend on. It lives
// in the awaiting frame and is the fd's watcher while the task waits: waiting allocates nothing.
#pragma once

#include <coroutine>
#include <exception>

#include "asyncio/detail/io_watcher.hpp"
#include "asyncio/detail/task_base.hpp"
#include "asyncio/event_loop.hpp"

namespace asyncio::detail {

class FdWaiter final : public IoWatcher, public WaitTarget {
 public:
  FdWaiter(IoBackend& backend, int fd, int direction) noexcept
      : IoWatcher(&handle), backend_(&backend), fd_(fd), direction_(direction) {}
  FdWaiter(const FdWaiter&) = delete;
  FdWaiter& operator=(const FdWaiter&) = delete;
  ~FdWaiter() {  // a frame destroyed while waiting (its loop closing) unwatches the fd
    if (watching_) backend_->detach_watcher(fd_, direction_);
  }

  bool await_ready() const noexcept { return false; }
  template <AsyncioPromise P>
  void await_suspend(std::coroutine_handle<P>) {
    task_ = running_task();
    backend_->add_watcher(fd_, direction_, this, false);
    watching_ = true;
    task_->begin_wait(this);
  }
  void await_resume() { task_->end_wait(); }

  CancelOutcome cancel_wait(TaskBase*, const std::exception_ptr&) override {
    if (!watching_) return CancelOutcome::too_late;  // woken, or cancelled already
    stop_watching();
    task_->schedule_step();
    return CancelOutcome::aborted;
  }

 private:
  static void handle(IoWatcher* watcher, Event event) {
    auto* self = static_cast<FdWaiter*>(watcher);
    TaskBase* task = self->task_;
    if (event == Event::removed) {  // the loop already took it out of the fd table
      self->watching_ = false;
      task->schedule_step();  // removed from arbitrary code: wake through the ready queue
      return;
    }
    // The loop is dispatching I/O, no task is running: step the task right away. This frame,
    // and so *self, may be gone when it returns.
    self->stop_watching();
    task->step();
  }

  void stop_watching() noexcept {
    watching_ = false;
    backend_->detach_watcher(fd_, direction_);
  }

  IoBackend* backend_;
  TaskBase* task_ = nullptr;
  int fd_;
  int direction_;
  bool watching_ = false;  // installed as the fd's watcher
};

}  // namespace asyncio::detail

namespace asyncio {

inline detail::FdWaiter EventLoop::wait_readable(int fd) {
  check_fd_not_in_transport(fd);
  return detail::FdWaiter(*io_, fd, detail::IoBackend::reader);
}
inline detail::FdWaiter EventLoop::wait_writable(int fd) {
  check_fd_not_in_transport(fd);
  return detail::FdWaiter(*io_, fd, detail::IoBackend::writer);
}

}  // namespace asyncio
