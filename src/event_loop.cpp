// EventLoop: the iteration (poll, timers, ready callbacks), run/stop/close, the handle pool and
// timers, exception reporting, and the thread's running loop.
#include "asyncio/event_loop.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "asyncio/detail/loop_threads.hpp"
#include "asyncio/exceptions.hpp"
#include "asyncio/task.hpp"

namespace asyncio {

namespace detail {

thread_local constinit EventLoop* running_loop = nullptr;

void throw_no_running_loop() { throw RuntimeError("no running event loop"); }

}  // namespace detail

using detail::running_loop;

namespace {

// Loop time as nanoseconds of the monotonic clock (which starts at boot: never negative).
std::uint64_t to_ns(TimePoint t) noexcept {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  return ns > 0 ? static_cast<std::uint64_t>(ns) : 0;
}

std::string describe_exception(const std::exception_ptr& error) {
  if (!error) return {};
  try {
    std::rethrow_exception(error);
  } catch (const CancelledError& e) {
    return std::string("CancelledError: ") + e.what();
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception";
  }
}

}  // namespace


namespace detail {


void LoopAccess::check_can_run(const EventLoop& loop) {
  loop.check_open();
  if (loop.running_) throw RuntimeError("This event loop is already running");
  if (running_loop) throw RuntimeError("Cannot run the event loop while another loop is running");
}

// A million pending timers are a million nodes: keep them at 96 bytes on 64-bit targets.
static_assert(sizeof(void*) != 8 || sizeof(HandleNode) <= 96);

bool HandleNode::dispatch(Callback* cb, Action action) {
  auto* node = static_cast<HandleNode*>(cb);
  EventLoop* loop = node->loop_;
  if (action == Action::run && !node->cancelled_) {
    node->state_ = State::running;
    try {
      node->call();
    } catch (...) {
      loop->call_exception_handler({"Exception in callback", std::current_exception(), "<Handle>"});
    }
  }
  node->release_callable();
  loop->release_node(node);
  return false;
}

void report_callback_error(std::exception_ptr error) noexcept {
  if (EventLoop* loop = running_loop) loop->call_exception_handler({"Exception in callback", error, {}});
}

}  // namespace detail

void Handle::cancel() {
  cancelled_ = true;
  if (!live() || node_->cancelled_) return;  // already ran, or already cancelled
  node_->loop_->cancel_handle(node_);
}

EventLoop::EventLoop(std::unique_ptr<selectors::Selector> selector)
    : selector_(selector ? std::move(selector) : selectors::make_default_selector()) {
  wakeup_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakeup_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  try {
    add_reader(wakeup_fd_, [this] { drain_threadsafe_calls(); });
  } catch (...) {
    ::close(wakeup_fd_);
    throw;
  }
}

EventLoop::~EventLoop() {
  if (running_) {
    // The callback that destroys the loop runs inside run_forever(), which would return into
    // freed memory: nothing can be saved. Say so instead of crashing somewhere later.
    std::fputs("asyncio: fatal error: an EventLoop was destroyed while it was running\n", stderr);
    std::abort();
  }
  close();
}

void EventLoop::throw_closed() { throw RuntimeError("Event loop is closed"); }

void EventLoop::check_thread_slow() const {
  const std::thread::id owner = thread_id_.load(std::memory_order_relaxed);
  if (owner != std::thread::id() && owner != std::this_thread::get_id()) {
    throw RuntimeError("Non-thread-safe operation invoked on an event loop other than the current one");
  }
}

void EventLoop::grow_pool() {
  // 64, 128, ... doubling up to 4096 nodes a chunk.
  const std::size_t count = std::size_t{64} << std::min<std::size_t>(pool_chunks_.size(), 6);
  auto chunk = std::make_unique<detail::HandleNode[]>(count);
  for (std::size_t i = count; i-- > 0;) {
    chunk[i].loop_ = this;
    chunk[i].next_ = free_nodes_;
    free_nodes_ = &chunk[i];
  }
  pool_chunks_.push_back(std::move(chunk));
}

void EventLoop::schedule_timer(detail::HandleNode* node, TimePoint when) {
  node->when_ = to_ns(when);
  node->state_ = detail::HandleNode::State::scheduled;
  try {
    timers_.push(node);
  } catch (...) {
    node->release_callable();
    release_node(node);
    throw;
  }
}

void EventLoop::cancel_handle(detail::HandleNode* node) noexcept {
  using State = detail::HandleNode::State;
  node->cancelled_ = true;
  switch (node->state_) {
    case State::ready:
      node->release_callable();  // the node itself is skipped when the loop reaches it
      break;
    case State::scheduled:  // in the timer queue, or among the due timers
      node->release_callable();
      // Like CPython: leave it in the queue, but purge the queue once most of it is dead.
      if (++cancelled_timers_ > 100 && cancelled_timers_ * 2 > timers_.size()) {
        timers_.remove_if([this](detail::HandleNode* n) {
          if (!n->cancelled_) return false;
          release_node(n);
          return true;
        });  // (one that is already due is released when its turn comes)
        cancelled_timers_ = 0;
      }
      break;
    case State::running:  // cancelling itself: it is released when it returns
    case State::free:
      break;
  }
}

void EventLoop::run_forever() {
  detail::LoopAccess::check_can_run(*this);
  running_ = true;
  running_loop = this;
  thread_id_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  struct Reset {
    EventLoop* loop;
    ~Reset() {
      loop->running_ = false;
      loop->stopping_ = false;
      loop->thread_id_.store(std::thread::id(), std::memory_order_relaxed);
      running_loop = nullptr;
    }
  } reset{this};
  do {
    run_once();
  } while (!stopping_);
}

void EventLoop::run_once() {
  if (ready_.empty() || ticks_since_poll_ >= poll_interval || stopping_) poll_io_and_timers();
  if (!ready_.empty()) run_ready();
  if (!due_timers_.empty()) run_due_timers();
}

void EventLoop::poll_io_and_timers() {
  ticks_since_poll_ = 0;
  if (!dirty_fds_.empty()) apply_fd_changes();
  const bool must_not_block = !unverified_fds_.empty() && check_unverified_fds();
  std::optional<std::chrono::nanoseconds> timeout;  // none: wait until some fd is ready
  if (!ready_.empty() || stopping_ || must_not_block) {
    timeout = std::chrono::nanoseconds(0);
  } else if (!timers_.empty()) {
    // The earliest deadline may be a cancelled timer's: then the loop just wakes early.
    const std::uint64_t when = timers_.top_when(), now = to_ns(time());
    timeout = std::chrono::nanoseconds(when > now ? when - now : 0);
  }
  ++polls_;
  if (timeout && timeout->count() == 0 && selector_->size() == 1) {
    // Only the loop's own eventfd is watched and the poll would not wait: wakeup_pending_
    // mirrors the eventfd, so read that instead of making a system call.
    if (wakeup_pending_.load(std::memory_order_acquire)) drain_threadsafe_calls();
  } else {
    const std::vector<selectors::ReadyKey>& ready = selector_->select(timeout);
    if (!ready.empty()) dispatch_io(ready);
  }

  // Collect the due timers without touching their nodes: with many timers each node is a
  // cache miss, paid once when it runs (a cancelled one is skipped then).
  if (timers_.empty()) return;
  const std::uint64_t now = to_ns(time());
  while (!timers_.empty() && timers_.top_when() <= now) due_timers_.push_back(timers_.pop());
}

// Runs exactly the callbacks that were ready when it began; those they schedule wait for the
// next iteration.
void EventLoop::run_ready() {
  detail::Callback* last = ready_.back();
  for (;;) {
    detail::Callback* cb = ready_.pop();
    const bool end = cb == last;
    if (debug_) [[unlikely]] {
      run_debug(cb);
    } else {
      cb->invoke(detail::Callback::Action::run);
    }
    ++ticks_since_poll_;
    if (end) return;
  }
}

// Runs the timers the last poll found due, after the ready callbacks, as CPython appends them
// to its ready queue.
void EventLoop::run_due_timers() {
  const std::size_t n = due_timers_.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (i + 8 < n) {  // a node spans two cache lines
      __builtin_prefetch(due_timers_[i + 8]);
      __builtin_prefetch(reinterpret_cast<const char*>(due_timers_[i + 8]) + 64);
    }
    detail::HandleNode* node = due_timers_[i];
    if (debug_) [[unlikely]] {
      run_debug(node);
    } else {
      node->invoke(detail::Callback::Action::run);
    }
  }
  ticks_since_poll_ += static_cast<unsigned>(n);
  due_timers_.clear();
}

