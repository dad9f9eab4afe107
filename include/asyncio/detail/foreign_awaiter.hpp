// Awaiting, inside a task, an awaitable that is not the library's own (std::suspend_always, an
// awaiter that resumes its coroutine from a callback or from another thread, a third-party
// library's awaiter): the promises' await_transform (AwaitTransform) wraps it in a
// ForeignAwaiter, which suspends the task around it and resumes the task on its loop.
//
// Implementation notes. The library's own awaiters take part in the task's stepping (they
// accept only a handle to an asyncio promise). A foreign awaiter instead expects to be handed
// the suspended coroutine's handle and to resume it itself, from anywhere: resuming a task's
// frame like that would run it outside the task's step, on any thread. So the foreign awaiter
// is handed the handle of a small proxy coroutine instead. Resuming the proxy wakes the task:
// directly when that happens on the loop's thread while it runs, through
// call_soon_threadsafe otherwise; or, when it happens while the foreign await_suspend is still
// running (a synchronous completion), the task goes on at once. An atomic state decides which
// of the two sides came first. The proxy does its work from its final suspension point, so
// nothing touches its frame once the task may run (and destroy it) on the loop's thread.
//
// A task cancelled while it waits on a foreign awaitable cannot interrupt it: the cancellation
// is raised when the awaitable resumes. As with any coroutine, the foreign side must not
// resume the handle once the awaiting frame was destroyed (EventLoop::close of a pending task).
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <type_traits>
#include <utility>

#include "asyncio/detail/sleep_awaiter.hpp"
#include "asyncio/detail/task_base.hpp"

namespace asyncio::detail {

/// What `co_await a` calls await_ready/await_suspend/await_resume on: a's operator co_await()
/// result, or a itself.
template <class A>
decltype(auto) get_awaiter(A&& awaitable) {
  if constexpr (requires { std::forward<A>(awaitable).operator co_await(); }) {
    return std::forward<A>(awaitable).operator co_await();
  } else if constexpr (requires { operator co_await(std::forward<A>(awaitable)); }) {
    return operator co_await(std::forward<A>(awaitable));
  } else {
    return std::forward<A>(awaitable);
  }
}

template <class A>
using awaiter_of = decltype(get_awaiter(std::declval<A>()));

template <class W>
concept Awaiter = requires(W& w, std::coroutine_handle<> h) {
  { w.await_ready() } -> std::convertible_to<bool>;
  w.await_suspend(h);
  w.await_resume();
};

/// An awaitable of the library's: its awaiter accepts only a handle to an asyncio promise.
template <class A>
concept NativeAwaitable = requires(std::remove_reference_t<awaiter_of<A>>& w) {
  w.await_ready();
  w.await_resume();
} && !requires(std::remove_reference_t<awaiter_of<A>>& w, std::coroutine_handle<> h) {
  w.await_suspend(h);
};

/// Stands for a native awaiter that is the operand of co_await itself (a prvalue such as
/// sleep(d) or lock.acquire()): await_transform cannot hand it on by reference, since g++ 12
/// then copies it into the frame, and these awaiters cannot be copied. The awaiter stays the
/// temporary it is, which lives until the end of the co_await's full-expression.
template <class W>
struct AwaiterRef {
  W& awaiter;
  bool await_ready() { return awaiter.await_ready(); }
  template <AsyncioPromise P>
  decltype(auto) await_suspend(std::coroutine_handle<P> frame) {
    return awaiter.await_suspend(frame);
  }
  decltype(auto) await_resume() { return awaiter.await_resume(); }
};

/// The non-template part of ForeignAwaiter: the proxy coroutine, and the race between the
/// proxy being resumed and the foreign await_suspend returning.
class ForeignWake : public WaitTarget {
 public:
  ForeignWake() noexcept = default;
  ForeignWake(const ForeignWake&) = delete;
  ForeignWake& operator=(const ForeignWake&) = delete;

  /// The foreign awaitable resumes when it completes; a cancellation waits for that.
  CancelOutcome cancel_wait(TaskBase*, const std::exception_ptr&) override {
    return CancelOutcome::too_late;
  }

