// What an event loop keeps for work on other threads: its default executor, and the LoopRefs
// through which other threads finish the loop's futures and cancel its tasks.
//
// Implementation notes. Future and Task handles count references without atomics, so only the
// loop's thread may copy or drop one. A thread that must later act on a future therefore does not
// hold the future: it holds a shared_ptr to a LoopRef, which holds the future (or task) and
// which only the loop's thread opens. The loop keeps every LoopRef it handed out until its
// thread lets go of it (LoopThreads::release), or until the loop closes, which lets go of all of
// them. Posting through a LoopRef after that does nothing, so a thread may finish its work
// after the loop has closed, or even after it was destroyed.
#pragma once

#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "asyncio/event_loop.hpp"

namespace asyncio {

class ThreadPoolExecutor;

namespace detail {

/// Something of a loop's (a future, a task) that other threads refer to. Derived classes hold
/// it; only the loop's thread touches it.
class LoopRef {
 public:
  explicit LoopRef(EventLoop& loop) noexcept : loop_(&loop) {}
  LoopRef(const LoopRef&) = delete;
  LoopRef& operator=(const LoopRef&) = delete;
  virtual ~LoopRef() = default;

  /// Any thread: the loop's call_soon_threadsafe(fn) while it is open. Once it has closed, fn is
  /// dropped (in this thread) and the result is false.
  template <class F>
  bool call_soon_threadsafe(F&& fn) {
    std::lock_guard lock(mutex_);
    if (!loop_) return false;
    loop_->call_soon_threadsafe(std::forward<F>(fn));  // cannot throw "closed": see detach()
    return true;
  }

 private:
  friend struct LoopThreads;
  /// The loop's thread, when it closes (before it stops accepting call_soon_threadsafe).
  void detach() noexcept {
    std::lock_guard lock(mutex_);
    loop_ = nullptr;
  }
  /// The loop's thread: drops what the ref holds. `closing`: because the loop is closing.
  virtual void let_go(bool closing) noexcept = 0;

  std::mutex mutex_;
  EventLoop* loop_;  // guarded by mutex_; null once the loop has closed
};

/// The loop's part for threads, made on first use (on the loop's thread).
struct LoopThreads {
  explicit LoopThreads(EventLoop& loop) noexcept;
  ~LoopThreads();

  /// The loop's LoopThreads. RuntimeError when the loop is closed.
  static LoopThreads& of(EventLoop& loop);
  /// The default executor, made on first use. RuntimeError once shutdown_default_executor ran.
  ThreadPoolExecutor& default_executor();
  /// Keeps `ref` until release(ref) or the loop closes.
  void hold(std::shared_ptr<LoopRef> ref);
  /// Lets go of what `ref` holds and stops keeping it (it is destroyed unless others share it).
  void release(LoopRef* ref) noexcept;
  /// EventLoop::close, once the loop accepts no more calls from other threads: lets go of
  /// every ref (which cancels what a thread may still wait for), then shuts down and joins
  /// the executors.
  void close() noexcept;

  EventLoop& loop;
  std::unique_ptr<ThreadPoolExecutor> executor;              // the default executor, if made
  bool executor_shutdown_called = false;                     // shutdown_default_executor ran
  std::vector<std::unique_ptr<ThreadPoolExecutor>> retired;  // replaced defaults, joined at close
  std::unordered_map<LoopRef*, std::shared_ptr<LoopRef>> refs;
};

}  // namespace detail

}  // namespace asyncio
