// asyncio::EventLoop: runs callbacks, timers and tasks on one thread and waits on a selector for
// file descriptors to become ready, as Python's BaseEventLoop and BaseSelectorEventLoop do. One
// loop per thread; a loop is only touched from its own thread, except through
// call_soon_threadsafe.
//
// Implementation notes. The loop is the public face, with Python's method names, over three
// parts it composes (docs/design.md draws them): the Scheduler (ready queue, handle pool,
// timers, tasks; detail/scheduler.hpp), the I/O backend (detail/io_backend.hpp; the readiness
// backend on a selector) and the RemoteQueue that other threads post to. One iteration
// (run_once) is CPython's _run_once, read top to bottom: poll for I/O and collect the due
// timers, run exactly the callbacks that were ready when the run phase began, then those
// timers. Polling costs a system call, so when callbacks are already ready the poll is skipped
// unless Scheduler::poll_interval callbacks ran since the last one (or the loop is stopping); the
// due timers are collected all the same.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <source_location>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "asyncio/contextvars.hpp"
#include "asyncio/detail/callback.hpp"
#include "asyncio/detail/deadline.hpp"
#include "asyncio/detail/intrusive_list.hpp"
#include "asyncio/detail/io_backend.hpp"
#include "asyncio/detail/io_watcher.hpp"
#include "asyncio/detail/open_transports.hpp"
#include "asyncio/detail/remote_call.hpp"
#include "asyncio/detail/scheduler.hpp"
#include "asyncio/handle.hpp"
#include "asyncio/socket_address.hpp"

namespace asyncio {

template <class T>
class Coro;
template <class T>
class Future;
template <class T>
class Task;

namespace selectors {
class Selector;
}
class ThreadPoolExecutor;
namespace detail {
class FdWaiter;
class RemoteQueue;
class SignalHandlers;
class ChildWatcher;
class InspectionServer;
struct LoopThreads;
class SleepAwaiter;
class TaskBase;
}  // namespace detail

struct InspectionOptions;  // inspection.hpp
struct LoopStats;

/// What call_exception_handler receives (Python's context dict).
struct ExceptionContext {
  std::string message;           // what happened
  std::exception_ptr exception;  // the exception, if any
  std::string source;            // the future, task or callback concerned, if any
  std::string details = {};      // for a task: where it was created (debug mode), and its
                                 // call graph (call_graph.hpp) when the report was made
};

using ExceptionHandler = std::function<void(class EventLoop&, const ExceptionContext&)>;

class TaskRef;
class TaskRequest;
class Transport;

/// create_task's keyword arguments: Python's name= and eager_start=.
struct TaskOptions {
  std::string_view name = {};  // empty: "Task-<number>"
  /// Python 3.14's eager_start. True: the coroutine runs at once, inside create_task, until it
  /// first suspends, and a coroutine that finishes then is never scheduled (only while the loop
  /// runs on this thread; otherwise the task is scheduled as usual). False: scheduled. None: the
  /// loop's task factory decides, and without one the task is scheduled.
  std::optional<bool> eager_start = std::nullopt;
  /// Python's context=: the task runs in this context itself (the pointer need only be valid
  /// during create_task). None: in a copy of the current context.
  const Context* context = nullptr;
};

/// Python's task factory (loop.set_task_factory): makes every task of a loop. It receives the
/// coroutine as a TaskRequest and the create_task options, and returns the task that
/// `coro.start(options)` made (options changed as it likes); eager_task_factory is one.
using TaskFactory = std::function<TaskRef(EventLoop& loop, TaskRequest& coro, TaskOptions options)>;

/// Asks for the io_uring backend: `EventLoop loop(asyncio::IoUringOptions{})`, or
/// `new_event_loop(asyncio::IoUringOptions{})` (ASYNCIO_SELECTOR=io_uring asks for it for every
/// loop made without a selector). Where io_uring is refused (a kernel before 5.19, a container
/// or policy that forbids it, a library built without liburing) the loop waits on epoll
/// instead, and says so once on stderr when debug mode is turned on.
struct IoUringOptions {
  unsigned entries = 256;  // submission queue entries (completions get 8 times as many)
  // The buffers the kernel receives stream sockets' bytes into, shared by the loop's
  // connections (each holds one only while its bytes are handed to its protocol). A power of
  // two; made at the first connection.
  unsigned receive_buffers = 1024;
  unsigned receive_buffer_size = 16 * 1024;
  // The loop is made, run and closed on one thread only (asyncio::run's loop is). The ring is
  // then the kernel's single-issuer kind whose completions are produced when the loop waits
  // (IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN), not at every return from a
  // system call: less CPU per operation. Run from another thread, the loop raises RuntimeError.
  // Kernels before 6.1 get the ordinary ring.
  bool single_thread = false;
};

class EventLoop {
 public:
  /// A loop on the default backend: the DefaultSelector, or what ASYNCIO_SELECTOR names
  /// (select, poll, epoll or io_uring).
  EventLoop();
  /// A loop waiting on `selector` (the default backend when null).
  explicit EventLoop(std::unique_ptr<selectors::Selector> selector);
  /// A loop on io_uring (IoUringOptions).
  explicit EventLoop(IoUringOptions options);
  /// Closes the loop if it is not closed yet. Destroying a loop while it runs (from one of its
  /// own callbacks) is a fatal error: the program is told so on stderr and aborts.
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // --- Running and stopping -----------------------------------------------------------------

