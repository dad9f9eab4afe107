// EventLoop: the iteration (poll, timers, ready callbacks), run/stop/close, the handle pool and
// timers, exception reporting, and the thread's running loop.
#include "asyncio/event_loop.hpp"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "asyncio/exceptions.hpp"
#include "asyncio/task.hpp"

namespace asyncio {

namespace {

thread_local EventLoop* running_loop = nullptr;

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

EventLoop& get_running_loop() {
  if (!running_loop) throw RuntimeError("no running event loop");
  return *running_loop;
}

namespace detail {

EventLoop* running_loop_or_null() noexcept { return running_loop; }

void LoopAccess::check_can_run(const EventLoop& loop) {
  loop.check_open();
  if (loop.running_) throw RuntimeError("This event loop is already running");
  if (running_loop) throw RuntimeError("Cannot run the event loop while another loop is running");
}

void HandleNode::dispatch(Callback* cb, Action action) {
  auto* node = static_cast<HandleNode*>(cb);
  EventLoop* loop = node->loop_;
  if (action == Action::run && !node->cancelled_) {
    node->state_ = State::running;
    try {
      node->call_(node);
    } catch (...) {
      loop->call_exception_handler({"Exception in callback", std::current_exception(), "<Handle>"});
    }
  }
  node->release_callable();
  loop->release_node(node);
}

}  // namespace detail

void Handle::cancel() {
  cancelled_ = true;
  if (!live() || node_->cancelled_) return;  // already ran, or already cancelled
  node_->loop_->cancel_handle(node_);
}

EventLoop::EventLoop(std::unique_ptr<selectors::Selector> selector)
    : selector_(selector ? std::move(selector) : selectors::make_default_selector()) {}

EventLoop::~EventLoop() { close(); }

void EventLoop::throw_closed() { throw RuntimeError("Event loop is closed"); }

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
  struct Reset {
    EventLoop* loop;
    ~Reset() {
      loop->running_ = false;
      loop->stopping_ = false;
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
  std::optional<std::chrono::nanoseconds> timeout;  // none: wait until some fd is ready
  if (!ready_.empty() || stopping_) {
    timeout = std::chrono::nanoseconds(0);
  } else if (!timers_.empty()) {
    // The earliest deadline may be a cancelled timer's: then the loop just wakes early.
    const std::uint64_t when = timers_.top_when(), now = to_ns(time());
    timeout = std::chrono::nanoseconds(when > now ? when - now : 0);
  }
  // Nothing is registered yet that could become ready, so a zero-timeout poll can be skipped.
  if (!(timeout && timeout->count() == 0 && selector_->size() == 0)) {
    selector_->select(timeout);
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

  // 1. Destroy the frames of tasks that never finished (CPython reports them when they are
  //    collected). Their references stay until the queues are cleared: the ready queue may
  //    still hold them.
  std::vector<detail::TaskBase*> pending;
  while (!tasks_.empty()) {
    detail::TaskBase* task = tasks_.back();
    tasks_.pop_back();
    call_exception_handler({"Task was destroyed but it is pending!", nullptr, task->describe()});
    // Awaiters in the frames unlink the task from what it waits on as they are destroyed.
    std::coroutine_handle<> root = std::exchange(task->root_, nullptr);
    root.destroy();
    task->current_ = nullptr;
    task->waiting_on_ = nullptr;
    // Its done callbacks will never run: drop them, and the references they hold (a gather
    // holds its children and is held by their callbacks).
    task->discard_callbacks();
    pending.push_back(task);
  }

  // 2. Drop the callbacks and timers that will never run.
  while (!ready_.empty()) ready_.pop()->invoke(detail::Callback::Action::discard);
  for (detail::HandleNode* node : due_timers_) node->invoke(detail::Callback::Action::discard);
  due_timers_.clear();
  timers_.clear([this](detail::HandleNode* node) {
    node->release_callable();
    release_node(node);
  });
  cancelled_timers_ = 0;

  // 3. Release the loop's references to the destroyed tasks.
  for (detail::TaskBase* task : pending) task->release();

  closed_ = true;
  selector_->close();
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
