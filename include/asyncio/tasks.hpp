// The task functions of Python's asyncio.tasks: sleep, gather, wait, wait_for, shield and
// as_completed. They accept Coro<T> (wrapped in a Task, as ensure_future does), Task<T> and
// Future<T>.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <ranges>
#include <span>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "asyncio/coro.hpp"
#include "asyncio/detail/awaitable_traits.hpp"
#include "asyncio/detail/large_block.hpp"
#include "asyncio/detail/sleep_awaiter.hpp"
#include "asyncio/future.hpp"
#include "asyncio/outcome.hpp"
#include "asyncio/task.hpp"
#include "asyncio/timeouts.hpp"

namespace asyncio {

// --- sleep ------------------------------------------------------------------------------------

/// Suspends the awaiting task for `delay`; `sleep(0s)` yields to the loop exactly once. A
/// delay too long for the clock (e.g. `hours::max()`) sleeps until cancelled; a NaN delay is
/// std::invalid_argument (Python's ValueError).
template <class Rep, class Period>
detail::SleepAwaiter sleep(std::chrono::duration<Rep, Period> delay) noexcept(
    !std::is_floating_point_v<Rep>) {
  if constexpr (std::is_floating_point_v<Rep>) {
    if (std::isnan(delay.count())) throw std::invalid_argument("Invalid delay: NaN (not a number)");
  }
  return detail::SleepAwaiter(detail::saturating_cast<Clock::duration>(delay));
}

/// Python's sleep(delay, result): sleeps for `delay`, then gives `result`.
template <class Rep, class Period, class T>
Coro<T> sleep(std::chrono::duration<Rep, Period> delay, T result) {
  co_await sleep(delay);
  co_return std::move(result);
}

// --- Awaitables as futures -----------------------------------------------------------------------

namespace detail {

template <class A>
inline constexpr bool is_coro = false;
template <class T>
inline constexpr bool is_coro<Coro<T>> = true;

/// What gather puts in its result for a T: T itself, or std::monostate for void.
template <class T>
using GatherValue = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

/// ensure_future, giving a Future<T> whatever the awaitable.
template <class T>
Future<T> to_future(Coro<T>&& coro) {
  return create_task(std::move(coro));
}
template <class T>
Future<T> to_future(const Future<T>& future) noexcept {
  return future;
}
/// A plain awaiter (q.get(), event.wait()) awaited in a coroutine of its own, as a task.
template <PlainAwaiter A>
Coro<awaitable_value_t<A>> await_plain(A aw) {
  co_return co_await aw;
}
template <class A>
  requires PlainAwaiter<std::remove_cvref_t<A>>
Future<awaitable_value_t<A>> to_future(A&& aw) {
  return create_task(await_plain(std::remove_cvref_t<A>(std::forward<A>(aw))));
}

template <class T>
GatherValue<T> take_gather_value(FutureStateBase* state) {
  if constexpr (std::is_void_v<T>) {
    state->check_result();
    return {};
  } else {
    return take_value<T>(state);
  }
}

template <class T>
Outcome<T> take_outcome(FutureStateBase* state) {
  if (state->cancelled()) return Outcome<T>::from_exception(state->stored_exception());
  if (std::exception_ptr error = state->exception()) return Outcome<T>::from_exception(error);
  if constexpr (std::is_void_v<T>) {
    return Outcome<T>::from_value();
  } else {
    return Outcome<T>::from_value(take_value<T>(state));
  }
}

}  // namespace detail

// --- gather -----------------------------------------------------------------------------------

/// Tag for gather's return_exceptions form.
struct ReturnExceptions {};
inline constexpr ReturnExceptions return_exceptions{};

namespace detail {

/// One child of a gather: the reference that keeps it alive until the gather has its outcome,
/// and the callback its completion runs. Its place in the gather's array is its index.
struct GatherChild : FnCallback {
  GatherChild(Fn fn, FutureStateBase* child, FutureStateBase* owner) noexcept
      : FnCallback(fn), future(child), gather(owner) {}
  FutureStateBase* future;  // a counted reference, dropped when the child completes
  FutureStateBase* gather;
};
static_assert(std::is_trivially_destructible_v<GatherChild>);

/// What a gather gives for a child: its value (std::monostate for void), or its Outcome.
template <bool Outcomes, class T>
using GatherElement = std::conditional_t<Outcomes, Outcome<T>, GatherValue<T>>;

template <bool Outcomes, class T>
GatherElement<Outcomes, T> take_child_outcome(FutureStateBase* child) {
  if constexpr (Outcomes) {
    return take_outcome<T>(child);
  } else {
    return take_gather_value<T>(child);
  }
}

/// The values of gather(aws...), kept as each child finishes: take(i, child) stores child i's,
/// result() gives the tuple.
template <bool Outcomes, class... T>
class TupleResults {
 public:
  using Result = std::tuple<GatherElement<Outcomes, T>...>;
  static constexpr bool outcomes = Outcomes;  // return_exceptions: failures are results too