  /// Runs until `coro` (wrapped in a Task) or `future` is done; returns its value or throws its
  /// exception. RuntimeError when the loop is already running or closed.
  template <class T>
  T run_until_complete(Coro<T> coro);
  template <class T>
  T run_until_complete(Future<T> future);
  /// Runs until stop() is called.
  void run_forever();
  /// Stops after the current iteration (before the next poll when called while not running).
  void stop() noexcept { stopping_ = true; }
  bool is_running() const noexcept { return running_; }
  bool is_closed() const noexcept { return closed_; }
  /// Drops pending callbacks and timers unrun, destroys tasks that are still pending (each is
  /// reported: "Task was destroyed but it is pending!"), closes the selector. RuntimeError when
  /// the loop is running; a no-op when already closed. The frames of pending tasks, and the
  /// callables of dropped callbacks, are destroyed as if the loop were running: code in their
  /// destructors may call get_running_loop() and schedule callbacks (which are dropped too).
  /// asyncio::run never gets here with tasks pending: it cancels them and lets them unwind.
  void close();
  /// Python's loop.shutdown_asyncgens(): closes every AsyncGenerator first iterated on this
  /// loop and not finished yet with aclose(), one after the other, so that their cleanup runs
  /// (and may await) while the loop still runs. What one throws, except CancelledError, goes
  /// to the exception handler. asyncio::run calls it before closing.
  Coro<void> shutdown_asyncgens();
  /// Python's loop.shutdown_default_executor(timeout): shuts the default executor down and
  /// waits for its threads on another thread, so the loop keeps running meanwhile (calls the
  /// threads post to it still run). After `timeout` it stops waiting, reports it through the
  /// exception handler, and leaves the threads to finish on their own. run_in_executor with
  /// the default executor raises RuntimeError afterwards.
  Coro<void> shutdown_default_executor(std::optional<Clock::duration> timeout = std::nullopt);

  // --- Time and callbacks --------------------------------------------------------------------

  /// The loop's monotonic clock.
  TimePoint time() const noexcept { return Clock::now(); }