void EventLoop::run_debug(detail::Callback* cb) {
  const TimePoint start = time();
  cb->invoke(detail::Callback::Action::run);
  report_if_slow(start);
}

void EventLoop::report_if_slow(TimePoint start) {
  const Clock::duration took = time() - start;
  if (took >= slow_callback_duration_) {
    char message[96];
    std::snprintf(message, sizeof message, "Executing <callback> took %.3f seconds",
                  std::chrono::duration<double>(took).count());
    call_exception_handler({message, nullptr, {}});
  }
}

void EventLoop::close() {
  if (running_) throw RuntimeError("Cannot close a running event loop");
  if (closed_) return;
  // What is destroyed from here on is destroyed as if the loop were running, so that code in a
  // destructor may ask for get_running_loop() and call_soon (what it schedules is dropped).
  struct RunningHere {
    EventLoop* outer;
    explicit RunningHere(EventLoop* loop) noexcept : outer(std::exchange(running_loop, loop)) {}
    ~RunningHere() { running_loop = outer; }
  } running_here(this);

  // 1. Destroy the frames of tasks that never finished (CPython reports them when they are
  //    collected), then drop the callbacks and timers that will never run, and the fd
  //    watchers; from then on call_soon_threadsafe throws.
  destroy_pending_tasks();
  drop_callbacks();
  // 2. Let go of what other threads refer to, then join the executors' threads: none of them
  //    can wait for this loop any more (what they wait for was cancelled, and posting throws).
  close_threads();
  drop_callbacks();  // what letting go scheduled
  asyncgens_.clear();  // generators that outlive the loop no longer refer to it
  closed_ = true;
  selector_->close();
  ::close(wakeup_fd_);
  wakeup_fd_ = -1;
}

