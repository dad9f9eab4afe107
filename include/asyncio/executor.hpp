// asyncio::ThreadPoolExecutor: a bounded pool of threads that runs calls submitted from any
// thread, each with a ConcurrentFuture of its result (Python's
// concurrent.futures.ThreadPoolExecutor). The loop's run_in_executor and to_thread use one.
//
// Implementation notes. As in CPython, threads start lazily: submit starts a new one only when
// no thread is idle and fewer than max_workers run. `idle_` plays CPython's _idle_semaphore: a
// worker adds one when its call has returned (before the future is completed, so that whoever
// sees the result and submits again finds the worker idle), submit takes one instead of
// starting a thread.
// Workers take calls from one FIFO queue; after shutdown they finish the queue, then exit.
// The queue and the threads live in a Pool that the workers share with the executor, so that
// the executor may be destroyed by one of its own calls: its threads then finish on their own.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "asyncio/concurrent_future.hpp"

namespace asyncio {

namespace detail {

/// What fn(args...) returns when called once with its bound arguments as rvalues.
template <class F, class... Args>
using call_result_t = std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>;

/// fn with args bound by value, for one call that moves them in (std::thread's way).
template <class F, class... Args>
auto bind_once(F&& fn, Args&&... args) {
  return [f = std::forward<F>(fn), ... a = std::forward<Args>(args)]() mutable -> decltype(auto) {
    return std::invoke(std::move(f), std::move(a)...);
  };
}

/// A submitted call: run (then finished) or cancelled, once, by the pool; then destroyed.
class WorkItem {
 public:
  virtual ~WorkItem() = default;
  /// Runs the call, unless its future was cancelled, and keeps the outcome; the callable and
  /// its arguments are destroyed before it returns.
  virtual void run() noexcept = 0;
  /// Stores the outcome in the future (whose callbacks run here).
  virtual void finish() noexcept = 0;
  /// shutdown(cancel_futures = true): the call will not run.
  virtual void cancel() noexcept = 0;
};

template <class R, class F>
class CallItem final : public WorkItem {
 public:
  CallItem(F fn, ConcurrentFuture<R> future) : fn_(std::move(fn)), future_(std::move(future)) {}

  void run() noexcept override {
    if (!future_.set_running_or_notify_cancel()) return;
    try {
      if constexpr (std::is_void_v<R>) {
        (*fn_)();
      } else {
        value_.emplace((*fn_)());
      }
    } catch (...) {
      error_ = std::current_exception();  // anything: CancelledError is not a std::exception
    }
    ran_ = true;
    fn_.reset();
  }
  void finish() noexcept override {
    if (!ran_) return;
    try {
      if (error_) {
        future_.set_exception(std::move(error_));
      } else if constexpr (std::is_void_v<R>) {
        future_.set_result();
      } else {
        future_.set_result(std::move(*value_));
      }
    } catch (...) {
      // InvalidStateError: someone else completed the future meanwhile; the outcome is dropped.
    }
  }
  void cancel() noexcept override { future_.cancel(); }

 private:
  std::optional<F> fn_;
  ConcurrentFuture<R> future_;
  std::optional<std::conditional_t<std::is_void_v<R>, std::monostate, R>> value_;
  std::exception_ptr error_;
  bool ran_ = false;
};

}  // namespace detail

/// A pool of at most max_workers threads running submitted calls in submission order.
///
/// Destroying it is shutdown(true): queued calls still run, and the threads are joined; when
/// it is destroyed from one of its own threads (which cannot wait for itself), the threads are
/// detached instead and finish the queued calls on their own.
class ThreadPoolExecutor {
 public:
  /// Python's default: min(32, number of CPUs + 4).
  static std::size_t default_max_workers() noexcept;

  /// std::invalid_argument when max_workers is 0 (Python's ValueError).
  explicit ThreadPoolExecutor(std::size_t max_workers = default_max_workers());
  ~ThreadPoolExecutor();
  ThreadPoolExecutor(const ThreadPoolExecutor&) = delete;
  ThreadPoolExecutor& operator=(const ThreadPoolExecutor&) = delete;

  /// Queues fn(args...) (fn and the arguments are moved or copied in, as std::thread does) and
  /// returns the future of its result; an exception fn throws is stored there. Safe from any
  /// thread. RuntimeError after shutdown.
  template <class F, class... Args>
  ConcurrentFuture<detail::call_result_t<F, Args...>> submit(F&& fn, Args&&... args) {
    using R = detail::call_result_t<F, Args...>;
    auto call = detail::bind_once(std::forward<F>(fn), std::forward<Args>(args)...);
    ConcurrentFuture<R> future;
    enqueue(std::make_unique<detail::CallItem<R, decltype(call)>>(std::move(call), future));
    return future;
  }

  /// Stops accepting calls. cancel_futures: the queued calls that have not started are
  /// cancelled. wait: returns once every call has run and the threads have exited; it must not
  /// be called with wait from one of the pool's own threads (RuntimeError).
  void shutdown(bool wait = true, bool cancel_futures = false);

  std::size_t max_workers() const noexcept { return max_workers_; }

 private:
  struct Pool;
  void enqueue(std::unique_ptr<detail::WorkItem> item);

  const std::size_t max_workers_;
  std::shared_ptr<Pool> pool_;  // shared with the worker threads
};

}  // namespace asyncio