  /// Schedules fn(args...) to run on a later iteration, after the callbacks already scheduled,
  /// in a copy of the current context (contextvars.hpp), or of `context` when given first
  /// (Python's context=); likewise call_later and call_at.
  template <class F, class... Args>
    requires(!std::is_same_v<std::remove_cvref_t<F>, Context>)
  Handle call_soon(F&& fn, Args&&... args) {
    return soon_in(detail::current_context, std::forward<F>(fn), std::forward<Args>(args)...);
  }
  template <class F, class... Args>
  Handle call_soon(const Context& context, F&& fn, Args&&... args) {
    return soon_in(context.data(), std::forward<F>(fn), std::forward<Args>(args)...);
  }
  /// call_soon from any thread: the callback runs on the loop's thread, on its next iteration,
  /// in the order the calls were made (per calling thread; from the loop's own thread, and
  /// before the loop runs, in order with call_soon and create_task too); a loop waiting in its
  /// selector is woken. Unlike Python's it returns no Handle (a Handle may only be used on the
  /// loop's thread). RuntimeError once the loop is closed.
  template <class F, class... Args>
  void call_soon_threadsafe(F&& fn, Args&&... args) {
    detail::pass_in_context_copy(
        detail::bind_call(std::forward<F>(fn), std::forward<Args>(args)...), [&](auto&& call) {
          using C = std::decay_t<decltype(call)>;
          post_threadsafe(new detail::RemoteCall<C>(std::forward<decltype(call)>(call)));
        });
  }
  /// Schedules fn(args...) to run `delay` from now. A delay <= 0 is due at once: it runs at the
  /// next iteration's timer phase.
  /// A delay too long for the clock (e.g. `hours::max()`) means never.
  template <class Rep, class Period, class F, class... Args>
  TimerHandle call_later(std::chrono::duration<Rep, Period> delay, F&& fn, Args&&... args) {
    return call_at(detail::deadline_after(time(), delay), std::forward<F>(fn),
                   std::forward<Args>(args)...);
  }
  /// Schedules fn(args...) to run at loop time `when`; equal deadlines run in call order.
  template <class F, class... Args>
    requires(!std::is_same_v<std::remove_cvref_t<F>, Context>)
  TimerHandle call_at(TimePoint when, F&& fn, Args&&... args) {
    return at_in(when, detail::current_context, std::forward<F>(fn), std::forward<Args>(args)...);
  }
  template <class Rep, class Period, class F, class... Args>
  TimerHandle call_later(std::chrono::duration<Rep, Period> delay, const Context& context, F&& fn,
                         Args&&... args) {
    return call_at(detail::deadline_after(time(), delay), context, std::forward<F>(fn),
                   std::forward<Args>(args)...);
  }
  template <class F, class... Args>
  TimerHandle call_at(TimePoint when, const Context& context, F&& fn, Args&&... args) {
    return at_in(when, context.data(), std::forward<F>(fn), std::forward<Args>(args)...);
  }

  // --- Watching file descriptors (Python's add_reader family) ---------------------------------
  // Each of these, and the sock_* coroutines below, raise RuntimeError("File descriptor N is
  // used by transport") for an fd an open transport uses, as Python's do.

  /// Calls fn(args...) each time fd is readable (or hung up, or in error), until
  /// remove_reader(fd); replaces the fd's reader if it has one. Errors registering fd with the
  /// selector (std::system_error, std::invalid_argument) are thrown here.
  template <class F, class... Args>
  void add_reader(int fd, F&& fn, Args&&... args) {
    add_io_callback(fd, detail::IoBackend::reader, std::forward<F>(fn),
                    std::forward<Args>(args)...);
  }
  /// Stops calling fd's reader; returns whether there was one. A task waiting in
  /// wait_readable(fd) is woken instead.
  bool remove_reader(int fd) { return remove_watcher(fd, detail::IoBackend::reader); }
  /// Calls fn(args...) each time fd is writable (or hung up, or in error), until remove_writer.
  template <class F, class... Args>
  void add_writer(int fd, F&& fn, Args&&... args) {
    add_io_callback(fd, detail::IoBackend::writer, std::forward<F>(fn),
                    std::forward<Args>(args)...);
  }
  bool remove_writer(int fd) { return remove_watcher(fd, detail::IoBackend::writer); }
  /// `co_await loop.wait_readable(fd)`: suspends the task until fd is readable, hung up or in
  /// error. RuntimeError when fd already has a reader. A task cancelled while waiting leaves
  /// the fd unwatched.
  detail::FdWaiter wait_readable(int fd);
  /// `co_await loop.wait_writable(fd)`: the same for writability.
  detail::FdWaiter wait_writable(int fd);

  // --- Unix signals (Python's add_signal_handler; src/unix/signal_handlers.cpp) --------------