  explicit TupleResults(std::size_t) noexcept {}
  void take(std::size_t index, FutureStateBase* child) {
    take(index, child, std::index_sequence_for<T...>{});
  }
  Result result() { return result(std::index_sequence_for<T...>{}); }

 private:
  template <std::size_t... I>
  void take(std::size_t index, FutureStateBase* child, std::index_sequence<I...>) {
    ((index == I ? (std::get<I>(values_).emplace(take_child_outcome<Outcomes, T>(child)), 0) : 0),
     ...);
  }
  template <std::size_t... I>
  Result result(std::index_sequence<I...>) {
    return Result{std::move(*std::get<I>(values_))...};
  }

  std::tuple<std::optional<GatherElement<Outcomes, T>>...> values_;
};

/// The values of gather(range), kept as each child finishes. For void children (without
/// return_exceptions) there is nothing to keep.
template <bool Outcomes, class T>
class VectorResults {
  using Value = GatherElement<Outcomes, T>;
  static constexpr bool keeps_nothing = std::is_same_v<Value, std::monostate>;

 public:
  using Result = std::vector<Value>;
  static constexpr bool outcomes = Outcomes;  // return_exceptions: failures are results too

  explicit VectorResults(std::size_t count) : count_(count) {
    if constexpr (!keeps_nothing) values_.resize(count);
  }
  void take(std::size_t index, FutureStateBase* child) {
    if constexpr (keeps_nothing) {
      child->check_result();
    } else {
      values_[index].emplace(take_child_outcome<Outcomes, T>(child));
    }
  }
  Result result() {
    if constexpr (keeps_nothing) {
      return Result(count_);
    } else {
      Result results;
      results.reserve(count_);
      for (std::optional<Value>& value : values_) results.push_back(std::move(*value));
      return results;
    }
  }

 private:
  std::size_t count_;
  std::vector<std::optional<Value>> values_;  // empty when keeps_nothing
};

/// Python's _GatheringFuture: completes when every child is done (or at the first failure),
/// and cancelling it cancels every child. `Results` keeps the children's values.
///
/// A child's completion is counted at once, inside the child's completion, not one loop
/// iteration later as CPython's done callback is: it runs no user code, and with many children
/// it saves a pass through the ready queue and over every child's memory. The gather takes the
/// child's value then and drops its reference to it. Only the child that decides the outcome
/// (the first to fail, or the last to finish) has its callback queued, and the gather completes
/// when that runs, as in Python: until then the gather is not done, so cancel() still cancels
/// the children left. The gather's own awaiters are woken through the ready queue as usual.
template <class Results>
class GatherState final : public FutureStateBase {
 public:
  using Result = typename Results::Result;

  GatherState(EventLoop* loop, std::size_t count)
      : FutureStateBase(&loop->scheduler()),
        children_(static_cast<GatherChild*>(allocate_large(count * sizeof(GatherChild))),
                  FreeChildren{count * sizeof(GatherChild)}),
        results_(count),
        count_(count) {
    if (count == 0) {
      slot_.value.emplace(results_.result());
      finish();
    }
  }

  /// Watches the next child; children are watched in argument order. The gather completes
  /// once all `count` are watched and done. std::invalid_argument (Python's ValueError) for a
  /// future of another loop.
  void watch(FutureBase future) {
    if (&future.state()->scheduler() != &scheduler()) [[unlikely]]
      throw_of_another_loop();
    // Constructed here, not when the array is allocated: one pass over it fewer.
    GatherChild& child =
        *::new (&children_.get()[watched_++]) GatherChild(&dispatch, future.state(), this);
    child.future->add_ref();
    add_ref();  // released when the child completes: a gather that finished early stays alive
                // to retrieve the other children's exceptions, as in CPython
    child.future->add_callback(&child);
  }