void EventLoop::destroy_pending_tasks() noexcept {
  // Their references stay until the queues are cleared: the ready queue may still hold them.
  std::vector<detail::TaskBase*> pending;
  while (detail::TaskBase* task = tasks_.take_any()) {
    call_exception_handler({"Task was destroyed but it is pending!", nullptr, task->describe()});
    // Innermost frame first, at constant stack; awaiters in the frames unlink the task from
    // what it waits on as they are destroyed.
    task->destroy_frames();
    task->waiting_on_ = nullptr;
    // Its done callbacks will never run: drop them, and the references they hold (a gather
    // holds its children and is held by their callbacks).
    task->discard_callbacks();
    pending.push_back(task);
  }
  drop_callbacks();
  for (detail::TaskBase* task : pending) task->release();  // the loop's references
}

// Drops every callback that will never run: those posted from other threads (from now on
// call_soon_threadsafe throws), the ready queue, the timers, and the fd watchers. A callable's
// destructor may schedule more: the queues are emptied until they stay empty.
void EventLoop::drop_callbacks() noexcept {
  {
    std::lock_guard lock(remote_mutex_);
    remote_closed_ = true;
  }
  std::vector<detail::HandleNode*> timers;
  for (;;) {
    detail::Callback* remote;
    {
      std::lock_guard lock(remote_mutex_);
      remote = std::exchange(remote_head_, nullptr);
      remote_tail_ = nullptr;
    }
    while (remote) std::exchange(remote, remote->next_)->invoke(detail::Callback::Action::discard);
    for (FdWatch& watch : fds_) drop_watchers(watch);
    while (!ready_.empty()) ready_.pop()->invoke(detail::Callback::Action::discard);
    std::vector<detail::HandleNode*> due = std::move(due_timers_);
    due_timers_.clear();
    for (detail::HandleNode* node : due) node->invoke(detail::Callback::Action::discard);
    timers.clear();
    timers.reserve(timers_.size());  // (a failure to allocate here ends the program)
    timers_.clear([&timers](detail::HandleNode* node) { timers.push_back(node); });
    cancelled_timers_ = 0;
    for (detail::HandleNode* node : timers) {
      node->release_callable();
      release_node(node);
    }
    if (ready_.empty() && due_timers_.empty() && timers_.empty()) break;
  }
  fds_.clear();
  dirty_fds_.clear();
  unverified_fds_.clear();
}

void EventLoop::call_exception_handler(const ExceptionContext& context) noexcept {
  if (!exception_handler_) {
    default_exception_handler(context);
    return;
  }
  try {
    exception_handler_(*this, context);
  } catch (...) {
    default_exception_handler({"Unhandled error in exception handler", std::current_exception(), {}});
    default_exception_handler(context);
  }
}

void EventLoop::default_exception_handler(const ExceptionContext& context) noexcept {
  std::string text = "asyncio: " + context.message;
  if (!context.source.empty()) text += "\n  source: " + context.source;
  if (context.exception) text += "\n  exception: " + describe_exception(context.exception);
  text += '\n';
  std::fputs(text.c_str(), stderr);
}

}  // namespace asyncio