  /// Calls fn(args...) on this loop, as an ordinary callback (never inside the C signal
  /// handler), when signal `sig` arrives, on whichever thread receives it; replaces the
  /// signal's handler if it has one. A burst of one signal may give one call. Works on a loop
  /// on any thread, but a signal has one handling loop in the process: RuntimeError when
  /// another open loop handles `sig`, when this one is closed, and for a signal that cannot be
  /// caught (SIGKILL, SIGSTOP, one the C library keeps). std::invalid_argument for a number out
  /// of range.
  /// fn runs in a copy of the context current here, as Python's Handle.
  template <class F, class... Args>
  void add_signal_handler(int sig, F&& fn, Args&&... args) {
    detail::pass_in_context_copy(
        detail::bind_call(std::forward<F>(fn), std::forward<Args>(args)...), [&](auto&& call) {
          auto shared =
              std::make_shared<std::decay_t<decltype(call)>>(std::forward<decltype(call)>(call));
          set_signal_handler(sig, std::make_shared<const std::function<void()>>(
                                      [shared = std::move(shared)] { (*shared)(); }));
        });
  }
  /// Removes the handler of `sig` and puts back the disposition the signal had before this
  /// loop handled it; returns whether there was one. A call already scheduled for it does not
  /// run. close() removes every handler. std::invalid_argument for a number out of range.
  bool remove_signal_handler(int sig);

  // --- Socket operations (Python's loop.sock_*) ----------------------------------------------
  // On non-blocking sockets. Each tries the system call first and waits for readiness only
  // when it would block. OS errors throw std::system_error carrying errno. Data is bytes in a
  // std::string (Python's bytes). None of them ever raises SIGPIPE.

  /// Accepts a connection: the new socket (non-blocking, close-on-exec) and the peer's address.
  Coro<std::pair<int, SocketAddress>> sock_accept(int fd);
  /// Connects fd to `address`, waiting for the connection to complete.
  Coro<void> sock_connect(int fd, SocketAddress address);
  /// Receives up to `max_bytes` bytes; an empty string means the peer closed the connection.
  Coro<std::string> sock_recv(int fd, std::size_t max_bytes);
  /// Receives into `buffer`; returns the number of bytes (0 at end of stream).
  Coro<std::size_t> sock_recv_into(int fd, std::span<std::byte> buffer);
  /// Sends all of `data` (it must outlive the call). Works on pipes too, with EPIPE instead of
  /// SIGPIPE when the reader has gone.
  Coro<void> sock_sendall(int fd, std::string_view data);
  /// Receives one datagram of up to `max_bytes` bytes and its sender.
  Coro<std::pair<std::string, SocketAddress>> sock_recvfrom(int fd, std::size_t max_bytes);
  /// Sends one datagram to `address`; returns the number of bytes sent.
  Coro<std::size_t> sock_sendto(int fd, std::string_view data, SocketAddress address);
  /// Receives one datagram into `buffer` (the rest of a longer one is dropped): its size and
  /// its sender. `buffer` must outlive the call.
  Coro<std::pair<std::size_t, SocketAddress>> sock_recvfrom_into(int fd, std::span<char> buffer);
  /// Python's sock_sendfile: sends `file` (an fd) from `offset`, `count` bytes or up to its
  /// end, over the connected stream socket `fd` with sendfile(2); when that cannot send this
  /// file, reads and sends it instead (unless `fallback` is false: SendfileNotAvailableError).
  /// Returns the bytes sent, fewer than `count` when the file ends first; the file's offset is
  /// left after them. std::invalid_argument for a negative offset or a count of 0.
  Coro<std::size_t> sock_sendfile(int fd, int file, std::int64_t offset = 0,
                                  std::optional<std::size_t> count = std::nullopt,
                                  bool fallback = true);
  /// Python's loop.sendfile: sock_sendfile over a transport's connection (connections.hpp):
  /// waits until its write buffer is flushed, pauses its reading meanwhile; write() raises
  /// RuntimeError until it is done. RuntimeError when the transport is closing. Over TLS, where
  /// sendfile(2) cannot go, the file is read and written through the transport, waiting while
  /// its buffer is over the high-water mark (Python's fallback); SendfileNotAvailableError then
  /// unless `fallback`.
  Coro<std::size_t> sendfile(std::shared_ptr<Transport> transport, int file,
                             std::int64_t offset = 0,
                             std::optional<std::size_t> count = std::nullopt, bool fallback = true);

  // --- Futures and tasks ---------------------------------------------------------------------