  /// for_each_child threw (a child of another loop, a coroutine that could not be wrapped):
  /// nobody will hold the gather. It ends with `error`, not to be reported, and the children
  /// watched so far go on, their exceptions retrieved as those of a finished gather's are.
  void abandon(std::exception_ptr error) noexcept {
    if (!done()) set_exception(std::move(error));
    log_traceback_ = false;
  }

  void* value_ptr() noexcept override { return &slot_; }

  bool cancel(const std::exception_ptr& error) override {
    if (done()) return false;
    // Set first: cancelling a plain future completes it, and so counts it, right away.
    cancel_requested_ = true;
    bool any = false;
    for (std::size_t i = 0; i < watched_; ++i) {
      if (FutureStateBase* child = children_.get()[i].future) any = child->cancel(error) || any;
    }
    cancel_requested_ = any;
    return any;
  }

 private:
  static bool dispatch(Callback* cb, Callback::Action action, void* found) {
    auto* child = static_cast<GatherChild*>(cb);
    auto* self = static_cast<GatherState*>(child->gather);
    switch (action) {
      case Callback::Action::find_awaiter:
        *static_cast<FutureStateBase**>(found) = self;
        return false;
      case Callback::Action::completed: {
        struct Release {  // also when taking the child's value throws
          FutureStateBase* future;
          ~Release() { future->release(); }
        } child_ref{std::exchange(child->future, nullptr)};
        if (self->child_done(child - self->children_.get(), child_ref.future))
          return true;  // queued: the gather completes when it runs, holding its reference
        break;
      }
      case Callback::Action::run:  // the deciding child's callback
        if (!self->done()) self->complete();
        break;
      case Callback::Action::discard:  // unrun: a pending child's list, or the ready queue
        if (child->future) std::exchange(child->future, nullptr)->release();
        break;
    }
    self->release();
    return false;
  }

  // CPython's gather._done_callback, which also takes the child's value. Returns true when this
  // child decides the outcome, which complete() delivers when its callback runs.
  bool child_done(std::size_t index, FutureStateBase* child) {
    ++finished_;
    if (decided_ || done()) {
      if (!child->cancelled()) child->exception();  // mark it retrieved
      return false;
    }
    if constexpr (!Results::outcomes) {
      if (child->cancelled()) return decide(child->stored_exception());
      if (child->stored_exception()) return decide(child->exception());  // marks it retrieved
    }
    try {
      results_.take(index, child);
      if (finished_ < count_) return false;
      if (cancel_requested_)
        return decide(child->cancelled() ? child->stored_exception() : make_cancelled_error({}));
      slot_.value.emplace(results_.result());
    } catch (...) {
      return decide(std::current_exception());
    }
    return decide(nullptr);
  }
  bool decide(std::exception_ptr error) noexcept {
    decided_ = true;
    decided_error_ = std::move(error);
    return true;
  }
  void complete() {
    if (decided_error_)
      set_exception(std::move(decided_error_));
    else
      finish();
  }