// --- Watching file descriptors ------------------------------------------------------------------

namespace asyncio {

void EventLoop::add_watcher(int fd, int direction, detail::IoWatcher* watcher, bool replace) {
  check_open();
  if (fd < 0) throw std::invalid_argument("Invalid file descriptor: " + std::to_string(fd));
  if (static_cast<std::size_t>(fd) >= fds_.size()) {
    fds_.resize(static_cast<std::size_t>(fd) + 1);
    dirty_fds_.reserve(fds_.size());  // each fd is listed at most once: pushing never allocates
  }
  FdWatch& watch = fds_[fd];
  if (watch.watchers[direction] && !replace) {
    throw RuntimeError("fd " + std::to_string(fd) + " already has a " + (direction == reader ? "reader" : "writer"));
  }
  const unsigned event = direction == reader ? selectors::EVENT_READ : selectors::EVENT_WRITE;
  if (watch.registered == 0) {
    // A new fd: register it now, so that an fd the selector refuses is an error here.
    selector_->register_fd(fd, event);
    watch.registered = event;
  } else {
    // Known fd: the selector is brought up to date before the next poll. The fd may have been
    // closed and its number reused since it was registered: see check_unverified_fds.
    watch.rewatched = true;
    if (!watch.dirty) {
      watch.dirty = true;
      dirty_fds_.push_back(fd);
    }
  }
  detail::IoWatcher* old = std::exchange(watch.watchers[direction], watcher);
  watch.armed_at[direction] = polls_;
  if (old) old->notify(detail::IoWatcher::Event::removed);
}

detail::IoWatcher* EventLoop::detach_watcher(int fd, int direction) noexcept {
  if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) return nullptr;
  FdWatch& watch = fds_[fd];
  detail::IoWatcher* old = std::exchange(watch.watchers[direction], nullptr);
  if (old) {
    if (!watch.dirty) {
      watch.dirty = true;
      dirty_fds_.push_back(fd);  // room reserved by add_watcher
    }
  }
  return old;
}

bool EventLoop::remove_watcher(int fd, int direction) {
  check_thread();
  detail::IoWatcher* old = detach_watcher(fd, direction);
  if (old) old->notify(detail::IoWatcher::Event::removed);
  return old != nullptr;
}

void EventLoop::close_fd(int fd) noexcept {
  if (fd >= 0 && static_cast<std::size_t>(fd) < fds_.size()) {
    FdWatch& watch = fds_[fd];
    drop_watchers(watch);  // (its owner removed them already)
    if (watch.registered) {
      try {
        selector_->unregister(fd);
      } catch (...) {
        // Nothing to do: the fd is closed just below, which ends its registration anyway.
      }
      watch.registered = 0;
    }
    watch.unverified = false;  // (a later watcher of a new file under this number registers anew)
  }
  ::close(fd);
}

// Brings the selector in line with the fd table, before a poll.
void EventLoop::apply_fd_changes() {
  // By index: the exception handler may add watchers, which appends to the list.
  for (std::size_t i = 0; i < dirty_fds_.size(); ++i) {
    const int fd = dirty_fds_[i];
    FdWatch& watch = fds_[fd];
    const unsigned wanted = (watch.watchers[reader] ? selectors::EVENT_READ : 0u) |
                            (watch.watchers[writer] ? selectors::EVENT_WRITE : 0u);
    const bool rewatched = watch.rewatched;
    watch.dirty = watch.rewatched = false;
    try {
      if (wanted == 0) {
        if (watch.registered) selector_->unregister(fd);
        watch.unverified = false;
      } else if (watch.registered == 0) {
        selector_->register_fd(fd, wanted);
      } else if (wanted != watch.registered) {
        selector_->modify(fd, wanted);  // (epoll re-adds an fd the kernel forgot)
        watch.unverified = false;
      } else if (rewatched && selector_->forgets_closed_fds()) {
        watch.unverified = true;
        watch.polls_unverified = 0;
        if (!watch.listed_unverified) {
          watch.listed_unverified = true;
          unverified_fds_.push_back(fd);
        }
      }
      watch.registered = wanted;
    } catch (...) {
      fail_fd(fd);
    }
  }
  dirty_fds_.clear();
}