  /// A new pending Future attached to this loop.
  template <class T = void>
  Future<T> create_future();
  /// Wraps `coro` in a Task whose first step runs on a later iteration (or at once: see
  /// TaskOptions::eager_start). With a task factory set, the factory makes it.
  /// In debug mode the task remembers `where` it was created, for the reports that name it.
  template <class T>
  Task<T> create_task(Coro<T> coro, TaskOptions options,
                      std::source_location where = std::source_location::current());
  template <class T>
  Task<T> create_task(Coro<T> coro, std::string_view name = {},
                      std::source_location where = std::source_location::current()) {
    return create_task(std::move(coro), TaskOptions{.name = name}, where);
  }
  /// Python's set_task_factory / get_task_factory; an empty factory restores the default.
  void set_task_factory(TaskFactory factory) { task_factory_ = std::move(factory); }
  const TaskFactory& get_task_factory() const noexcept { return task_factory_; }

  // --- Errors and debugging ------------------------------------------------------------------

  /// Replaces the handler that receives errors nobody else can (null restores the default).
  void set_exception_handler(ExceptionHandler handler) { exception_handler_ = std::move(handler); }
  const ExceptionHandler& get_exception_handler() const noexcept { return exception_handler_; }
  /// Passes `context` to the handler; a handler that throws falls back to the default one.
  void call_exception_handler(const ExceptionContext& context) noexcept;
  /// Writes `context` to stderr.
  void default_exception_handler(const ExceptionContext& context) noexcept;
  /// Debug mode: callbacks slower than slow_callback_duration are reported through the
  /// exception handler (message "Executing ... took N seconds", no exception); and while the
  /// loop runs, calling its methods (call_soon, call_later, call_at, add_reader and the like,
  /// create_future, create_task, run_in_executor) or touching its futures and tasks (result,
  /// exception, set_result, set_exception, cancel, add/remove_done_callback) from another
  /// thread raises RuntimeError, as Python's debug mode does. Outside debug mode these checks
  /// cost one test of a flag. A loop starts in debug mode when the environment variable
  /// ASYNCIO_DEBUG is set to a non-empty value (Python's PYTHONASYNCIODEBUG).
  void set_debug(bool enabled) noexcept;
  bool get_debug() const noexcept { return scheduler_.debug(); }
  void set_slow_callback_duration(Clock::duration d) noexcept {
    scheduler_.set_slow_callback_duration(d);
  }
  Clock::duration slow_callback_duration() const noexcept {
    return scheduler_.slow_callback_duration();
  }

  /// Debug mode only: RuntimeError when called, while the loop runs, from a thread other than
  /// the loop's.
  void check_thread() const { scheduler_.check_thread(); }
  /// RuntimeError("Event loop is closed") once the loop is closed.
  void check_open() const {
    if (closed_) detail::throw_loop_closed();
  }

  /// Busy polling (not in Python; Linux's SO_BUSY_POLL for a whole loop): when the loop would
  /// wait in its selector, it first spins for up to `d`, watching for calls from other threads
  /// (call_soon_threadsafe, Channel and run_on wake-ups) and, every few microseconds, for I/O
  /// without waiting. A loop woken from other threads then reacts in well under a microsecond
  /// instead of paying the kernel's wake-up of a sleeping thread, at the price of a core kept
  /// busy for `d` after its last event. 0 (the default) turns it off.
  void set_busy_poll(std::chrono::nanoseconds d) noexcept { busy_poll_ = d; }
  std::chrono::nanoseconds busy_poll() const noexcept { return busy_poll_; }

  /// Inspection (inspection.hpp): listens on a Unix socket that only this user can use and
  /// answers the asyncio-ps and asyncio-pstree tools with a dump of every task, sliced so
  /// that the loop is never held for long; dumps them to stderr on options.dump_signal
  /// (SIGUSR1 by default); and times each callback and task step, as debug mode does, for the
  /// dumps' idle times and stats().longest_callback. Setting the environment variable
  /// ASYNCIO_INSPECT=1 enables it, with the default options, on every loop made afterwards
  /// (the signal only on the first that can take it). std::system_error when the socket
  /// cannot be made; RuntimeError when the signal is another loop's; enabling it again
  /// replaces it.
  void enable_inspection();
  void enable_inspection(const InspectionOptions& options);
  void disable_inspection() noexcept;
  /// The inspection socket's path; empty when inspection is off.
  std::string inspection_path() const;
  /// The loop's counters (LoopStats, inspection.hpp).
  LoopStats stats() const;