  // Invariant: children_[0, watched_) are constructed. A child's reference is dropped when its
  // callback runs (completed or discarded), and each unfinished child holds a reference to the
  // gather; so once the gather is destroyed its children hold nothing, and the array (of
  // trivially destructible objects) is freed without a walk.
  struct FreeChildren {
    std::size_t bytes;
    void operator()(GatherChild* children) const noexcept { deallocate_large(children, bytes); }
  };
  std::unique_ptr<GatherChild, FreeChildren> children_;
  Results results_;
  std::size_t count_;         // children in all
  std::size_t watched_ = 0;   // children watched so far
  std::size_t finished_ = 0;  // children done
  bool cancel_requested_ = false;
  // A child decided the outcome: the value in slot_, or decided_error_; the gather completes
  // when that child's queued callback runs.
  bool decided_ = false;
  std::exception_ptr decided_error_;
  ValueSlot<Result> slot_;
};

/// A gather of `count` children: `for_each_child(watch)` calls watch(future) for each, in order.
template <class Results, class ForEachChild>
Future<typename Results::Result> make_gather(std::size_t count, ForEachChild&& for_each_child) {
  using R = typename Results::Result;
  auto* state = new GatherState<Results>(&get_running_loop(), count);
  Future<R> gathered = Future<R>::from_state(state);
  try {
    for_each_child([state](FutureBase child) { state->watch(std::move(child)); });
  } catch (...) {
    state->abandon(std::current_exception());
    throw;
  }
  return gathered;
}

template <bool Outcomes, class... A>
auto gather_pack(A&&... aws) {
  using Results = TupleResults<Outcomes, awaitable_value_t<A>...>;
  return make_gather<Results>(sizeof...(A),
                              [&](auto watch) { (watch(to_future(std::forward<A>(aws))), ...); });
}

template <class Range>
using RangeAwaitable = std::remove_cvref_t<decltype(*std::begin(std::declval<Range&>()))>;

/// A for_each_child over a range's elements: Coros are wrapped in tasks (moved from the range).
template <class Range>
auto for_each_future(Range&& range) {
  return [&range](auto watch) {
    for (auto&& aw : range) {
      if constexpr (std::is_same_v<RangeAwaitable<Range>,
                                   Coro<awaitable_value_t<RangeAwaitable<Range>>>>) {
        watch(to_future(std::move(aw)));
      } else {
        watch(aw);
      }
    }
  };
}

template <bool Outcomes, class Range>
auto gather_range(Range&& range) {
  using Results = VectorResults<Outcomes, awaitable_value_t<RangeAwaitable<Range>>>;
  if constexpr (std::ranges::sized_range<Range>) {
    return make_gather<Results>(std::ranges::size(range), for_each_future(range));
  } else {  // counted first
    std::vector<FutureBase> futures;
    for_each_future(range)([&futures](FutureBase future) { futures.push_back(std::move(future)); });
    return make_gather<Results>(futures.size(), [&futures](auto watch) {
      for (FutureBase& future : futures) watch(std::move(future));
    });
  }
}

}  // namespace detail

/// Runs the awaitables concurrently and gives their values as a tuple, in argument order (void
/// gives std::monostate). Coroutines are wrapped in Tasks at once. The first exception (or
/// cancellation) of a child finishes the gather with it while the others keep running;
/// cancelling the gather cancels every child.
template <class... A>
  requires(sizeof...(A) > 0)
Future<std::tuple<detail::GatherValue<awaitable_value_t<A>>...>> gather(A&&... aws) {
  return detail::gather_pack<false>(std::forward<A>(aws)...);
}

/// gather with return_exceptions=True: every child's Outcome, failures included.
template <class... A>
  requires(sizeof...(A) > 0)
Future<std::tuple<Outcome<awaitable_value_t<A>>...>> gather(ReturnExceptions, A&&... aws) {
  return detail::gather_pack<true>(std::forward<A>(aws)...);
}

/// gather over a range (e.g. std::vector<Task<T>>, or of Coro<T>, moved from): a vector of
/// values in range order.
template <std::ranges::input_range Range>
auto gather(Range&& range) {
  return detail::gather_range<false>(range);
}

template <std::ranges::input_range Range>
auto gather(ReturnExceptions, Range&& range) {
  return detail::gather_range<true>(range);
}

// --- wait -------------------------------------------------------------------------------------

namespace detail {

template <class R>
inline constexpr bool is_vector = false;
template <class T, class A>
inline constexpr bool is_vector<std::vector<T, A>> = true;

/// The elements of any input range, in a vector: moved out of a container passed as an
/// rvalue, copied otherwise (a view refers to elements that are not its own).
template <std::ranges::input_range R>
auto to_vector(R&& range) {
  constexpr bool owns_elements =
      std::is_rvalue_reference_v<R&&> && !std::ranges::view<std::remove_cvref_t<R>>;
  std::vector<std::ranges::range_value_t<R>> elements;
  if constexpr (std::ranges::sized_range<R>) elements.reserve(std::ranges::size(range));
  for (auto&& element : range) {
    if constexpr (owns_elements)
      elements.push_back(std::move(element));
    else
      elements.push_back(std::forward<decltype(element)>(element));
  }
  return elements;
}

/// Keeps the first of each future that `fs` lists more than once, in order.
template <class F>
void remove_repeated_futures(std::vector<F>& fs) {
  std::unordered_set<const FutureStateBase*> seen;
  std::erase_if(fs, [&seen](const F& f) { return !seen.insert(f.state()).second; });
}

}  // namespace detail

enum class ReturnWhen { FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED };
inline constexpr ReturnWhen FIRST_COMPLETED = ReturnWhen::FIRST_COMPLETED;
inline constexpr ReturnWhen FIRST_EXCEPTION = ReturnWhen::FIRST_EXCEPTION;
inline constexpr ReturnWhen ALL_COMPLETED = ReturnWhen::ALL_COMPLETED;

/// Waits until `return_when` holds for the futures or tasks in `fs`, or `timeout` passes, and
/// gives (done, pending), each in the order of `fs`. Nothing is cancelled. A future listed
/// twice counts once (Python takes a set). std::invalid_argument when `fs` is empty.
template <class F>
Coro<std::pair<std::vector<F>, std::vector<F>>> wait(
    std::vector<F> fs, std::optional<Clock::duration> timeout = std::nullopt,
    ReturnWhen return_when = ALL_COMPLETED) {
  static_assert(!detail::is_coro<F>,
                "asyncio::wait: passing coroutines is forbidden, use tasks explicitly "
                "(create_task), as Python 3.11+ says");
  if (fs.empty()) throw std::invalid_argument("Set of Tasks/Futures is empty.");
  detail::remove_repeated_futures(fs);
  EventLoop& loop = get_running_loop();
  struct Shared {
    Future<void> waiter;
    std::size_t remaining;
    ReturnWhen return_when;
    TimerHandle timeout;
  };
  auto shared =
      std::make_shared<Shared>(Shared{loop.create_future<void>(), fs.size(), return_when, {}});
  if (timeout) {
    shared->timeout = loop.call_later(*timeout, [shared] {
      if (!shared->waiter.done()) shared->waiter.set_result();
    });
  }
  std::vector<CallbackId> ids;
  ids.reserve(fs.size());
  for (F& f : fs) {
    ids.push_back(f.add_done_callback([shared](F done) {
      --shared->remaining;
      if (shared->remaining == 0 || shared->return_when == FIRST_COMPLETED ||
          (shared->return_when == FIRST_EXCEPTION && !done.cancelled() && done.exception())) {
        shared->timeout.cancel();
        if (!shared->waiter.done()) shared->waiter.set_result();
      }
    }));
    detail::set_awaiter(ids.back(), shared->waiter);
  }
  std::exception_ptr error;
  try {
    co_await shared->waiter;
  } catch (...) {
    error = std::current_exception();
  }
  shared->timeout.cancel();
  for (std::size_t i = 0; i < fs.size(); ++i) fs[i].remove_done_callback(ids[i]);
  if (error) std::rethrow_exception(error);

  std::pair<std::vector<F>, std::vector<F>> result;
  for (F& f : fs) (f.done() ? result.first : result.second).push_back(std::move(f));
  co_return result;
}

/// wait with a timeout of any duration; one too long for the clock means no timeout.
template <class F, class Rep, class Period>
Coro<std::pair<std::vector<F>, std::vector<F>>> wait(std::vector<F> fs,
                                                     std::chrono::duration<Rep, Period> timeout,
                                                     ReturnWhen return_when = ALL_COMPLETED) {
  return wait(std::move(fs),
              std::optional<Clock::duration>(detail::saturating_cast<Clock::duration>(timeout)),
              return_when);
}

/// wait without a timeout: Python's wait(fs, return_when=...).
template <class F>
Coro<std::pair<std::vector<F>, std::vector<F>>> wait(std::vector<F> fs, ReturnWhen return_when) {
  return wait(std::move(fs), std::optional<Clock::duration>(), return_when);
}

/// wait over any input range of futures or tasks (a std::span, a std::array, a view...).
template <std::ranges::input_range R, class... Args>
  requires(!detail::is_vector<std::remove_cvref_t<R>>)
auto wait(R&& fs, Args&&... args) {
  return wait(detail::to_vector(std::forward<R>(fs)), std::forward<Args>(args)...);
}

// --- shield -----------------------------------------------------------------------------------

/// Protects `aw` from cancellation: cancelling the returned future (or the task awaiting it)
/// leaves `aw` running. Coroutines are wrapped in a Task.
template <class A>
Future<awaitable_value_t<A>> shield(A&& aw) {
  using T = awaitable_value_t<A>;
  Future<T> inner = detail::to_future(std::forward<A>(aw));
  if (inner.done()) return inner;
  Future<T> outer = inner.get_loop().template create_future<T>();
  CallbackId inner_id = inner.add_done_callback([outer](Future<T> done) mutable {
    if (outer.cancelled()) {
      if (!done.cancelled()) done.exception();  // mark it retrieved
      return;
    }
    if (done.cancelled()) {
      outer.cancel();
    } else if (std::exception_ptr error = done.exception()) {
      outer.set_exception(error);
    } else if constexpr (std::is_void_v<T>) {
      outer.set_result();
    } else {
      outer.set_result(detail::take_value<T>(done.state()));
    }
  });
  detail::set_awaiter(inner_id, outer);
  outer.add_done_callback([inner, inner_id](Future<T>) mutable {
    if (!inner.done()) inner.remove_done_callback(inner_id);
  });
  return outer;
}

// --- wait_for ---------------------------------------------------------------------------------

namespace detail {

/// wait_for with a timeout <= 0 (Python 3.12): no deadline scope; cancels `aw` at once unless it
/// is already done, and waits until it has finished (through a separate future, so a
/// cancellation of our own propagates).
template <class A>
Coro<awaitable_value_t<A>> wait_for_now(A aw) {
  using T = awaitable_value_t<A>;
  Future<T> future = to_future(std::move(aw));
  if (!future.done()) {
    Future<void> finished = future.get_loop().template create_future<void>();
    CallbackId id = future.add_done_callback([finished](Future<T>) mutable {
      if (!finished.done()) finished.set_result();
    });
    future.cancel();
    std::exception_ptr error;
    try {
      co_await finished;
    } catch (...) {
      error = std::current_exception();
    }
    future.remove_done_callback(id);
    if (error) std::rethrow_exception(error);
  }
  if (future.cancelled()) {  // Python's `raise TimeoutError from exc`, exc its CancelledError
    try {
      future.result();
    } catch (...) {
      std::throw_with_nested(TimeoutError());
    }
  }
  co_return co_await std::move(future);
}

/// A positive wait_for timeout, as a type of its own: it selects the overload that is the
/// coroutine with the deadline scope (which keeps wait_for's name in call graphs).
template <class Rep, class Period>
struct PositiveTimeout {
  std::chrono::duration<Rep, Period> delay;
};

}  // namespace detail

/// wait_for with a positive timeout: the coroutine itself. Its deadline is taken when it starts,
/// as Python's; the frame holds only what the deadline needs.
template <class A, class Rep, class Period>
Coro<awaitable_value_t<A>> wait_for(A aw, detail::PositiveTimeout<Rep, Period> timeout) {
  using T = awaitable_value_t<A>;
  detail::TimeoutScope scope(detail::TimeoutScope::AheadTag{},
                             detail::deadline_after(get_running_loop().time(), timeout.delay));
  scope.enter();
  std::exception_ptr error;
  try {
    if constexpr (std::derived_from<A, detail::Waiter>) {  // a primitive's wait: no throw
      std::exception_ptr cancellation;                     // when the deadline cancels it
      if constexpr (std::is_void_v<T>) {
        co_await detail::CancellableWait<A>(aw, cancellation);
        if (!cancellation) {
          scope.exit(nullptr);
          co_return;
        }
      } else {
        std::optional<T> value = co_await detail::CancellableWait<A>(aw, cancellation);
        if (!cancellation) {
          scope.exit(nullptr);
          co_return std::move(*value);
        }
      }
      error = scope.exit_with(cancellation);
    } else if constexpr (std::is_void_v<T>) {
      co_await detail::awaited(aw);
      scope.exit(nullptr);
      co_return;
    } else {
      T value = co_await detail::awaited(aw);
      scope.exit(nullptr);
      co_return value;
    }
  } catch (...) {
    error = scope.exit_from_handler();
  }
  co_await detail::EndWithError(std::move(error));  // no second throw through this frame
  __builtin_unreachable();                          // never resumed
}

/// Awaits `aw` (a Coro, Task or Future, or a primitive's wait such as q.get() or event.wait())
/// with a deadline, as Python 3.12's `async with timeout(t): return await aw`, plus its special
/// case of a timeout <= 0. When `timeout` passes first, cancels it, waits until it has finished,
/// then throws TimeoutError. A cancellation from outside always propagates as CancelledError. A
/// Coro or a primitive's wait runs inside the awaiting task (as Python awaits a coroutine
/// directly); Tasks and Futures are cancelled through the await. One frame: the deadline scope
/// is wait_for's own rather than a timeout() block's.
template <class A, class Rep, class Period>
Coro<awaitable_value_t<A>> wait_for(A aw, std::chrono::duration<Rep, Period> timeout) {
  if (timeout <= timeout.zero()) return detail::wait_for_now(std::move(aw));
  return wait_for(std::move(aw), detail::PositiveTimeout<Rep, Period>{timeout});
}

/// wait_for(aw, std::nullopt): no deadline, as Python's wait_for(aw, None); awaits `aw`.
template <class A>
Coro<awaitable_value_t<A>> wait_for(A aw, std::nullopt_t) {
  if constexpr (std::is_void_v<awaitable_value_t<A>>) {
    co_await std::move(aw);
  } else {
    co_return co_await std::move(aw);
  }
}

/// wait_for with a timeout that may be absent (none: no deadline).
template <class A, class Rep, class Period>
Coro<awaitable_value_t<A>> wait_for(A aw,
                                    std::optional<std::chrono::duration<Rep, Period>> timeout) {
  if (timeout) return wait_for(std::move(aw), *timeout);
  return wait_for(std::move(aw), std::nullopt);
}

// --- as_completed -----------------------------------------------------------------------------

/// Python's as_completed: `next()` gives a coroutine that waits for the next of the futures to
/// finish and returns its value (or throws its exception); TimeoutError once `timeout` passed.
/// Iterating gives size() such coroutines:
///     for (auto next : as_completed(tasks)) { auto value = co_await std::move(next); }
/// Python 3.13's async iteration gives the futures themselves, as they finish:
///     auto completed = as_completed(tasks);
///     while (auto task = co_await completed.anext()) { ... task->result() ... }
template <class F>
class AsCompleted {
 public:
  using T = awaitable_value_t<F>;