  /// Called by the proxy when it is resumed (from its final suspension point).
  void proxy_resumed() noexcept;

 protected:
  ~ForeignWake();

  /// Before the foreign await_suspend: the handle to give it.
  std::coroutine_handle<> arm(TaskBase* task);
  /// After the foreign await_suspend said it suspended: true when the task must wait for the
  /// proxy to be resumed, false when that already happened (the task goes on at once).
  bool settle() noexcept;
  /// The foreign await_suspend did not suspend after all (returned false or the proxy).
  void disarm() noexcept { state_.store(State::idle, std::memory_order_relaxed); }
  TaskBase* task() const noexcept { return task_; }

 private:
  // idle -> suspending (arm) -> suspended (settle won) or resumed (proxy_resumed won).
  enum class State : std::uint8_t { idle, suspending, suspended, resumed };

  std::atomic<State> state_{State::idle};
  TaskBase* task_ = nullptr;       // set by arm(), before any thread can see the proxy
  std::coroutine_handle<> proxy_;  // made on the first suspension; destroyed with this
};

/// Suspends the running task around a foreign awaiter (see the notes at the top).
template <class A>
class ForeignAwaiter final : public ForeignWake {
  using Inner = awaiter_of<A>;  // a reference when the awaitable is its own awaiter

 public:
  explicit ForeignAwaiter(A&& awaitable)
      : awaitable_(std::forward<A>(awaitable)), inner_(get_awaiter(static_cast<A&&>(awaitable_))) {}

  bool await_ready() { return inner_.await_ready(); }

  template <AsyncioPromise P>
  bool await_suspend(std::coroutine_handle<P>) {
    TaskBase* task = running_task();
    const std::coroutine_handle<> proxy = arm(task);
    using Result = decltype(inner_.await_suspend(proxy));
    if constexpr (std::is_void_v<Result>) {
      inner_.await_suspend(proxy);
    } else if constexpr (std::is_same_v<Result, bool>) {
      if (!inner_.await_suspend(proxy)) {
        disarm();
        return false;
      }
    } else {  // symmetric transfer: a coroutine to run now, on this thread
      const std::coroutine_handle<> next = inner_.await_suspend(proxy);
      if (next == proxy) {
        disarm();
        return false;
      }
      next.resume();  // (a no-op for std::noop_coroutine())
    }
    if (!settle()) return false;  // resumed already: no need to suspend
    task->begin_wait(this);
    return true;
  }

  decltype(auto) await_resume() {
    if (TaskBase* waited = task()) waited->end_wait();
    return inner_.await_resume();
  }

 private:
  A awaitable_;  // the awaitable itself (moved in), or a reference to it (an lvalue)
  Inner inner_;
};

/// The await_transform of the asyncio promises: the library's awaitables pass through;
/// `std::suspend_always` gives the loop one turn, as Python's bare `yield` does in a task;
/// any other awaitable is adapted by a ForeignAwaiter.
struct AwaitTransform {
  template <class A>
  decltype(auto) await_transform(A&& awaitable) {
    using Plain = std::remove_cvref_t<A>;
    if constexpr (std::is_same_v<Plain, std::suspend_always>) {
      return SleepAwaiter(Clock::duration::zero());
    } else if constexpr (std::is_same_v<Plain, std::suspend_never>) {
      return std::suspend_never{};
    } else if constexpr (NativeAwaitable<A>) {
      if constexpr (std::is_reference_v<awaiter_of<A>>) {  // its own awaiter
        return AwaiterRef<std::remove_reference_t<awaiter_of<A>>>{awaitable};
      } else {  // its operator co_await makes the awaiter
        return std::forward<A>(awaitable);
      }
    } else {
      static_assert(
          Awaiter<std::remove_reference_t<awaiter_of<A>>>,
          "co_await in an asyncio coroutine needs an awaitable: an object with await_ready, "
          "await_suspend and await_resume, or an operator co_await returning one");
      return ForeignAwaiter<A>(std::forward<A>(awaitable));
    }
  }
};

}  // namespace asyncio::detail
