// ForeignWake: the proxy coroutine handed to foreign awaiters, and how its resumption wakes
// the task (see foreign_awaiter.hpp).
#include "asyncio/detail/foreign_awaiter.hpp"

#include <exception>

#include "asyncio/event_loop.hpp"

namespace asyncio::detail {

namespace {

/// A coroutine that does nothing but tell its ForeignWake, once resumed, from its final
/// suspension point (so that its frame is untouched by then and may be destroyed by another
/// thread at any time).
struct Proxy {
  struct promise_type {
    ForeignWake* wake = nullptr;

    Proxy get_return_object() noexcept {
      return Proxy{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    auto final_suspend() const noexcept {
      struct Tell {
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<promise_type> self) const noexcept {
          self.promise().wake->proxy_resumed();
        }
        void await_resume() const noexcept {}
      };
      return Tell{};
    }
    void return_void() const noexcept {}
    void unhandled_exception() const noexcept { std::terminate(); }  // (its body is empty)
  };
  std::coroutine_handle<promise_type> frame;
};

Proxy make_proxy() { co_return; }

}  // namespace

ForeignWake::~ForeignWake() {
  if (proxy_) proxy_.destroy();
}

std::coroutine_handle<> ForeignWake::arm(TaskBase* task) {
  if (!proxy_) {
    Proxy proxy = make_proxy();
    proxy.frame.promise().wake = this;
    proxy_ = proxy.frame;
  }
  task_ = task;
  state_.store(State::suspending, std::memory_order_relaxed);
  return proxy_;
}

bool ForeignWake::settle() noexcept {
  State expected = State::suspending;
  return state_.compare_exchange_strong(expected, State::suspended, std::memory_order_acq_rel);
}

void ForeignWake::proxy_resumed() noexcept {
  State expected = State::suspending;
  if (state_.compare_exchange_strong(expected, State::resumed, std::memory_order_acq_rel)) {
    return;  // inside the foreign await_suspend: settle() sees it and the task goes on
  }
  // The task waits on this: wake it on its loop. Nothing of *this is touched after that, since
  // the task may then run and destroy it.
  TaskBase* task = task_;
  EventLoop* loop = task->loop();
  if (running_loop_or_null() == loop) {
    task->schedule_step();
    return;
  }
  try {
    loop->call_soon_threadsafe([task] { task->step(); });
  } catch (...) {
    // The loop is closed: it destroyed the task, and with it the frame that awaited this.
  }
}

}  // namespace asyncio::detail