  AsCompleted(std::vector<F> fs, std::optional<Clock::duration> timeout)
      : shared_(std::make_shared<Shared>()) {
    EventLoop& loop = get_running_loop();
    shared_->loop = &loop;
    shared_->todo = std::move(fs);
    for (const F& f : shared_->todo) {
      if (&f.get_loop() != &loop) detail::throw_of_another_loop();
    }
    detail::remove_repeated_futures(shared_->todo);  // Python takes a set
    size_ = shared_->todo.size();
    shared_->left = size_;
    for (std::size_t i = 0; i < shared_->todo.size(); ++i) {
      shared_->ids.push_back(
          shared_->todo[i].add_done_callback([weak = std::weak_ptr<Shared>(shared_)](F done) {
            if (auto s = weak.lock()) s->on_completion(std::move(done));
          }));
    }
    if (timeout && size_ > 0) {
      shared_->timeout = loop.call_later(*timeout, [weak = std::weak_ptr<Shared>(shared_)] {
        if (auto s = weak.lock()) s->on_timeout();
      });
    }
  }
  AsCompleted(AsCompleted&&) noexcept = default;
  ~AsCompleted() {
    if (shared_) shared_->detach();
  }

  std::size_t size() const noexcept { return size_; }
  /// A coroutine giving the value of the next future to finish. std::out_of_range (Python's
  /// StopIteration) once size() have been asked for, by next() or anext().
  Coro<T> next() {
    if (shared_->left == 0)
      throw std::out_of_range("as_completed: each of the " + std::to_string(size_) +
                              " futures was given already");
    --shared_->left;
    return wait_for_one(shared_);
  }
  /// `async for`'s step (Python 3.13): a coroutine giving the next future (or task) to finish,
  /// the one that was passed in (for coroutines, the task made for it); nullopt once each has
  /// been given (StopAsyncIteration); TimeoutError once the timeout passed.
  Coro<std::optional<F>> anext() {
    const bool more = shared_->left > 0;
    if (more) --shared_->left;
    return next_if(shared_, more);
  }

