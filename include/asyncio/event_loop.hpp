// asyncio::EventLoop: runs callbacks, timers and tasks on one thread and waits on a selector for
// file descriptors to become ready, as Python's BaseEventLoop and BaseSelectorEventLoop do. One
// loop per thread; a loop is only touched from its own thread, except through
// call_soon_threadsafe.
//
// Implementation notes. One iteration (run_once) is CPython's _run_once: poll the selector,
// take the due timers out of the timer queue, then run exactly the callbacks that were ready
// when the run phase began, followed by those timers. Polling costs a syscall, so when
// callbacks are already ready the poll (and the clock read) is skipped unless `poll_interval`
// callbacks ran since the last one: a busy loop still sees I/O and timers at least every 61
// callbacks (Tokio's event_interval).
// call_soon/call_later nodes come from a pool owned by the loop, so scheduling allocates nothing
// once the pool is warm.
//
// Watching fds. The callbacks of ready fds run as the poll returns them (libuv's way), not
// through the ready queue. Changes to what an fd is watched for are applied to the selector
// just before the next poll, so a task that stops and starts waiting on one fd between two
// polls costs no system call. Since the fd might have been closed and its number reused
// meanwhile (epoll then no longer knows it), the loop does not block while such an fd is
// unverified, and re-arms it with the kernel unless an event for it arrives within two polls
// (check_unverified_fds). A watcher added while a batch
// of events is dispatched is not woken by that batch: it cannot get an event meant for the
// fd's previous owner.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "asyncio/detail/callback.hpp"
#include "asyncio/detail/deadline.hpp"
#include "asyncio/detail/intrusive_list.hpp"
#include "asyncio/detail/io_watcher.hpp"
#include "asyncio/detail/remote_call.hpp"
#include "asyncio/detail/task_registry.hpp"
#include "asyncio/detail/timer_queue.hpp"
#include "asyncio/handle.hpp"
#include "asyncio/selectors.hpp"
#include "asyncio/socket_address.hpp"

namespace asyncio {

template <class T>
class Coro;
template <class T>
class Future;
template <class T>
class Task;

namespace detail {
class TaskBase;
class FdWaiter;
struct LoopAccess;

/// What a task rarely needs, kept by its loop beside it rather than in every task: the name
/// given to set_name() (or one whose number does not fit in the task), and a cancel request
/// count of 0xFFFF or more.
struct TaskExtras {
  std::optional<std::string> name;  // none: "Task-<number>"
  std::uint32_t cancels = 0;        // meaningful while the task's own count says 0xFFFF
};
}  // namespace detail

class ThreadPoolExecutor;
namespace detail {
struct LoopThreads;
}

/// What call_exception_handler receives (Python's context dict).
struct ExceptionContext {
  std::string message;           // what happened
  std::exception_ptr exception;  // the exception, if any
  std::string source;            // the future, task or callback concerned, if any
};

using ExceptionHandler = std::function<void(class EventLoop&, const ExceptionContext&)>;

class EventLoop {
 public:
  /// A loop waiting on `selector` (the DefaultSelector when null).
  explicit EventLoop(std::unique_ptr<selectors::Selector> selector = nullptr);
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
  /// loop and not finished yet (its frame is destroyed, as aclose() does), so that their
  /// destructors run while the loop still runs. asyncio::run calls it before closing.
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

  /// Schedules fn(args...) to run on a later iteration, after the callbacks already scheduled.
  template <class F, class... Args>
  Handle call_soon(F&& fn, Args&&... args) {
    check_thread();
    detail::HandleNode* node = new_handle(std::forward<F>(fn), std::forward<Args>(args)...);
    node->state_ = detail::HandleNode::State::ready;
    ready_.push(node);
    return Handle(node);
  }
  /// call_soon from any thread: the callback runs on the loop's thread, on its next iteration,
  /// in the order the calls were made (per calling thread); a loop waiting in its selector is
  /// woken. Unlike Python's it returns no Handle (a Handle may only be used on the loop's
  /// thread). RuntimeError once the loop is closed.
  template <class F, class... Args>
  void call_soon_threadsafe(F&& fn, Args&&... args) {
    auto call = detail::bind_call(std::forward<F>(fn), std::forward<Args>(args)...);
    post_threadsafe(new detail::RemoteCall<decltype(call)>(std::move(call)));
  }
  /// Schedules fn(args...) to run `delay` from now. A delay <= 0 is due at once: it runs at the
  /// next timer phase (at the latest `poll_interval` callbacks later while others keep running).
  /// A delay too long for the clock (e.g. `hours::max()`) means never.
  template <class Rep, class Period, class F, class... Args>
  TimerHandle call_later(std::chrono::duration<Rep, Period> delay, F&& fn, Args&&... args) {
    return call_at(detail::deadline_after(time(), delay), std::forward<F>(fn), std::forward<Args>(args)...);
  }
  /// Schedules fn(args...) to run at loop time `when`; equal deadlines run in call order.
  template <class F, class... Args>
  TimerHandle call_at(TimePoint when, F&& fn, Args&&... args) {
    check_thread();
    detail::HandleNode* node = new_handle(std::forward<F>(fn), std::forward<Args>(args)...);
    schedule_timer(node, when);
    return TimerHandle(node, when);
  }

