// Python's asyncio.timeout / timeout_at (3.11): a deadline over a block of awaits. C++ has no
// `async with`, so the block is a coroutine the deadline wraps:
//
//     int n = co_await asyncio::timeout(1s, fetch());                    // a Coro, Task or Future
//     co_await asyncio::timeout(1s, [&](asyncio::Timeout& t) -> asyncio::Coro<void> {
//       co_await step_one();
//       t.reschedule(t.when().value() + 1s);                             // more time for step two
//       co_await step_two();
//     });
//
// When the deadline passes, the task running the block is cancelled; the CancelledError
// unwinds the block, and at its boundary becomes TimeoutError. A cancellation that came from
// outside (counted by the task's cancelling()/uncancel()) stays a CancelledError.
#pragma once

#include <chrono>
#include <concepts>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "asyncio/coro.hpp"
#include "asyncio/detail/awaitable_traits.hpp"
#include "asyncio/detail/timeout_scope.hpp"
#include "asyncio/detail/wait_queue.hpp"
#include "asyncio/future.hpp"
#include "asyncio/task.hpp"

namespace asyncio {

class Timeout;

namespace detail {
template <class T, class Body>
Coro<T> run_in_timeout(Timeout* given, std::optional<TimePoint> when, Body body);
}  // namespace detail

/// The deadline of a timeout() block (Python's asyncio.Timeout). timeout() makes one for the
/// block to see; a program may also make its own, run a block under it, and look at it
/// afterwards, as Python's `async with asyncio.timeout(d) as cm:` lets it read cm later:
///
///     asyncio::Timeout cm(loop.time() + 10ms);
///     try { co_await cm.run(work()); } catch (const asyncio::TimeoutError&) {}
///     if (cm.expired()) ...
class Timeout {
 public:
  /// A timeout not entered yet, with the deadline `when` on the loop clock (none: none).
  explicit Timeout(std::optional<TimePoint> when) noexcept : scope_(when) {}
  /// Python's `async with cm:` around `block` (what timeout_at() accepts): enters the timeout in
  /// the awaiting task, awaits the block, leaves. The Timeout must outlive the await.
  /// RuntimeError when it was entered before.
  template <class Block>
  auto run(Block&& block);

  /// The deadline, or none.
  std::optional<TimePoint> when() const noexcept { return scope_.when(); }
  /// Moves the deadline; none removes it. RuntimeError before run() and once it expired or
  /// was left, as Python's.
  void reschedule(std::optional<TimePoint> when) { scope_.reschedule(when); }
  /// True once the deadline passed and the block was cancelled for it.
  bool expired() const noexcept {
    return scope_.state() == detail::TimeoutScope::State::expiring ||
           scope_.state() == detail::TimeoutScope::State::expired;
  }

  Timeout(const Timeout&) = delete;
  Timeout& operator=(const Timeout&) = delete;

 private:
  template <class T, class Body>
  friend Coro<T> detail::run_in_timeout(Timeout* given, std::optional<TimePoint> when, Body body);
  detail::TimeoutScope scope_;
};

namespace detail {

template <class B>
concept TimeoutBlockFn = std::is_invocable_v<B&, Timeout&>;

/// The block as a callable taking the Timeout: a Coro, Future, Task or plain awaiter is wrapped.
/// A plain awaiter is awaited where the callable holds it (given by reference: not copied).
template <class B>
auto as_block(B&& block) {
  if constexpr (TimeoutBlockFn<B>) {
    return std::forward<B>(block);
  } else if constexpr (PlainAwaiter<std::remove_cvref_t<B>>) {
    return
        [aw = std::forward<B>(block)](Timeout&) mutable -> std::remove_cvref_t<B>& { return aw; };
  } else {
    return [aw = std::forward<B>(block)](Timeout&) mutable { return std::move(aw); };
  }
}

/// What a wait under a deadline awaits: a plain awaiter where it is (it must not move once
/// awaited), anything else as an rvalue (a Coro is consumed by its await).
template <class A>
decltype(auto) awaited(A& aw) noexcept {
  if constexpr (PlainAwaiter<A>) {
    return (aw);
  } else {
    return std::move(aw);
  }
}

/// A primitive's wait (q.get(), lock.acquire(), event.wait()) awaited by wait_for: a
/// cancellation while it waits comes back in `cancellation` instead of being thrown, and the
/// await gives nothing (nullopt). The deadline's own cancellation, the usual way a wait_for
/// times out, then costs no throw through the coroutine.
template <std::derived_from<Waiter> A>
class CancellableWait {
 public:
  using T = awaitable_value_t<A>;
  using Result = std::conditional_t<std::is_void_v<T>, void, std::optional<T>>;

