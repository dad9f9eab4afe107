// asyncio::ConcurrentFuture<T>: the eventual result of work done on some thread, usable from any
// thread (Python's concurrent.futures.Future). ThreadPoolExecutor::submit and
// run_coroutine_threadsafe return one; wrap_future turns one into an asyncio Future.
//
// Implementation notes. Unlike Future<T>, which belongs to one loop and counts its references
// without atomics, the state here is shared through std::shared_ptr and guarded by a mutex;
// waiting threads sleep on a condition variable. Done callbacks run in the thread that completes
// the future, after the mutex is released (or at once, in the adding thread, when it is already
// done): so a callback may itself use the future.
#pragma once

#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "asyncio/detail/deadline.hpp"
#include "asyncio/exceptions.hpp"

namespace asyncio {

template <class T>
class ConcurrentFuture;

namespace detail {

/// The state of a ConcurrentFuture whatever its value type: status, exception, done callbacks.
class ConcurrentStateBase : public std::enable_shared_from_this<ConcurrentStateBase> {
 public:
  using Clock = std::chrono::steady_clock;
  /// Python's PENDING, RUNNING, CANCELLED (and CANCELLED_AND_NOTIFIED), FINISHED.
  enum class Status { pending, running, cancelled, finished };

  /// A done callback: called once, with the state, by the thread that completes it.
  struct DoneCallback {
    virtual ~DoneCallback() = default;
    virtual void call(ConcurrentStateBase& state) = 0;
  };

  ConcurrentStateBase() = default;
  ConcurrentStateBase(const ConcurrentStateBase&) = delete;
  ConcurrentStateBase& operator=(const ConcurrentStateBase&) = delete;
  virtual ~ConcurrentStateBase() = default;

  bool done() const;
  bool cancelled() const;
  bool running() const;
  /// Python's Future.cancel(): true when cancelled now or before; false once running or finished.
  bool cancel();
  /// Python's set_running_or_notify_cancel(): false when cancelled, else marks it running.
  /// RuntimeError when it is already running or finished.
  bool set_running_or_notify_cancel();
  /// Finishes with an exception; InvalidStateError when cancelled or finished.
  void set_exception(std::exception_ptr error);
  /// Waits until done or until `deadline` (none: no limit). Returns the stored exception (null
  /// for a value). Throws TimeoutError when the deadline passes, CancelledError when cancelled.
  std::exception_ptr wait_exception(std::optional<Clock::time_point> deadline) const;
  /// Like wait_exception, but rethrows the stored exception.
  void wait_result(std::optional<Clock::time_point> deadline) const;
  /// Calls cb at once (in this thread) when done, else when it completes.
  void add_callback(std::unique_ptr<DoneCallback> cb);

 protected:
  /// Locks the state for completing it; InvalidStateError unless pending or running.
  std::unique_lock<std::mutex> lock_for_completion(const char* operation);
  /// Sets the final status, wakes the waiters, then runs the callbacks without the lock.
  void complete(std::unique_lock<std::mutex> lock, Status status);

 private:
  std::exception_ptr wait_done(std::unique_lock<std::mutex>& lock,
                               std::optional<Clock::time_point> deadline) const;
  void run_callbacks(std::vector<std::unique_ptr<DoneCallback>> callbacks);

  mutable std::mutex mutex_;
  mutable std::condition_variable done_cv_;  // notified when the status becomes final
  // All guarded by mutex_. The value (in the derived class) and exception_ are written before
  // the status becomes final and never after, so readers that saw a final status may read
  // them without the lock. Invariant: callbacks_ is empty once the status is final.
  Status status_ = Status::pending;
  std::exception_ptr exception_;  // the failure, or the CancelledError once cancelled
  std::vector<std::unique_ptr<DoneCallback>> callbacks_;
};

template <class T>
class ConcurrentState final : public ConcurrentStateBase {
 public:
  template <class... V>
  void set_result(V&&... value) {
    std::unique_lock lock = lock_for_completion("set_result");
    if constexpr (!std::is_void_v<T>) value_.emplace(std::forward<V>(value)...);
    complete(std::move(lock), Status::finished);
  }
  /// The value; only once finished without an exception.
  std::add_lvalue_reference_t<T> value() noexcept {
    if constexpr (!std::is_void_v<T>) return *value_;
  }