  // --- Watching file descriptors (Python's add_reader family) ---------------------------------

  /// Calls fn(args...) each time fd is readable (or hung up, or in error), until
  /// remove_reader(fd); replaces the fd's reader if it has one. Errors registering fd with the
  /// selector (std::system_error, std::invalid_argument) are thrown here.
  template <class F, class... Args>
  void add_reader(int fd, F&& fn, Args&&... args) {
    add_io_callback(fd, reader, std::forward<F>(fn), std::forward<Args>(args)...);
  }
  /// Stops calling fd's reader; returns whether there was one. A task waiting in
  /// wait_readable(fd) is woken instead.
  bool remove_reader(int fd) { return remove_watcher(fd, reader); }
  /// Calls fn(args...) each time fd is writable (or hung up, or in error), until remove_writer.
  template <class F, class... Args>
  void add_writer(int fd, F&& fn, Args&&... args) {
    add_io_callback(fd, writer, std::forward<F>(fn), std::forward<Args>(args)...);
  }
  bool remove_writer(int fd) { return remove_watcher(fd, writer); }
  /// `co_await loop.wait_readable(fd)`: suspends the task until fd is readable, hung up or in
  /// error. RuntimeError when fd already has a reader. A task cancelled while waiting leaves
  /// the fd unwatched.
  detail::FdWaiter wait_readable(int fd);
  /// `co_await loop.wait_writable(fd)`: the same for writability.
  detail::FdWaiter wait_writable(int fd);

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

  // --- Futures and tasks ---------------------------------------------------------------------

  /// A new pending Future attached to this loop.
  template <class T = void>
  Future<T> create_future();
  /// Wraps `coro` in a Task whose first step runs on a later iteration.
  template <class T>
  Task<T> create_task(Coro<T> coro, std::string_view name = {});

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
  /// cost one test of a flag.
  void set_debug(bool enabled) noexcept { debug_ = enabled; }
  bool get_debug() const noexcept { return debug_; }
  void set_slow_callback_duration(Clock::duration d) noexcept { slow_callback_duration_ = d; }
  Clock::duration slow_callback_duration() const noexcept { return slow_callback_duration_; }

  /// Debug mode only: RuntimeError when called, while the loop runs, from a thread other than
  /// the loop's.
  void check_thread() const {
    if (debug_) [[unlikely]] check_thread_slow();
  }

  /// The selector the loop waits on.
  selectors::Selector& selector() noexcept { return *selector_; }

  /// How many callbacks may run between two polls of the selector while callbacks keep
  /// being ready.
  static constexpr unsigned poll_interval = 61;

  // --- Threads (Python's run_in_executor; threads.hpp, src/threads.cpp) ----------------------

  /// Runs fn(args...) on `executor`, or on the loop's default executor when null (made on first
  /// use; close() shuts it down and joins its threads), and returns a Future of its result on
  /// this loop. Cancelling the Future cancels the call if it has not started. fn and the
  /// arguments are moved or copied in, as std::thread does.
  template <class F, class... Args>
  Future<std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>> run_in_executor(ThreadPoolExecutor* executor,
                                                                                      F&& fn, Args&&... args);
  /// Makes `executor` the default executor. The previous one stops accepting calls; close()
  /// joins its threads.
  void set_default_executor(std::unique_ptr<ThreadPoolExecutor> executor);

 private:
  friend struct detail::LoopAccess;
  friend class Handle;
  friend struct detail::HandleNode;

  template <class F, class... Args>
  detail::HandleNode* new_handle(F&& fn, Args&&... args) {
    check_open();
    detail::HandleNode* node = acquire_node();
    try {
      node->emplace(detail::bind_call(std::forward<F>(fn), std::forward<Args>(args)...));
    } catch (...) {
      release_node(node);
      throw;
    }
    return node;
  }

