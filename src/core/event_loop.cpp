// EventLoop: the iteration (poll, timers, ready callbacks), run/stop/close, fd watching and
// call_soon_threadsafe forwarded to the parts, exception reporting, and the thread's running
// loop.
#include "asyncio/event_loop.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "asyncio/detail/loop_link.hpp"
#include "asyncio/detail/loop_threads.hpp"
#include "asyncio/exceptions.hpp"
#include "asyncio/inspection.hpp"
#include "asyncio/runners.hpp"
#include "asyncio/selectors.hpp"
#include "asyncio/task.hpp"
#include "debug/inspection_server.hpp"
#include "io/io_backend_parts.hpp"
#include "threads/remote_queue.hpp"
#include "unix/child_watcher.hpp"
#include "unix/signal_handlers.hpp"

namespace asyncio {

namespace detail {

void throw_no_running_loop() { throw RuntimeError("no running event loop"); }

void throw_fd_in_transport(int fd) {
  throw RuntimeError("File descriptor " + std::to_string(fd) + " is used by transport");
}

}  // namespace detail

using detail::running_loop;

namespace {

std::string describe_exception(const std::exception_ptr& error) {
  if (!error) return {};
  try {
    std::rethrow_exception(error);
  } catch (const CancelledError& e) {
    return std::string("CancelledError: ") + e.what();
  } catch (const std::exception& e) {
    return e.what();
  } catch (const KeyboardInterrupt& e) {
    return e.what();
  } catch (const GeneratorExit& e) {
    return e.what();
  } catch (...) {
    return "unknown exception";
  }
}

}  // namespace

void detail::report_callback_error(std::exception_ptr error) noexcept {
  if (EventLoop* loop = running_loop_or_null())
    loop->call_exception_handler({"Exception in callback", error, {}});
}

EventLoop::EventLoop() : EventLoop(std::unique_ptr<selectors::Selector>()) {}

EventLoop::EventLoop(IoUringOptions options)
    : io_(detail::make_io_backend(scheduler_, nullptr, &options, io_fallback_)),
      remote_(std::make_unique<detail::RemoteQueue>()) {
  start();
}

EventLoop::EventLoop(std::unique_ptr<selectors::Selector> selector)
    : io_(detail::make_io_backend(scheduler_, std::move(selector), nullptr, io_fallback_)),
      remote_(std::make_unique<detail::RemoteQueue>()) {
  start();
}

void EventLoop::start() {
  add_reader(remote_->wakeup_fd(), [this] { remote_->take_into(scheduler_); });
  if (const char* debug = std::getenv("ASYNCIO_DEBUG"); debug && *debug) set_debug(true);
  if (const char* inspect = std::getenv("ASYNCIO_INSPECT");
      inspect && std::string_view(inspect) == "1")
    enable_inspection_from_environment();
}

EventLoop::~EventLoop() {
  if (running_) {
    // The callback that destroys the loop runs inside run_forever(), which would return into
    // freed memory: nothing can be saved. Say so instead of crashing somewhere later.
    std::fputs("asyncio: fatal error: an EventLoop was destroyed while it was running\n", stderr);
    std::abort();
  }
  close();
  detail::forget_current_loop(this);
}

void EventLoop::set_debug(bool enabled) noexcept {
  scheduler_.set_debug(enabled);
  if (enabled && !io_fallback_.empty()) {
    std::fprintf(stderr, "asyncio: %s\n", io_fallback_.c_str());
    io_fallback_.clear();  // said once
  }
}

selectors::Selector& EventLoop::selector() {
  selectors::Selector* selector = io_->selector();
  if (!selector) throw RuntimeError("this event loop runs on io_uring: it has no selector");
  return *selector;
}

void EventLoop::check_can_run() const {
  check_open();
  if (running_) throw RuntimeError("This event loop is already running");
  if (running_loop.loop)
    throw RuntimeError("Cannot run the event loop while another loop is running");
  io_->check_can_run_here();
}

// The due timers are collected without touching their nodes: with many timers each node is a
// cache miss, paid once when it runs (a cancelled one is skipped then). The clock is read only
// while timers are pending.
inline void EventLoop::collect_due_timers() {
  if (scheduler_.next_deadline()) scheduler_.collect_due_timers(detail::to_ns(time()));
}

// libuv's uv_run, CPython's _run_once: the phases of one iteration.
[[gnu::always_inline]] inline void EventLoop::run_once() {
  ++iterations_;
  const bool polls = scheduler_.poll_due() || stopping_;
  if (polls) {
    poll_io_and_timers();
  } else {
    // Calls posted from other threads run on the next iteration, as Python's, even while
    // callbacks keep the loop from polling; so do the timers due by now (a clock read, far
    // cheaper than the poll).
    take_posted_calls();
    collect_due_timers();
  }
  scheduler_.run_ready();
  // The iteration that ends the run polls after all, as each of Python's does: a loop run one
  // iteration at a time (call_soon(stop), then run_forever: Python's run_briefly) still runs the
  // callbacks of its ready fds and its due timers, after the callbacks that were ready.
  if (stopping_ && !polls) [[unlikely]]
    poll_io_and_timers();
  scheduler_.run_due_timers();
}

void EventLoop::run_forever() {
  check_can_run();
  running_ = true;
  running_loop = {this, &scheduler_};
  scheduler_.set_thread(std::this_thread::get_id());
  // The loop runs each task and callback in its own context, and its own code in none: the
  // caller's context is put aside until it returns.
  const detail::ContextScope no_context(nullptr, nullptr);
  struct Reset {
    EventLoop* loop;
    ~Reset() {
      loop->running_ = false;
      loop->stopping_ = false;
      loop->scheduler_.set_thread(std::thread::id());
      running_loop = {};
    }
  } reset{this};
  struct CountTime {  // also when a callback throws out of run_forever
    EventLoop* loop;
    TimePoint start;
    ~CountTime() { loop->run_time_ += Clock::now() - start; }
  } count_time{this, Clock::now()};
  do {
    run_once();
  } while (!stopping_);
}

bool EventLoop::spin_for_work(std::chrono::nanoseconds limit) {
  // Every 256 turns (a few microseconds), one look at the fds without waiting; between them,
  // only the flags of the remote queue and of the signals, atomic loads. While the loop spins,
  // other threads' posts do not write the eventfd: calls they post are taken here.
  const auto deadline = std::chrono::steady_clock::now() + limit;
  bool work = false;
  remote_->start_polling();
  struct StopPolling {  // also when a poll throws: posts must write the eventfd again
    detail::RemoteQueue& remote;
    bool ended = false;
    ~StopPolling() {
      if (!ended) remote.stop_polling();
    }
  } polling{*remote_};
  for (unsigned turn = 1; !work; ++turn) {
    if (remote_->wakeup_pending() || (signals_ && signals_->any_pending())) break;
    if (turn % 256 == 0) {
      ++polls_;
      io_->poll(std::chrono::nanoseconds(0));
      work = scheduler_.has_ready();
      if (std::chrono::steady_clock::now() >= deadline) break;
    }
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  polling.ended = true;
  if (remote_->stop_polling()) {  // also a call posted as the spin ended
    remote_->take_into(scheduler_);
    work = true;
  }
  return work || (signals_ && signals_->any_pending());
}

void EventLoop::poll_io_and_timers() {
  scheduler_.poll_done();
  std::optional<std::chrono::nanoseconds> timeout;  // none: wait until some fd is ready
  if (scheduler_.has_ready() || stopping_) {
    timeout = std::chrono::nanoseconds(0);
  } else if (const std::optional<std::uint64_t> when = scheduler_.next_deadline()) {
    const std::uint64_t now = detail::to_ns(time());
    timeout = std::chrono::nanoseconds(*when > now ? *when - now : 0);
    // The kernel lets a poll oversleep by a thousandth of its timeout (the "timer slack" of
    // poll, select and epoll: 10 ms for a 10 s timer), above the thread's own 50 us. A long wait
    // wakes two thousandths early instead and polls again for the rest, which is short enough
    // to be precise: one more poll per wait of over 50 ms.
    if (*timeout > std::chrono::milliseconds(50)) *timeout -= *timeout / 500;
  }
  if (busy_poll_.count() > 0 && (!timeout || timeout->count() > 0)) {
    const auto limit = timeout ? std::min(*timeout, busy_poll_) : busy_poll_;
    if (spin_for_work(limit)) {
      timeout = std::chrono::nanoseconds(0);
    } else if (timeout) {
      timeout = *timeout - limit;
    }
  }
  if (timeout && timeout->count() == 0 && io_->registered_fds() == (signals_ ? 2 : 1)) {
    // Only the loop's own eventfds are watched and the poll would not wait: the remote queue's
    // flag and the signals' pending flags mirror them, so read those instead of making a
    // system call.
    take_posted_calls();
    if (signals_ && signals_->any_pending()) signals_->dispatch();
  } else {
    const TimePoint start = Clock::now();
    ++polls_;
    io_->poll(timeout);
    selector_time_ += Clock::now() - start;
  }
  collect_due_timers();
}

void EventLoop::close() {
  if (running_) throw RuntimeError("Cannot close a running event loop");
  if (closed_) return;
  // What is destroyed from here on is destroyed as if the loop were running, so that code in a
  // destructor may ask for get_running_loop() and call_soon (what it schedules is dropped).
  struct RunningHere {
    detail::RunningLoop outer;
    explicit RunningHere(const detail::RunningLoop& here) noexcept
        : outer(std::exchange(running_loop, here)) {}
    ~RunningHere() { running_loop = outer; }
  } running_here({this, &scheduler_});

  disable_inspection();
  // 0. Put every signal's disposition back (as Python's unix loop does first); kill and reap
  //    the children still running.
  if (signals_) signals_->close();
  if (children_) children_->close();
  //    Abort the connections still open; their protocols learn it now (the loop will not run
  //    the callback that would tell them).
  //    Each unlinks itself first; a protocol may close others meanwhile.
  while (detail::LoopLink* link = open_transports_.front()) link->close_now(link->owner);
  // 1. Destroy the frames of tasks that never finished (CPython reports them when they are
  //    collected), then drop the callbacks and timers that will never run, and the fd
  //    watchers; from then on call_soon_threadsafe throws. The loop's references to the tasks
  //    go last: the queues may still hold them.
  //    A destructor run meanwhile may create a task: it goes the same way, until none is left.
  do {
    std::vector<detail::TaskBase*> pending = scheduler_.destroy_pending_frames();
    drop_callbacks();
    for (detail::TaskBase* task : pending) task->release();
    drop_callbacks();
  } while (scheduler_.tasks().size() != 0);
  // 2. Let go of what other threads refer to, then join the executors' threads: none of them
  //    can wait for this loop any more (what they wait for was cancelled, and posting throws).
  close_threads();
  drop_callbacks();                // what letting go scheduled
  scheduler_.asyncgens().clear();  // generators that outlive the loop no longer refer to it
  closed_ = true;
  io_->close();
  remote_->close_wakeup_fd();
}

// Drops every callback that will never run: those posted from other threads (from now on
// call_soon_threadsafe throws), the ready queue, the timers, and the fd watchers. A callable's
// destructor may schedule more: the queues are emptied until they stay empty.
void EventLoop::drop_callbacks() noexcept {
  remote_->close();
  for (;;) {
    bool dropped = remote_->discard_queued();
    io_->drop_watchers();
    dropped |= scheduler_.discard_queued();
    if (!dropped) break;
  }
}

bool EventLoop::remove_watcher(int fd, int direction) {
  check_thread();
  check_fd_not_in_transport(fd);
  detail::IoWatcher* old = io_->detach_watcher(fd, direction);
  if (old) old->notify(detail::IoWatcher::Event::removed);
  return old != nullptr;
}

void EventLoop::set_signal_handler(int sig, std::shared_ptr<const std::function<void()>> handler) {
  check_open();
  check_thread();
  if (!signals_) signals_ = std::make_unique<detail::SignalHandlers>(*this);
  signals_->add(sig, std::move(handler));
}

detail::ChildWatcher& EventLoop::child_watcher() {
  check_open();
  if (!children_) children_ = std::make_unique<detail::ChildWatcher>(*this);
  return *children_;
}

bool EventLoop::remove_signal_handler(int sig) {
  check_thread();
  if (!signals_) {
    detail::SignalHandlers::check_signal(sig);
    return false;
  }
  return signals_->remove(sig);
}

void EventLoop::post_threadsafe(detail::Callback* call) {
  if (scheduler_.running_on_this_thread()) {  // from a callback: in order with call_soon
    scheduler_.push_ready(call);
    return;
  }
  if (remote_->post(call)) return;
  // Closed. The call's destructor is user code, which may post again.
  call->invoke(detail::Callback::Action::discard);
  detail::throw_loop_closed();
}

void EventLoop::take_posted_calls() noexcept {
  if (remote_->wakeup_pending()) [[unlikely]]
    remote_->take_into(scheduler_);
}

void EventLoop::call_exception_handler(const ExceptionContext& context) noexcept {
  if (!exception_handler_) {
    default_exception_handler(context);
    return;
  }
  try {
    exception_handler_(*this, context);
  } catch (...) {
    default_exception_handler(
        {"Unhandled error in exception handler", std::current_exception(), {}});
    default_exception_handler(context);
  }
}

void EventLoop::default_exception_handler(const ExceptionContext& context) noexcept {
  std::string text = "asyncio: " + context.message;
  if (!context.source.empty()) text += "\n  source: " + context.source;
  if (context.exception) text += "\n  exception: " + describe_exception(context.exception);
  if (!context.details.empty()) {
    std::size_t begin = 0;  // each line indented under the message
    while (begin < context.details.size()) {
      std::size_t end = context.details.find('\n', begin);
      if (end == std::string::npos) end = context.details.size();
      text += "\n  " + context.details.substr(begin, end - begin);
      begin = end + 1;
    }
  }
  text += '\n';
  std::fputs(text.c_str(), stderr);
}

LoopStats EventLoop::stats() const {
  LoopStats stats;
  auto& scheduler = const_cast<detail::Scheduler&>(scheduler_);
  stats.iterations = iterations_;
  stats.callbacks_run = scheduler.callbacks_run();
  stats.ready = scheduler.ready_count();
  stats.timers = scheduler.timer_count();
  if (!closed_) {
    const std::size_t own = 1 + (signals_ ? 1 : 0);  // the wake-up eventfds
    const std::size_t watched = io_->registered_fds();
    stats.fds = watched > own ? watched - own : 0;
  }
  stats.tasks = scheduler.tasks().size();
  stats.polls = polls_;
  stats.selector_time = selector_time_;
  stats.running_time = run_time_ > selector_time_ ? run_time_ - selector_time_ : Clock::duration{};
  stats.longest_callback = scheduler.longest_callback();
  stats.longest_callback_name = scheduler.longest_callback_name();
  return stats;
}

}  // namespace asyncio