// An fd re-watched with unchanged events may be a new file under a reused number, unknown to
// epoll. An event for it proves otherwise (dispatch_io clears `unverified`). Until then the
// loop polls without blocking; after two polls without an event it re-arms the fd with the
// kernel (one system call) and may block again. A busy fd so costs no system call to re-watch.
// Returns whether some fd is still unverified.
bool EventLoop::check_unverified_fds() {
  std::size_t kept = 0;
  for (int fd : unverified_fds_) {
    FdWatch& watch = fds_[fd];
    if (watch.unverified && ++watch.polls_unverified > 2) {
      watch.unverified = false;
      try {
        selector_->refresh(fd);
      } catch (...) {
        fail_fd(fd);
      }
    }
    if (watch.unverified) {
      unverified_fds_[kept++] = fd;
    } else {
      watch.listed_unverified = false;
    }
  }
  unverified_fds_.resize(kept);
  return kept != 0;
}

// The selector refused fd, which was most likely closed behind the loop's back. Its watchers
// cannot be woken by the selector any more: wake them now so they meet the error themselves.
void EventLoop::fail_fd(int fd) noexcept {
  call_exception_handler({"Cannot watch fd " + std::to_string(fd), std::current_exception(), {}});
  FdWatch& watch = fds_[fd];
  if (watch.registered) {
    try {
      selector_->unregister(fd);
    } catch (...) {
    }
  }
  watch.registered = 0;
  watch.unverified = false;
  drop_watchers(watch);
}

// Takes both watchers out of the table, then tells each it was removed. No selector update:
// the caller deals with the fd's registration.
void EventLoop::drop_watchers(FdWatch& watch) noexcept {
  for (detail::IoWatcher*& w : watch.watchers) {
    if (w) std::exchange(w, nullptr)->notify(detail::IoWatcher::Event::removed);
  }
}

void EventLoop::dispatch_io(const std::vector<selectors::ReadyKey>& ready) {
  for (const selectors::ReadyKey& key : ready) {
    const int fd = key.key.fd;
    if (static_cast<std::size_t>(fd) >= fds_.size()) continue;  // registered by someone else
    fds_[fd].unverified = false;  // the selector knows it: not a forgotten reused number
    for (int direction : {reader, writer}) {
      const unsigned event = direction == reader ? selectors::EVENT_READ : selectors::EVENT_WRITE;
      if (!(key.events & event)) continue;
      // Looked up afresh each time: a callback may have changed the table.
      FdWatch& watch = fds_[fd];
      detail::IoWatcher* watcher = watch.watchers[direction];
      if (!watcher || watch.armed_at[direction] == polls_) continue;  // added after this poll
      notify_watcher(watcher, fd);
    }
  }
}

void EventLoop::notify_watcher(detail::IoWatcher* watcher, int fd) {
  const TimePoint start = debug_ ? time() : TimePoint{};
  try {
    watcher->notify(detail::IoWatcher::Event::ready);
  } catch (...) {
    call_exception_handler({"Exception in callback", std::current_exception(), "<fd " + std::to_string(fd) + " watcher>"});
  }
  if (debug_) [[unlikely]] report_if_slow(start);
}

// --- call_soon_threadsafe ----------------------------------------------------------------------

void EventLoop::post_threadsafe(detail::Callback* call) {
  {
    std::lock_guard lock(remote_mutex_);
    if (!remote_closed_) {
      call->next_ = nullptr;
      if (remote_tail_) remote_tail_->next_ = call; else remote_head_ = call;
      remote_tail_ = call;
      // Still under the lock: close() closes the eventfd once it has set remote_closed_, so the
      // write cannot meet a closed (or reused) fd number.
      if (!wakeup_pending_.exchange(true, std::memory_order_acq_rel)) {
        const std::uint64_t one = 1;
        // EAGAIN (the counter is full) still leaves the loop woken; nothing else can fail here.
        [[maybe_unused]] ssize_t n = ::write(wakeup_fd_, &one, sizeof one);
      }
      return;
    }
  }
  // Closed. Outside the lock: the call's destructor is user code, which may post again.
  call->invoke(detail::Callback::Action::discard);
  throw_closed();
}

void EventLoop::drain_threadsafe_calls() {
  std::uint64_t count;
  [[maybe_unused]] ssize_t n = ::read(wakeup_fd_, &count, sizeof count);
  // Cleared before taking the queue: a call queued after this point writes the eventfd again.
  wakeup_pending_.store(false, std::memory_order_release);
  detail::Callback* call;
  {
    std::lock_guard lock(remote_mutex_);
    call = std::exchange(remote_head_, nullptr);
    remote_tail_ = nullptr;
  }
  while (call) {
    detail::Callback* next = call->next_;
    ready_.push(call);
    call = next;
  }
}

}  // namespace asyncio
