// asyncio::run's helpers and the thread's current loop.
#include "asyncio/runners.hpp"

#include <memory>

namespace asyncio {

namespace {
thread_local EventLoop* current_loop = nullptr;
}

std::unique_ptr<EventLoop> new_event_loop(std::unique_ptr<selectors::Selector> selector) {
  return std::make_unique<EventLoop>(std::move(selector));
}

EventLoop& get_event_loop() {
  if (EventLoop* running = detail::running_loop_or_null()) return *running;
  if (!current_loop) throw RuntimeError("There is no current event loop in this thread.");
  return *current_loop;
}

void set_event_loop(EventLoop* loop) noexcept { current_loop = loop; }

namespace detail {

void check_no_running_loop(const char* caller) {
  if (running_loop_or_null()) {
    throw RuntimeError(std::string(caller) + " cannot be called from a running event loop");
  }
}

void cancel_all_tasks(EventLoop& loop) noexcept {
  try {
    std::vector<TaskRef> tasks = all_tasks(loop);
    if (tasks.empty()) return;
    for (TaskRef& task : tasks) task.cancel();
    Future<void> all_done = loop.create_future<void>();
    auto remaining = std::make_shared<std::size_t>(tasks.size());
    for (TaskRef& task : tasks) {
      task.add_done_callback([remaining, all_done](TaskRef) mutable {
        if (--*remaining == 0) all_done.set_result();
      });
    }
    loop.run_until_complete(all_done);
    for (TaskRef& task : tasks) {
      if (task.cancelled()) continue;
      if (std::exception_ptr error = task.exception()) {
        loop.call_exception_handler(
            {"unhandled exception during asyncio.run() shutdown", error, task.state()->describe()});
      }
    }
  } catch (...) {
    loop.call_exception_handler(
        {"error while cancelling tasks during asyncio.run() shutdown", std::current_exception(), {}});
  }
}

}  // namespace detail

}  // namespace asyncio