  class iterator {
   public:
    using value_type = Coro<T>;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    iterator(AsCompleted* owner, std::size_t i) : owner_(owner), i_(i) {}
    Coro<T> operator*() const { return owner_->next(); }
    /// To the first future not given yet: next() calls in the loop's body count too, and a
    /// loop whose body asked for the last one ends, as in Python.
    iterator& operator++() {
      i_ = std::max(i_ + 1, owner_->size_ - owner_->shared_->left);
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(const iterator& other) const { return i_ == other.i_; }

   private:
    AsCompleted* owner_ = nullptr;
    std::size_t i_ = 0;
  };
  /// From the first future not given yet: iterating again goes on where the last loop stopped,
  /// as a Python iterator does, and gives nothing once each was given.
  iterator begin() { return iterator(this, size_ - shared_->left); }
  iterator end() { return iterator(this, size_); }

 private:
  struct Shared {
    EventLoop* loop = nullptr;
    std::vector<F> todo;
    std::vector<CallbackId> ids;
    std::deque<std::optional<F>> done;  // nullopt: the timeout passed
    std::deque<Future<void>> getters;   // next() calls waiting for `done` to fill
    TimerHandle timeout;
    std::size_t left = 0;  // how many next()/anext() calls may still give one (Python's _todo_left)

