// asyncio::run, asyncio::Runner, and the loop accessors: new_event_loop, get_event_loop,
// set_event_loop, get_running_loop (declared in task.hpp).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

#include "asyncio/coro.hpp"
#include "asyncio/detail/loop_bound.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/task.hpp"

namespace asyncio {

/// A new loop (waiting on `selector`, or the DefaultSelector).
std::unique_ptr<EventLoop> new_event_loop(std::unique_ptr<selectors::Selector> selector = nullptr);
/// A new loop on io_uring (or epoll where io_uring is refused: IoUringOptions).
std::unique_ptr<EventLoop> new_event_loop(IoUringOptions options);

/// The running loop if there is one, else the loop given to set_event_loop on this thread.
/// RuntimeError when there is neither (Python 3.14's behaviour; 3.12 would make a loop).
EventLoop& get_event_loop();

/// Makes `loop` this thread's current loop (null clears it). The caller keeps ownership; a
/// loop destroyed on this thread stops being its current loop (get_event_loop() then throws
/// rather than give freed memory). One destroyed on another thread must be cleared here first.
void set_event_loop(EventLoop* loop) noexcept;

namespace detail {
/// ~EventLoop: `loop` is no longer this thread's current loop, if it was.
void forget_current_loop(const EventLoop* loop) noexcept;
}  // namespace detail

/// What asyncio::run may be told (Python's asyncio.run(main, debug=...)).
struct RunOptions {
  /// The loop's debug mode (EventLoop::set_debug), when given; else the loop's default (on when
  /// ASYNCIO_DEBUG is set), as Python's debug=None.
  std::optional<bool> debug{};
  /// How long the shutdown waits for the default executor's threads to finish their calls
  /// (Python's constants.THREAD_JOIN_TIMEOUT); after that they are left to finish on their own.
  Clock::duration executor_shutdown_timeout = std::chrono::seconds(300);
};

namespace detail {
/// RuntimeError when a loop is running on this thread.
void check_no_running_loop(const char* caller);
/// asyncio.run's shutdown, in Python's order, while the loop still runs: cancel every
/// unfinished task and run the loop until they are all done (those that failed with something
/// else than CancelledError are reported), close the async generators, shut the default
/// executor down (waiting at most `executor_timeout`); then close the loop. Errors are
/// reported through the loop's exception handler.
void shutdown_run(EventLoop& loop, Clock::duration executor_timeout) noexcept;

/// Python 3.11's Runner and Ctrl-C: while it lives, the first SIGINT cancels `main` and puts
/// SIGINT's default disposition back, so a second one ends the process as if nothing handled
/// it. Installed only on the process's main thread, when SIGINT has its default disposition and
/// no other loop handles it.
class SigintCancelsMain {
 public:
  SigintCancelsMain(EventLoop& loop, TaskRef main);
  ~SigintCancelsMain();
  SigintCancelsMain(const SigintCancelsMain&) = delete;
  SigintCancelsMain& operator=(const SigintCancelsMain&) = delete;
  /// A SIGINT arrived and cancelled the main task.
  bool interrupted() const noexcept { return interrupted_; }

 private:
  EventLoop& loop_;
  bool installed_ = false;
  bool interrupted_ = false;
};
}  // namespace detail

/// What a Runner is made with (Python's Runner(debug=None, loop_factory=None)).
struct RunnerOptions {
  /// The loop's debug mode, when given; else the loop's own default.
  std::optional<bool> debug{};
  /// Makes the loop. Unset: new_event_loop(), which the runner also makes the thread's
  /// current loop (set_event_loop) until it closes, as Python's.
  std::function<std::unique_ptr<EventLoop>()> loop_factory{};
  /// How long close() waits for the default executor's threads (RunOptions' member).
  Clock::duration executor_shutdown_timeout = std::chrono::seconds(300);
  /// The runner is made, used and closed on one thread only (asyncio::run's is): the loop it
  /// makes on io_uring (ASYNCIO_SELECTOR=io_uring) is then a single-thread one
  /// (IoUringOptions::single_thread). Without a loop_factory only.
  bool single_thread = false;
};

/// Python 3.11's asyncio.Runner: a loop made on first use, on which run() runs coroutines one
/// after another (tasks left by one run go on in the next), shut down as asyncio::run's is
/// (detail::shutdown_run) by close() or the destructor. The loop itself lives as long as the
/// Runner, so what refers to it (tasks, futures, streams) may be kept between runs, but not
/// past the Runner.
///
/// The runs share one context, as Python's: a copy of the thread's context taken when the loop
/// is made, which each run's main task starts from and leaves what it set in, so the next run
/// sees it.
class Runner {
 public:
  explicit Runner(RunnerOptions options = {}) noexcept : options_(std::move(options)) {}
  ~Runner() { close(); }
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  /// Runs `coro` on the loop until it is done and returns its value or throws its exception,
  /// with asyncio::run's Ctrl-C handling; in the runner's context (see above).
  /// RuntimeError("Runner.run() cannot be called from a running event loop"), or "Runner is
  /// closed".
  template <class T>
  T run(Coro<T> coro);
  /// Python 3.11's run(coro, context=context): the task runs in `context` itself.
  template <class T>
  T run(Coro<T> coro, const Context& context);
  /// The loop, made now if not yet. RuntimeError("Runner is closed") once closed.
  EventLoop& get_loop();
  /// Shuts the loop down and closes it; nothing when the loop was never made or is closed
  /// already. run() and get_loop() raise RuntimeError afterwards.
  void close() noexcept;

