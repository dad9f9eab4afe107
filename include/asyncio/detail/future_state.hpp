// The shared state behind Future<T> and Task<T>: completion state, result or exception, done
// callbacks, and a non-atomic reference count (a future belongs to one loop, one thread).
//
// Implementation notes. A future never runs its callbacks inline: completing it moves each of
// its callbacks onto the loop's ready queue. A task waiting on the future is one of those
// callbacks (the task itself is a Callback), so waking it allocates nothing. A user's done
// callback is owned by the future while it waits in the list, and holds a reference to the
// future from the moment it is scheduled until it has run. The value lives in the most derived
// class (FutureState<T> or TaskState<T>) and is reached through value_ptr(), so Task can extend the
// non-template part.
#pragma once

#include <cassert>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "asyncio/detail/callback.hpp"
#include "asyncio/detail/frame_allocator.hpp"
#include "asyncio/detail/scheduler.hpp"
#include "asyncio/detail/wait_target.hpp"
#include "asyncio/exceptions.hpp"

namespace asyncio::detail {

class TaskBase;

/// Storage for a future's value; empty for void.
template <class T>
struct ValueSlot {
  std::optional<T> value;
};
template <>
struct ValueSlot<void> {};

class FutureStateBase : public WaitTarget {
 public:
  enum class State : std::uint8_t { pending, finished, cancelled };

  explicit FutureStateBase(Scheduler* scheduler) noexcept : scheduler_(scheduler) {}
  FutureStateBase(const FutureStateBase&) = delete;
  FutureStateBase& operator=(const FutureStateBase&) = delete;
  /// Reports an exception nobody retrieved through the loop's exception handler.
  virtual ~FutureStateBase();

  // Derived classes may hold anything up to alignof(std::max_align_t) (see pooled_size).
  static void* operator new(std::size_t size) {
    return allocate_small(pooled_size(size), PoolKind::states);
  }
  static void operator delete(void* p, std::size_t size) noexcept {
    deallocate_small(p, pooled_size(size), PoolKind::states);
  }

  void add_ref() noexcept { ++refs_; }
  void release() noexcept {
    assert(refs_ > 0);
    if (--refs_ == 0) delete this;
  }
  bool sole_owner() const noexcept { return refs_ == 1; }

  EventLoop* loop() const noexcept { return &scheduler_->loop(); }
  Scheduler& scheduler() const noexcept { return *scheduler_; }
  bool done() const noexcept { return state_ != State::pending; }
  bool cancelled() const noexcept { return state_ == State::cancelled; }

  /// The value storage of the most derived class: a ValueSlot<T>*, or null for void.
  virtual void* value_ptr() noexcept = 0;
  /// Python's Future.cancel(); `error` is the CancelledError to store. Task overrides it to
  /// cancel the coroutine instead.
  virtual bool cancel(const std::exception_ptr& error);
  /// "Future" or "Task", and the task's name: for messages.
  virtual std::string describe() const;
  /// The task part of this state, or null for a plain future.
  virtual TaskBase* as_task() noexcept { return nullptr; }

  /// A future cancelled already (by an earlier request, or by its owner) wakes the task with
  /// its own CancelledError, which the task raises rather than a later request's (Python's
  /// __step keeps the CancelledError it is woken with).
  CancelOutcome cancel_wait(TaskBase*, const std::exception_ptr& error) override {
    return cancel(error) || cancelled() ? CancelOutcome::delivered : CancelOutcome::too_late;
  }
  void forget_waiter(TaskBase* task) noexcept override;

  /// Python's Future.exception(): throws CancelledError when cancelled, InvalidStateError when
  /// pending; marks the exception as retrieved.
  std::exception_ptr exception();
  /// The stored failure or CancelledError (null for a value or while pending); retrieves nothing.
  const std::exception_ptr& stored_exception() const noexcept { return exception_; }
  /// Throws what result() must throw (CancelledError, InvalidStateError, the exception);
  /// returns normally when a value is there.
  void check_result() {
    if (state_ != State::finished || exception_) throw_for_result();
    log_traceback_ = false;
  }
  /// Marks a stored exception as retrieved, as asking for the result would.
  void mark_retrieved() noexcept { log_traceback_ = false; }
  void set_exception(std::exception_ptr exc);
  /// Throws InvalidStateError unless pending.
  void check_pending(const char* operation) const {
    if (state_ != State::pending) throw_not_pending(operation);
  }
  /// Completes with the value already stored in the slot.
  void finish() { mark_done(State::finished); }