    void push(std::optional<F> f) {
      done.push_back(std::move(f));
      wake_a_getter();
    }
    /// Wakes the longest-waiting next() call still waiting.
    void wake_a_getter() {
      while (!getters.empty()) {
        Future<void> getter = std::move(getters.front());
        getters.pop_front();
        if (!getter.done()) {
          getter.set_result();
          break;
        }
      }
    }
    void on_completion(F f) {
      auto it = std::find(todo.begin(), todo.end(), f);
      if (it == todo.end()) return;  // the timeout was here first
      ids.erase(ids.begin() + (it - todo.begin()));
      todo.erase(it);
      push(std::move(f));
      if (todo.empty()) timeout.cancel();
    }
    void on_timeout() {
      detach();
      for (std::size_t i = 0, n = todo.size(); i < n; ++i) push(std::nullopt);
      todo.clear();
    }
    void detach() {
      for (std::size_t i = 0; i < todo.size(); ++i) todo[i].remove_done_callback(ids[i]);
      ids.clear();
      timeout.cancel();
    }
  };

  /// The next future to finish, once it has; TimeoutError when the timeout came first.
  static Coro<F> next_done(std::shared_ptr<Shared> shared) {
    while (shared->done.empty()) {
      Future<void> getter = shared->loop->template create_future<void>();
      shared->getters.push_back(getter);
      std::exception_ptr error;
      try {
        co_await getter;
      } catch (...) {
        error = std::current_exception();
      }
      if (error) {
        // Cancelled, perhaps right after being woken for a future that finished: that wake-up
        // goes to the next call waiting, as Python's Queue.get passes it on.
        if (!shared->done.empty()) shared->wake_a_getter();
        std::rethrow_exception(error);
      }
    }
    std::optional<F> f = std::move(shared->done.front());
    shared->done.pop_front();
    if (!f) throw TimeoutError();
    co_return std::move(*f);
  }
  static Coro<T> wait_for_one(std::shared_ptr<Shared> shared) {
    F f = co_await next_done(std::move(shared));
    co_return co_await std::move(f);
  }
  static Coro<std::optional<F>> next_if(std::shared_ptr<Shared> shared, bool more) {
    if (!more) co_return std::nullopt;
    co_return co_await next_done(std::move(shared));
  }