  /// The selector the loop waits on; RuntimeError for a loop on io_uring, which has none.
  selectors::Selector& selector();
  /// What the loop waits on: "epoll", "poll", "select", "io_uring" (or "selector" for a
  /// selector the program made).
  std::string_view backend_name() const noexcept { return io_->name(); }

  /// How many callbacks may run between two polls for I/O while callbacks keep being ready.
  static constexpr unsigned poll_interval = detail::Scheduler::poll_interval;

  // --- The loop's parts, for the library's futures, tasks, transports and servers ------------

  detail::Scheduler& scheduler() noexcept { return scheduler_; }
  /// The I/O backend; watchers may be added through it only while the loop is open.
  detail::IoBackend& io_backend() noexcept { return *io_; }
  /// The watch over the child processes this loop started (made on first use).
  detail::ChildWatcher& child_watcher();
  /// The transports whose connection is open (each links itself in with a detail::LoopLink):
  /// close() aborts them, and their protocols see connection_lost, before anything else is
  /// torn down; add_reader and the like refuse the fds they use.
  detail::OpenTransports& open_transports() noexcept { return open_transports_; }

  // --- Threads (Python's run_in_executor; threads.hpp, src/threads/threads.cpp) --------------

  /// Runs fn(args...) on `executor`, or on the loop's default executor when null (made on first
  /// use; close() shuts it down and joins its threads), and returns a Future of its result on
  /// this loop. Cancelling the Future cancels the call if it has not started. fn and the
  /// arguments are moved or copied in, as std::thread does.
  template <class F, class... Args>
  Future<std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>> run_in_executor(
      ThreadPoolExecutor* executor, F&& fn, Args&&... args);
  /// Makes `executor` the default executor. The previous one stops accepting calls; close()
  /// joins its threads.
  void set_default_executor(std::unique_ptr<ThreadPoolExecutor> executor);

 private:
  /// A node holding fn(args...), to run in a copy of `context`'s values (null: none).
  template <class F, class... Args>
  detail::HandleNode* new_handle(detail::ContextData* context, F&& fn, Args&&... args) {
    check_open();
    detail::CallbackNode* node = scheduler_.acquire_node();
    try {
      detail::pass_in_context(
          context, detail::bind_call(std::forward<F>(fn), std::forward<Args>(args)...),
          [node](auto&& call) { node->emplace(std::forward<decltype(call)>(call)); });
    } catch (...) {
      scheduler_.release_node(node);
      throw;
    }
    return node;
  }

  template <class F, class... Args>
  void add_io_callback(int fd, int direction, F&& fn, Args&&... args) {
    check_open();
    check_thread();
    check_fd_not_in_transport(fd);
    // It runs in a copy of the current context.
    detail::pass_in_context(
        detail::current_context,
        detail::bind_call(std::forward<F>(fn), std::forward<Args>(args)...), [&](auto&& call) {
          using C = std::decay_t<decltype(call)>;
          auto watcher =
              std::make_unique<detail::IoCallback<C>>(std::forward<decltype(call)>(call));
          io_->add_watcher(fd, direction, watcher.get(), true);
          watcher.release();  // now owned by the backend
        });
  }
  template <class F, class... Args>
  Handle soon_in(detail::ContextData* context, F&& fn, Args&&... args) {
    check_thread();
    if (!running_) [[unlikely]]
      take_posted_calls();
    detail::HandleNode* node =
        new_handle(context, std::forward<F>(fn), std::forward<Args>(args)...);
    scheduler_.schedule_soon(node);
    return Handle(node);
  }
  /// A timer that wakes `task` (sleep()): no callable and no context to store (the task's step
  /// enters its own). The task then waits on the node itself.
  friend class detail::SleepAwaiter;
  detail::WakeNode* wake_task_at(TimePoint when, detail::TaskBase* task) {
    check_open();
    check_thread();
    detail::WakeNode* node = scheduler_.acquire_wake_node();
    node->set_task(task);
    scheduler_.schedule_timer(node, when);
    return node;
  }
  template <class F, class... Args>
  TimerHandle at_in(TimePoint when, detail::ContextData* context, F&& fn, Args&&... args) {
    check_thread();
    detail::HandleNode* node =
        new_handle(context, std::forward<F>(fn), std::forward<Args>(args)...);
    scheduler_.schedule_timer(node, when);
    return TimerHandle(node, when);
  }
  bool remove_watcher(int fd, int direction);
  /// Python's _ensure_fd_no_transport: RuntimeError when an open transport uses `fd` (watching
  /// it, or reading and writing it, would take the fd from under the transport).
  void check_fd_not_in_transport(int fd) const {
    if (open_transports_.uses(fd)) [[unlikely]]
      detail::throw_fd_in_transport(fd);
  }
  void set_signal_handler(int sig, std::shared_ptr<const std::function<void()>> handler);
  /// RuntimeError when the loop cannot start running: closed, running, or another loop runs.
  void check_can_run() const;
  /// The constructors' common part, once the backend is made: the wake-up fd's reader.
  void start();