  /// Adds a done callback; schedules it at once when already done.
  void add_callback(Callback* cb);
  bool remove_callback(Callback* cb) noexcept { return callbacks_.remove(cb); }
  bool has_callback(const Callback* cb) const noexcept { return callbacks_.contains(cb); }
  /// Calls f(cb) for each done callback, in order; `f` must not change the list.
  template <class F>
  void for_each_callback(F&& f) const {
    callbacks_.for_each(f);
  }
  const Callback* newest_callback() const noexcept { return callbacks_.newest(); }
  /// Unlinks the callbacks for which `pred(cb)` holds and returns them, in order.
  template <class Pred>
  CallbackList take_callbacks_if(Pred&& pred) {
    CallbackList kept, taken;
    callbacks_.drain([&](Callback* cb) { (pred(cb) ? taken : kept).push(cb); });
    callbacks_ = kept;
    return taken;
  }
  /// Drops the callbacks unrun (a pending future that will never complete).
  void discard_callbacks() noexcept {
    callbacks_.drain([](Callback* cb) { cb->invoke(Callback::Action::discard); });
  }

  /// Cancels this state (Python's Future.cancel body, without the Task override).
  bool cancel_future(const std::exception_ptr& error);

 protected:
  /// Sets the final state and schedules the callbacks.
  void mark_done(State state);

  [[noreturn]] void throw_for_result();
  [[noreturn]] void throw_not_pending(const char* operation) const;

  Scheduler* scheduler_;
  CallbackList callbacks_;
  // The failure, or the CancelledError of a cancelled future. While a task is pending it holds
  // the CancelledError to throw at the task's next resumption, if any (see TaskBase).
  std::exception_ptr exception_;
  std::uint32_t refs_ = 0;
  State state_ = State::pending;
  bool log_traceback_ = false;  // an exception is set that nobody has retrieved yet
  // Task.cancelling() of a task (plain futures leave it 0); here because it fits in what would
  // otherwise be padding, which keeps a Task<void> at 72 bytes. A count of 0xFFFF or more lives in
  // the loop's TaskExtras instead, and this holds 0xFFFF (see TaskBase::cancelling).
  std::uint16_t num_cancels_requested_ = 0;
};

/// A plain future: the state behind loop.create_future<T>().
template <class T>
class FutureState final : public FutureStateBase {
 public:
  using FutureStateBase::FutureStateBase;
  void* value_ptr() noexcept override { return std::is_void_v<T> ? nullptr : &slot_; }

 private:
  [[no_unique_address]] ValueSlot<T> slot_;  // takes no room for void
};

[[noreturn]] void throw_value_taken();

/// The value of a finished state; call check_result() first. InvalidStateError when an awaiter
/// took a value that cannot be copied while other handles shared the future (take_value).
template <class T>
T& stored_value(FutureStateBase* state) {
  std::optional<T>& value = static_cast<ValueSlot<T>*>(state->value_ptr())->value;
  if (!value) [[unlikely]]
    throw_value_taken();
  return *value;
}

/// Stores `value` and completes the state; InvalidStateError when it is not pending.
template <class T, class... V>
void set_value(FutureStateBase* state, V&&... value) {
  if (state->as_task()) throw RuntimeError("Task does not support set_result operation");
  state->check_pending("set_result");
  if constexpr (!std::is_void_v<T>) {
    static_cast<ValueSlot<T>*>(state->value_ptr())->value.emplace(std::forward<V>(value)...);
  }
  state->finish();
}

/// Whether a T can be copied. std::vector claims a copy constructor even when its elements
/// have none (gather over move-only values gives such a vector), so look at the elements.
template <class T>
inline constexpr bool copyable_value = std::is_copy_constructible_v<T>;
template <class U, class A>
inline constexpr bool copyable_value<std::vector<U, A>> = copyable_value<U>;

/// What awaiting (or run_until_complete on) a future produces when the awaiter owns it:
/// the value is moved out when nobody else holds the state, copied otherwise. A value that
/// cannot be copied is moved out even then, and the state forgets it, so that another handle
/// asking for it later gets a clear error (stored_value) instead of a moved-from object.
template <class T>
T take_value(FutureStateBase* state) {
  state->check_result();
  if constexpr (!std::is_void_v<T>) {
    T& v = stored_value<T>(state);
    if (state->sole_owner()) return std::move(v);
    if constexpr (copyable_value<T>) {
      return v;
    } else {
      T taken = std::move(v);
      static_cast<ValueSlot<T>*>(state->value_ptr())->value.reset();
      return taken;
    }
  }
}

/// A CancelledError carrying `msg`, as an exception_ptr.
std::exception_ptr make_cancelled_error(std::string msg);
/// Whether `error` holds a CancelledError.
bool is_cancelled_error(const std::exception_ptr& error) noexcept;

}  // namespace asyncio::detail