  std::shared_ptr<Shared> shared_;
  std::size_t size_ = 0;
};

template <class F>
AsCompleted<F> as_completed(std::vector<F> fs,
                            std::optional<Clock::duration> timeout = std::nullopt) {
  return AsCompleted<F>(std::move(fs), timeout);
}
/// as_completed over coroutines: each is wrapped in a Task on the running loop first, as
/// Python's ensure_future does.
template <class T>
AsCompleted<Task<T>> as_completed(std::vector<Coro<T>> coros,
                                  std::optional<Clock::duration> timeout = std::nullopt) {
  std::vector<Task<T>> tasks;
  tasks.reserve(coros.size());
  for (Coro<T>& coro : coros) tasks.push_back(create_task(std::move(coro)));
  return AsCompleted<Task<T>>(std::move(tasks), timeout);
}
/// as_completed with a timeout of any duration; one too long for the clock means no timeout.
template <class F, class Rep, class Period>
auto as_completed(std::vector<F> fs, std::chrono::duration<Rep, Period> timeout) {
  return as_completed(std::move(fs), std::optional<Clock::duration>(
                                         detail::saturating_cast<Clock::duration>(timeout)));
}
/// as_completed over any input range of futures, tasks or (an rvalue range of) coroutines.
template <std::ranges::input_range R, class... Args>
  requires(!detail::is_vector<std::remove_cvref_t<R>>)
auto as_completed(R&& fs, Args&&... args) {
  return as_completed(detail::to_vector(std::forward<R>(fs)), std::forward<Args>(args)...);
}

}  // namespace asyncio
