// asyncio::run's shutdown, the loop's shutdown_asyncgens, and the thread's current loop.
#include "asyncio/runners.hpp"

#include <signal.h>
#include <unistd.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "asyncio/async_generator.hpp"
#include "asyncio/selectors.hpp"
#include "io/io_backend_parts.hpp"
#include "unix/signal_handlers.hpp"

namespace asyncio {

namespace {
thread_local EventLoop* current_loop = nullptr;

// Python's _cancel_all_tasks.
void cancel_all_tasks(EventLoop& loop) {
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
}

}  // namespace

std::unique_ptr<EventLoop> new_event_loop(std::unique_ptr<selectors::Selector> selector) {
  return std::make_unique<EventLoop>(std::move(selector));
}

std::unique_ptr<EventLoop> new_event_loop(IoUringOptions options) {
  return std::make_unique<EventLoop>(options);
}

EventLoop& get_event_loop() {
  if (EventLoop* running = detail::running_loop_or_null()) return *running;
  if (!current_loop) throw RuntimeError("There is no current event loop in this thread.");
  return *current_loop;
}

void set_event_loop(EventLoop* loop) noexcept { current_loop = loop; }

void detail::forget_current_loop(const EventLoop* loop) noexcept {
  if (current_loop == loop) current_loop = nullptr;
}

Coro<void> EventLoop::shutdown_asyncgens() {
  // Python closes them all concurrently with aclose(); here one after the other, each with
  // aclose(), so that its cleanup runs (and may await). Always the first of the list: closing
  // one may destroy others (which unlink themselves).
  while (detail::ListHook* hook = scheduler_.asyncgens().front()) {
    auto* generator = static_cast<detail::AsyncGenHook*>(hook);
    generator->unlink();
    std::exception_ptr error;
    try {
      co_await generator->close(generator);
    } catch (const CancelledError&) {
      // The shutdown itself was cancelled: it ends. A generator's own CancelledError is not
      // reported, as in Python (not an Exception), and the others still get closed.
      if (current_task().cancelling() > 0) throw;
    } catch (...) {
      error = std::current_exception();
    }
    if (error) {
      call_exception_handler(
          {"an error occurred during closing of asynchronous generator", error, {}});
    }
  }
}

EventLoop& Runner::get_loop() {
  if (state_ == State::closed) throw RuntimeError("Runner is closed");
  if (state_ == State::created) {
    if (options_.loop_factory) {
      loop_ = options_.loop_factory();
      if (!loop_) throw std::invalid_argument("Runner: the loop factory gave no loop");
    } else {
      loop_ = options_.single_thread && detail::io_uring_asked_by_environment()
                  ? new_event_loop(IoUringOptions{.single_thread = true})
                  : new_event_loop();
      set_event_loop(loop_.get());
    }
    if (options_.debug) loop_->set_debug(*options_.debug);
    context_ = copy_context();
    state_ = State::initialized;
  }
  return *loop_;
}

void Runner::close() noexcept {
  if (state_ != State::initialized) return;
  detail::shutdown_run(*loop_, options_.executor_shutdown_timeout);
  if (!options_.loop_factory) set_event_loop(nullptr);  // the runner made it current
  state_ = State::closed;
}

namespace detail {

void check_no_running_loop(const char* caller) {
  if (running_loop_or_null()) {
    throw RuntimeError(std::string(caller) + " cannot be called from a running event loop");
  }
}

void shutdown_run(EventLoop& loop, Clock::duration executor_timeout) noexcept {
  // Each step runs even when the one before failed, as Python's Runner.close does.
  auto step = [&loop](const char* what, auto&& body) {
    try {
      body();
    } catch (...) {
      loop.call_exception_handler({what, std::current_exception(), {}});
    }
  };
  step("error while cancelling tasks during asyncio.run() shutdown",
       [&] { cancel_all_tasks(loop); });
  step("error while closing asynchronous generators during asyncio.run() shutdown",
       [&] { loop.run_until_complete(loop.shutdown_asyncgens()); });
  step("error while shutting down the default executor during asyncio.run() shutdown",
       [&] { loop.run_until_complete(loop.shutdown_default_executor(executor_timeout)); });
  step("error while closing the loop", [&] { loop.close(); });
}

SigintCancelsMain::SigintCancelsMain(EventLoop& loop, TaskRef main) : loop_(loop) {
  // Python's Runner takes Ctrl-C only on the main thread: a run() on another thread leaves the
  // process-wide disposition to the main thread's program.
  if (::gettid() != ::getpid()) return;
  if (!SignalHandlers::has_default_disposition(SIGINT)) return;
  try {
    loop.add_signal_handler(SIGINT, [this, main]() mutable {
      // Python's Runner._on_sigint; the second SIGINT meets the default disposition.
      loop_.remove_signal_handler(SIGINT);
      installed_ = false;
      if (main.done()) return;
      interrupted_ = true;
      main.cancel();
    });
    installed_ = true;
  } catch (const RuntimeError&) {  // another loop handles SIGINT: it is theirs
  }
}

SigintCancelsMain::~SigintCancelsMain() {
  if (installed_) loop_.remove_signal_handler(SIGINT);
}

}  // namespace detail

}  // namespace asyncio