  void check_open() const {
    if (closed_) throw_closed();
  }
  [[noreturn]] static void throw_closed();
  void check_thread_slow() const;

  detail::HandleNode* acquire_node() {
    if (!free_nodes_) grow_pool();
    auto* node = static_cast<detail::HandleNode*>(free_nodes_);
    free_nodes_ = node->next_;
    node->next_ = nullptr;
    return node;
  }
  void release_node(detail::HandleNode* node) noexcept {
    node->generation_ = (node->generation_ + 1) & detail::HandleNode::generation_mask;
    node->state_ = detail::HandleNode::State::free;
    node->cancelled_ = false;
    node->op_ = nullptr;
    node->next_ = free_nodes_;
    free_nodes_ = node;
  }
  void grow_pool();
  void schedule_timer(detail::HandleNode* node, TimePoint when);
  void cancel_handle(detail::HandleNode* node) noexcept;

  // fd watching. Direction: the index of a watcher in FdWatch::watchers.
  static constexpr int reader = 0, writer = 1;
  template <class F, class... Args>
  void add_io_callback(int fd, int direction, F&& fn, Args&&... args) {
    check_open();
    check_thread();
    auto call = detail::bind_call(std::forward<F>(fn), std::forward<Args>(args)...);
    auto watcher = std::make_unique<detail::IoCallback<decltype(call)>>(std::move(call));
    add_watcher(fd, direction, watcher.get(), true);
    watcher.release();  // now owned by the loop
  }
  /// Installs `watcher` for fd's direction. A watcher already there is replaced when `replace`
  /// (add_reader), else it is a RuntimeError (wait_readable).
  void add_watcher(int fd, int direction, detail::IoWatcher* watcher, bool replace);
  /// Takes fd's watcher for `direction` out of the table without notifying it; null if none.
  detail::IoWatcher* detach_watcher(int fd, int direction) noexcept;
  bool remove_watcher(int fd, int direction);
  void close_fd(int fd) noexcept;
  void apply_fd_changes();
  bool check_unverified_fds();
  void fail_fd(int fd) noexcept;
  struct FdWatch;
  static void drop_watchers(FdWatch& watch) noexcept;
  void dispatch_io(const std::vector<selectors::ReadyKey>& ready);
  void notify_watcher(detail::IoWatcher* watcher, int fd);

  // call_soon_threadsafe: queues the call under the mutex and wakes the loop if needed.
  void post_threadsafe(detail::Callback* call);
  void drain_threadsafe_calls();

  void run_once();
  void poll_io_and_timers();
  void run_ready();
  void run_due_timers();
  void run_debug(detail::Callback* cb);
  void report_if_slow(TimePoint start);
  void destroy_pending_tasks() noexcept;
  void drop_callbacks() noexcept;

  // Ready callbacks, FIFO. Invariant: every node in it runs (or is discarded) exactly once.
  detail::ReadyQueue ready_;
  unsigned ticks_since_poll_ = 0;  // callbacks run since the selector was last polled

  // Timers. cancelled_timers_ counts timers cancelled since the queue was last purged of them
  // (an estimate: it only decides when to purge). due_timers_: taken out of the queue by the
  // last poll, run after the ready callbacks of the same iteration, in deadline order.
  detail::TimerQueue timers_;
  std::size_t cancelled_timers_ = 0;
  std::vector<detail::HandleNode*> due_timers_;

  // call_soon/call_later nodes: allocated in chunks, recycled through free_nodes_, freed with
  // the loop (so a node's address is stable while a Handle may refer to it).
  detail::Callback* free_nodes_ = nullptr;
  std::vector<std::unique_ptr<detail::HandleNode[]>> pool_chunks_;

  detail::TaskRegistry tasks_;  // unfinished tasks
  std::uint64_t task_counter_ = 0;  // for default task names "Task-N"
  std::unordered_map<const detail::TaskBase*, detail::TaskExtras> task_extras_;  // rarely needed
  detail::TaskBase* current_task_ = nullptr;
  detail::IntrusiveList asyncgens_;  // AsyncGenerators first iterated on this loop, not finished

  std::unique_ptr<selectors::Selector> selector_;