  template <class T>
  Task<T> create_task_by_factory(Coro<T> coro, TaskOptions options, std::source_location where);

  // call_soon_threadsafe: hands the call to the remote queue, or discards it once closed; on
  // the loop's own thread while it runs, straight to the ready queue (Python's order).
  void post_threadsafe(detail::Callback* call);
  // Moves the calls other threads posted, if any, onto the ready queue now: at each iteration
  // that does not poll, and, before the loop runs, in call_soon and create_task, so that what
  // they add comes after them (Python has one ready queue).
  void take_posted_calls() noexcept;
  // Takes the timers due by now out of the timer queue, to run after this iteration's ready
  // callbacks: at every iteration, whether it polls or not.
  void collect_due_timers();

  void run_once();
  void poll_io_and_timers();
  /// Busy polling: spins for at most `limit` until a call from another thread or I/O is
  /// there; returns whether the loop has work now.
  bool spin_for_work(std::chrono::nanoseconds limit);
  /// ASYNCIO_INSPECT=1: enable_inspection(), reporting a failure instead of throwing it.
  void enable_inspection_from_environment() noexcept;
  void drop_callbacks() noexcept;

  detail::Scheduler scheduler_{*this};
  std::string io_fallback_;  // why io_uring was asked for and not used (said in debug mode)
  std::unique_ptr<detail::IoBackend> io_;
  std::unique_ptr<detail::RemoteQueue> remote_;
  std::unique_ptr<detail::SignalHandlers> signals_;  // made by the first add_signal_handler
  std::unique_ptr<detail::ChildWatcher> children_;   // made by the first subprocess
  detail::OpenTransports open_transports_;
  ExceptionHandler exception_handler_;
  TaskFactory task_factory_;
  // Atomic so that other threads may ask is_running() and is_closed(), as Python programs do
  // before call_soon_threadsafe; everything else about the loop is its own thread's.
  std::atomic<bool> running_ = false;
  bool stopping_ = false;
  std::atomic<bool> closed_ = false;
  std::chrono::nanoseconds busy_poll_{0};
  std::unique_ptr<detail::InspectionServer> inspection_;
  std::uint64_t iterations_ = 0;
  Clock::duration selector_time_{};  // in io_->poll
  std::uint64_t polls_ = 0;          // calls of io_->poll
  Clock::duration run_time_{};       // in run_forever, the selector included

  // Threads (src/threads/threads.cpp): the default executor, and the futures and tasks that
  // other threads will finish or cancel. Made on first use; only the loop's thread touches it.
  friend struct detail::LoopThreads;
  void close_threads() noexcept;
  std::unique_ptr<detail::LoopThreads> threads_;
};

namespace detail {

/// The loop running on this thread, or null.
inline EventLoop* running_loop_or_null() noexcept { return running_loop.loop; }

[[noreturn]] void throw_no_running_loop();

}  // namespace detail

/// The running loop; RuntimeError("no running event loop") when none runs on this thread.
inline EventLoop& get_running_loop() {
  EventLoop* loop = detail::running_loop.loop;
  if (!loop) [[unlikely]]
    detail::throw_no_running_loop();
  return *loop;
}

}  // namespace asyncio