 private:
  std::optional<std::conditional_t<std::is_void_v<T>, std::monostate, T>> value_;
};

template <class T, class F>
class ConcurrentDoneCallback final : public ConcurrentStateBase::DoneCallback {
 public:
  explicit ConcurrentDoneCallback(F fn) : fn_(std::move(fn)) {}
  void call(ConcurrentStateBase& state) override {
    fn_(ConcurrentFuture<T>(
        std::static_pointer_cast<ConcurrentState<T>>(state.shared_from_this())));
  }

 private:
  F fn_;
};

}  // namespace detail

/// The eventual result of a call running on some thread; every operation is safe from any
/// thread. Copies share the state. A default-constructed ConcurrentFuture is a new pending one
/// (Python's `concurrent.futures.Future()`), completed with set_result or set_exception.
///
/// result() and exception() block until the future is done. The states are Python's: pending,
/// running (set_running_or_notify_cancel, called by whoever starts the work), cancelled,
/// finished. cancel() only succeeds while pending.
template <class T = void>
class ConcurrentFuture {
 public:
  using value_type = T;
  static_assert(!std::is_reference_v<T>,
                "ConcurrentFuture<T&> is not supported; return a pointer or wrapper");

  ConcurrentFuture() : state_(std::make_shared<detail::ConcurrentState<T>>()) {}
  explicit ConcurrentFuture(std::shared_ptr<detail::ConcurrentState<T>> state) noexcept
      : state_(std::move(state)) {}

  bool done() const { return state_->done(); }
  bool cancelled() const { return state_->cancelled(); }
  bool running() const { return state_->running(); }
  /// Cancels the future unless it is running or finished; true when it is cancelled.
  bool cancel() { return state_->cancel(); }

  /// Waits until done; returns a reference to the stored value. Throws CancelledError when
  /// cancelled, and the exception it finished with.
  std::add_lvalue_reference_t<T> result() const {
    state_->wait_result(std::nullopt);
    if constexpr (!std::is_void_v<T>) return state_->value();
  }
  /// The same, waiting at most `timeout`: TimeoutError when it is not done by then.
  template <class Rep, class Period>
  std::add_lvalue_reference_t<T> result(std::chrono::duration<Rep, Period> timeout) const {
    state_->wait_result(detail::deadline_after(detail::ConcurrentStateBase::Clock::now(), timeout));
    if constexpr (!std::is_void_v<T>) return state_->value();
  }
  /// Waits until done; the exception it finished with, or null for a value. Throws
  /// CancelledError when cancelled.
  std::exception_ptr exception() const { return state_->wait_exception(std::nullopt); }
  template <class Rep, class Period>
  std::exception_ptr exception(std::chrono::duration<Rep, Period> timeout) const {
    return state_->wait_exception(
        detail::deadline_after(detail::ConcurrentStateBase::Clock::now(), timeout));
  }

  /// Calls fn(future) in the thread that completes the future, or at once in this thread when
  /// it is already done. An exception escaping fn is reported on stderr and dropped.
  template <class F>
    requires std::is_invocable_v<F&, ConcurrentFuture<T>>
  void add_done_callback(F&& fn) {
    state_->add_callback(
        std::make_unique<detail::ConcurrentDoneCallback<T, std::decay_t<F>>>(std::forward<F>(fn)));
  }

  /// For whoever runs the work: false when the future was cancelled (do not run it), else marks
  /// it running, after which cancel() fails. RuntimeError when already running or done.
  bool set_running_or_notify_cancel() { return state_->set_running_or_notify_cancel(); }
  /// Finishes the future; InvalidStateError when cancelled or finished.
  template <class... V>
    requires(std::is_void_v<T> ? sizeof...(V) == 0 : std::is_constructible_v<T, V && ...>)
  void set_result(V&&... value) {
    state_->set_result(std::forward<V>(value)...);
  }
  void set_exception(std::exception_ptr error) { state_->set_exception(std::move(error)); }
  template <class E>
    requires(!std::is_same_v<std::decay_t<E>, std::exception_ptr>)
  void set_exception(E&& error) {
    set_exception(std::make_exception_ptr(std::forward<E>(error)));
  }

  friend bool operator==(const ConcurrentFuture& a, const ConcurrentFuture& b) noexcept {
    return a.state_ == b.state_;
  }

 private:
  std::shared_ptr<detail::ConcurrentState<T>> state_;
};

}  // namespace asyncio