  // What each fd is watched for, indexed by fd. dirty_fds_ lists the fds whose watchers changed
  // since the selector was last updated (apply_fd_changes, before each poll).
  struct FdWatch {
    detail::IoWatcher* watchers[2] = {};  // [reader], [writer]; null when none
    std::uint64_t armed_at[2] = {};       // polls_ when the watcher was added; a watcher is only
                                          // woken by a poll that began after it was added
    unsigned registered = 0;              // the events the selector has for the fd
    bool dirty = false;                   // listed in dirty_fds_
    bool rewatched = false;               // a watcher was added to a registered fd since the
                                          // selector was last updated
    bool unverified = false;              // re-watched, and no event since (check_unverified_fds)
    bool listed_unverified = false;       // listed in unverified_fds_ (until the next check
                                          // finds it verified)
    std::uint8_t polls_unverified = 0;    // polls without an event while unverified
  };
  std::vector<FdWatch> fds_;
  std::vector<int> dirty_fds_;
  std::vector<int> unverified_fds_;
  std::uint64_t polls_ = 0;  // number of selector polls so far

  // call_soon_threadsafe. Calls from other threads queue under the mutex (intrusive list of
  // RemoteCall nodes, FIFO) until the loop's wake-up reader moves them to the ready queue.
  // wakeup_pending_: the eventfd has been written and not yet drained; other threads skip the
  // write meanwhile. Invariant: a call queued while !wakeup_pending_ is followed by a write.
  std::mutex remote_mutex_;
  detail::Callback* remote_head_ = nullptr;  // guarded by remote_mutex_
  detail::Callback* remote_tail_ = nullptr;  // guarded by remote_mutex_
  bool remote_closed_ = false;               // guarded by remote_mutex_: the loop is closed
  std::atomic<bool> wakeup_pending_{false};
  int wakeup_fd_ = -1;  // eventfd, watched by the loop's own reader
  ExceptionHandler exception_handler_;
  Clock::duration slow_callback_duration_ = std::chrono::milliseconds(100);
  bool running_ = false;
  bool stopping_ = false;
  bool closed_ = false;
  bool debug_ = false;
  std::atomic<std::thread::id> thread_id_{};  // the thread running the loop; none when not running

  // Threads (src/threads.cpp): the default executor, and the futures and tasks that other
  // threads will finish or cancel. Made on first use; only the loop's thread touches it.
  friend struct detail::LoopThreads;
  void close_threads() noexcept;
  std::unique_ptr<detail::LoopThreads> threads_;
};

namespace detail {

/// The parts of the loop that futures and tasks reach into; not for users.
struct LoopAccess {
  static constexpr int reader = EventLoop::reader, writer = EventLoop::writer;  // watch directions
  static ReadyQueue& ready(EventLoop& loop) noexcept { return loop.ready_; }
  static TaskRegistry& tasks(EventLoop& loop) noexcept { return loop.tasks_; }
  static std::uint64_t next_task_number(EventLoop& loop) noexcept { return ++loop.task_counter_; }
  static TaskBase*& current_task(EventLoop& loop) noexcept { return loop.current_task_; }
  static std::unordered_map<const TaskBase*, TaskExtras>& task_extras(EventLoop& loop) noexcept {
    return loop.task_extras_;
  }
  static void check_open(const EventLoop& loop) { loop.check_open(); }
  static void add_watcher(EventLoop& loop, int fd, int direction, IoWatcher* watcher) {
    loop.add_watcher(fd, direction, watcher, false);
  }
  static void detach_watcher(EventLoop& loop, int fd, int direction) noexcept { loop.detach_watcher(fd, direction); }
  /// Closes fd after taking it out of the selector (its watchers must be gone already): once
  /// closed, an fd can no longer be removed from an epoll set, and its number may be reused.
  /// Works on a closed loop too.
  static void close_fd(EventLoop& loop, int fd) noexcept { loop.close_fd(fd); }
  static IntrusiveList& asyncgens(EventLoop& loop) noexcept { return loop.asyncgens_; }
  static void check_can_run(const EventLoop& loop);
};

/// The loop running on this thread, or null. (constinit: reading it from another translation
/// unit needs no guard for its initialization.)
extern thread_local constinit EventLoop* running_loop;
inline EventLoop* running_loop_or_null() noexcept { return running_loop; }

[[noreturn]] void throw_no_running_loop();

}  // namespace detail

/// The running loop; RuntimeError("no running event loop") when none runs on this thread.
inline EventLoop& get_running_loop() {
  EventLoop* loop = detail::running_loop;
  if (!loop) [[unlikely]] detail::throw_no_running_loop();
  return *loop;
}

}  // namespace asyncio