 private:
  /// Runs `task`, the run's main task, until it is done.
  template <class T>
  T run_main(Task<T>& task);

  enum class State { created, initialized, closed };
  RunnerOptions options_;
  std::unique_ptr<EventLoop> loop_;
  std::optional<Context> context_;  // the runs' values; made with the loop
  State state_ = State::created;    // a loop is made (and, without loop_factory, set current)
};

template <class T>
T Runner::run(Coro<T> coro) {
  detail::check_no_running_loop("Runner.run()");
  EventLoop& loop = get_loop();
  // The task starts from a copy of the runner's values, not in the Context itself (a task
  // sharing a Context takes a slower step), and its values are the runner's once it ends.
  Task<T> task = context_->run([&] { return loop.create_task(std::move(coro)); });
  struct KeepValues {
    std::optional<Context>& context;
    const Task<T>& task;
    ~KeepValues() { context = task.get_context(); }
  } keep{context_, task};
  return run_main(task);
}

template <class T>
T Runner::run(Coro<T> coro, const Context& context) {
  detail::check_no_running_loop("Runner.run()");
  EventLoop& loop = get_loop();
  Task<T> task = loop.create_task(std::move(coro), {.context = &context});
  return run_main(task);
}

template <class T>
T Runner::run_main(Task<T>& task) {
  detail::SigintCancelsMain sigint(*loop_, TaskRef::from_state(task.state()));
  try {
    return loop_->run_until_complete(Future<T>(task));
  } catch (const CancelledError&) {
    if (sigint.interrupted() && task.uncancel() == 0) throw KeyboardInterrupt();
    throw;
  }
}

/// Runs `main` on a new loop and returns its value: Python's asyncio.run, on a Runner. When it
/// is done (returned or threw), the loop is shut down as Python's does (detail::shutdown_run)
/// and closed. RuntimeError when called from a running loop.
///
/// Ctrl-C, as in Python 3.11: when SIGINT has its default disposition, the first SIGINT
/// cancels `main` (its `catch`/destructors and TaskGroups unwind), and once `main` has ended
/// by that cancellation run throws KeyboardInterrupt, after the shutdown. A second SIGINT ends
/// the process at once, by the default disposition. To end as a Python program does (killed by
/// SIGINT, exit status 130 in a shell), catch it in main():
///
///     try { asyncio::run(main()); }
///     catch (const asyncio::KeyboardInterrupt&) { std::signal(SIGINT, SIG_DFL);
///     std::raise(SIGINT); }
///
/// The value must not refer to the loop, which is gone when run returns: a Task, Future,
/// TaskRef, Handle, stream, server or async generator (or a container of them) is refused at
/// compile time. Return what they hold instead, or run a loop of your own (new_event_loop and
/// run_until_complete) that outlives them.
template <class T>
T run(Coro<T> main, RunOptions options = {}) {
  static_assert(
      !detail::loop_bound<T>,
      "asyncio::run(main): main's result refers to the loop that run() creates and destroys "
      "before returning (a Task, Future, TaskRef, Handle, stream, server or async generator); "
      "return the value it holds instead, or use a loop of your own with run_until_complete");
  detail::check_no_running_loop("asyncio::run()");
  Runner runner({.debug = options.debug,
                 .executor_shutdown_timeout = options.executor_shutdown_timeout,
                 .single_thread = true});
  return runner.run(std::move(main));
}

template <class T>
T run(Coro<T> main, bool debug) {
  return run(std::move(main), RunOptions{.debug = debug});
}

}  // namespace asyncio