  CancellableWait(A& wait, std::exception_ptr& cancellation) noexcept
      : wait_(wait), cancellation_(cancellation) {}
  bool await_ready() { return wait_.await_ready(); }
  template <AsyncioPromise P>
  decltype(auto) await_suspend(std::coroutine_handle<P> frame) {
    return wait_.await_suspend(frame);
  }
  Result await_resume() {
    cancellation_ = wait_.take_cancellation();
    if constexpr (std::is_void_v<T>) {
      if (!cancellation_) wait_.await_resume();
    } else {
      if (cancellation_) return std::nullopt;
      return Result(wait_.await_resume());
    }
  }

 private:
  A& wait_;
  std::exception_ptr& cancellation_;
};

template <class B>
using BlockResult =
    awaitable_value_t<std::invoke_result_t<decltype(as_block(std::declval<B>()))&, Timeout&>>;

/// Runs `body(timeout)` under `given`, or under a Timeout of its own with the deadline `when`:
/// the body lives in this coroutine's frame, so a lambda's captures stay valid while it runs.
template <class T, class Body>
Coro<T> run_in_timeout(Timeout* given, std::optional<TimePoint> when, Body body) {
  std::optional<Timeout> own;
  Timeout& scope = given ? *given : own.emplace(when);
  scope.scope_.enter();
  std::exception_ptr error;
  try {
    if constexpr (std::is_void_v<T>) {
      co_await body(scope);
      scope.scope_.exit(nullptr);
      co_return;
    } else {
      T value = co_await body(scope);
      scope.scope_.exit(nullptr);
      co_return value;
    }
  } catch (...) {
    error = scope.scope_.exit_from_handler();
  }
  co_await EndWithError(std::move(error));  // no second throw through this frame
  __builtin_unreachable();                  // never resumed
}

}  // namespace detail

template <class Block>
auto Timeout::run(Block&& block) {
  return detail::run_in_timeout<detail::BlockResult<Block>>(
      this, std::nullopt, detail::as_block(std::forward<Block>(block)));
}

/// Awaits `block` (a Coro, Task or Future, a primitive's wait such as q.get(), or a callable
/// `(Timeout&) -> Coro<T>`) with the
/// deadline `when` on the loop clock (none: no deadline unless the block reschedules one).
/// Gives the block's value; TimeoutError when the deadline cut it short.
template <class Block>
Coro<detail::BlockResult<Block>> timeout_at(std::optional<TimePoint> when, Block&& block) {
  return detail::run_in_timeout<detail::BlockResult<Block>>(
      nullptr, when, detail::as_block(std::forward<Block>(block)));
}

/// timeout_at with a deadline `delay` from now (taken when timeout() is called, as Python's
/// asyncio.timeout computes it). A delay too long for the clock means no deadline in practice.
template <class Rep, class Period, class Block>
Coro<detail::BlockResult<Block>> timeout(std::chrono::duration<Rep, Period> delay, Block&& block) {
  return timeout_at(detail::deadline_after(get_running_loop().time(), delay),
                    std::forward<Block>(block));
}

/// timeout(None): no deadline, until the block reschedules one.
template <class Block>
Coro<detail::BlockResult<Block>> timeout(std::nullopt_t, Block&& block) {
  return timeout_at(std::nullopt, std::forward<Block>(block));
}

}  // namespace asyncio
