// asyncio::Future<T>: a shared handle to one eventual result (Python's asyncio.Future), and
// FutureBase, the operations every future has whatever its value type.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "asyncio/detail/future_state.hpp"
#include "asyncio/detail/loop_bound.hpp"
#include "asyncio/detail/task_base.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/exceptions.hpp"

namespace asyncio {

/// Identifies a done callback for remove_done_callback.
struct CallbackId {
  const void* node = nullptr;
  std::uint64_t serial = 0;
};

/// A counted reference to a future's state, with the operations that do not depend on T.
/// Copies share the state. Must not outlive the future's loop.
class FutureBase : detail::LoopBound {
 public:
  FutureBase() noexcept = default;
  FutureBase(const FutureBase& other) noexcept : state_(other.state_) {
    if (state_) state_->add_ref();
  }
  FutureBase(FutureBase&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
  FutureBase& operator=(FutureBase other) noexcept {
    std::swap(state_, other.state_);
    return *this;
  }
  ~FutureBase() {
    if (state_) state_->release();
  }

  /// False for a default-constructed or moved-from handle.
  bool valid() const noexcept { return state_ != nullptr; }
  bool done() const noexcept { return state_->done(); }
  bool cancelled() const noexcept { return state_->cancelled(); }
  /// Cancels a pending future (its awaiters get CancelledError(msg)); false when already done.
  bool cancel(std::string msg = {}) {
    check_thread();
    return state_->cancel(detail::make_cancelled_error(std::move(msg)));
  }
  /// The exception it finished with (null for a value). Throws CancelledError when cancelled,
  /// InvalidStateError when pending.
  std::exception_ptr exception() {
    check_thread();
    return state_->exception();
  }
  /// Finishes the future with an exception; InvalidStateError when already done.
  void set_exception(std::exception_ptr error) {
    check_thread();
    state_->set_exception(std::move(error));
  }
  template <class E>
    requires(!std::is_same_v<std::decay_t<E>, std::exception_ptr>)
  void set_exception(E&& error) {
    set_exception(std::make_exception_ptr(std::forward<E>(error)));
  }
  EventLoop& get_loop() const noexcept { return *state_->loop(); }
  /// Removes a callback added by add_done_callback before it was scheduled; returns how many
  /// were removed (0 or 1).
  std::size_t remove_done_callback(CallbackId id);
  /// Python's remove_done_callback(fn): removes every callback not yet scheduled that was
  /// added with a callable of fn's type equal to `fn` (a function pointer, or any
  /// equality-comparable callable); returns how many.
  template <class F>
    requires(!std::is_same_v<std::decay_t<F>, CallbackId> &&
             std::equality_comparable<std::decay_t<F>>)
  std::size_t remove_done_callback(F&& fn) {
    using Key = std::decay_t<F>;
    const Key key(std::forward<F>(fn));
    return remove_done_callbacks(typeid(Key), &key, [](const void* stored, const void* wanted) {
      return static_cast<bool>(*static_cast<const Key*>(stored) ==
                               *static_cast<const Key*>(wanted));
    });
  }

  friend bool operator==(const FutureBase& a, const FutureBase& b) noexcept {
    return a.state_ == b.state_;
  }

  /// The state; for the library's own use.
  detail::FutureStateBase* state() const noexcept { return state_; }

 protected:
  /// Adopts a state (adds a reference).
  explicit FutureBase(detail::FutureStateBase* state) noexcept : state_(state) {
    if (state_) state_->add_ref();
  }

  template <class Handle, class F>
  CallbackId add_callback(F&& fn);
  std::size_t remove_done_callbacks(const std::type_info& type, const void* key,
                                    bool (*equal)(const void* stored, const void* key));
  /// Debug mode: RuntimeError when not on the loop's thread (EventLoop::check_thread).
  void check_thread() const { state_->loop()->check_thread(); }

  detail::FutureStateBase* state_ = nullptr;
};

namespace detail {

/// A user's done callback: owned by the future's list until scheduled, then holds a reference
/// to the future until it has run.
class DoneCallbackBase : public FnCallback {
 public:
  /// It will run in a copy of the current context (contextvars.hpp).
  explicit DoneCallbackBase(FutureStateBase* state);
  virtual ~DoneCallbackBase();

  std::uint64_t serial() const noexcept { return serial_; }
  /// The stored callable when it is of type `type`, else null.
  virtual const void* callable(const std::type_info& type) const noexcept = 0;
  static bool is_done_callback(const Callback* cb) noexcept { return cb->runs(&dispatch); }
  /// Says that `awaiter` awaits the future through this callback (call graphs: shield's outer
  /// future, wait's waiter); the callable must hold a reference to it.
  void set_awaiter(FutureStateBase* awaiter) noexcept { awaiter_ = awaiter; }

 protected:
  virtual void call() = 0;
  FutureStateBase* state_;

 private:
  static bool dispatch(Callback* cb, Action action, void* found);
  std::uint64_t serial_;
  ContextData* context_;                // a count, or null: none
  FutureStateBase* awaiter_ = nullptr;  // see set_awaiter
};

template <class Handle, class F>
class DoneCallback final : public DoneCallbackBase {
 public:
  DoneCallback(FutureStateBase* state, F fn) : DoneCallbackBase(state), fn_(std::move(fn)) {}
  const void* callable(const std::type_info& type) const noexcept override {
    return type == typeid(F) ? &fn_ : nullptr;
  }

 private:
  void call() override { fn_(Handle::from_state(state_)); }
  F fn_;
};

/// Marks the done callback `id` (just added) as the way `awaiter` awaits its future.
inline void set_awaiter(CallbackId id, const FutureBase& awaiter) noexcept {
  auto* node = static_cast<const Callback*>(id.node);
  const_cast<DoneCallbackBase*>(static_cast<const DoneCallbackBase*>(node))
      ->set_awaiter(awaiter.state());
}

}  // namespace detail

template <class Handle, class F>
CallbackId FutureBase::add_callback(F&& fn) {
  using Node = detail::DoneCallback<Handle, std::decay_t<F>>;
  check_thread();
  state_->loop()->check_open();
  auto* node = new Node(state_, std::forward<F>(fn));
  state_->add_callback(node);
  return {static_cast<const detail::Callback*>(node), node->serial()};
}

/// A shared handle to one eventual result of type T (void: just completion).
///
/// Completing it schedules its done callbacks and wakes every coroutine awaiting it on a later
/// loop iteration, never inline. Many coroutines may `co_await` one future: awaiting an lvalue
/// gives a reference to the shared value; awaiting an rvalue (`co_await std::move(f)`, or a
/// temporary) gives the value itself, moved out when no other handle shares the future.
template <class T = void>
class Future : public FutureBase {
 public:
  using value_type = T;

  Future() noexcept = default;

  /// The value (a reference to the shared one). Throws CancelledError when cancelled,
  /// InvalidStateError when pending, and the exception it finished with.
  std::add_lvalue_reference_t<T> result() const {
    this->check_thread();
    state_->check_result();
    if constexpr (!std::is_void_v<T>) return detail::stored_value<T>(state_);
  }

  /// Finishes the future with a value; InvalidStateError when already done.
  template <class... V>
    requires(std::is_void_v<T> ? sizeof...(V) == 0 : std::is_constructible_v<T, V && ...>)
  void set_result(V&&... value) {
    this->check_thread();
    detail::set_value<T>(state_, std::forward<V>(value)...);
  }

  /// Schedules fn(future) once the future is done (at once when it already is), in the order
  /// callbacks were added.
  template <class F>
    requires std::is_invocable_v<F&, Future<T>>
  CallbackId add_done_callback(F&& fn) {
    return add_callback<Future<T>>(std::forward<F>(fn));
  }

  /// Awaits the future from an asyncio coroutine. `Owned`: the awaiter takes the value.
  ///
  /// A task suspended here holds a reference to the future's state (Python's _fut_waiter is a
  /// strong reference): the future lives on while the task waits, even when every handle to it
  /// is dropped or reassigned meanwhile, so that cancelling the task still reaches it.
  template <bool Owned>
  class Awaiter {
   public:
    explicit Awaiter(detail::FutureStateBase* state) noexcept
        : tagged_state_(reinterpret_cast<std::uintptr_t>(state)) {}
    Awaiter(const Awaiter&) = delete;
    Awaiter& operator=(const Awaiter&) = delete;
    // A frame destroyed while suspended here belongs to a task torn down by EventLoop::close,
    // which already took the task off the future's callbacks (FutureStateBase::forget_waiter).
    ~Awaiter() {
      if (holds_reference()) state()->release();
    }

    bool await_ready() const noexcept { return state()->done(); }
    template <detail::AsyncioPromise P>
    void await_suspend(std::coroutine_handle<P>) {
      detail::running_task()->wait_on(state());
      state()->add_ref();
      tagged_state_ |= holds_reference_bit;
    }
    decltype(auto) await_resume() {
      detail::FutureStateBase* const state = this->state();
      if (holds_reference()) {
        // Python's Task.__wakeup asks for the future's result before a pending cancellation is
        // raised instead: a failure is retrieved then, not reported as never retrieved.
        state->mark_retrieved();
        detail::running_task()->end_wait();
      }
      if constexpr (Owned) {
        // Only the awaiter's own reference is not another handle's: let it go first, unless
        // it is the last one (every handle was dropped while the task waited).
        if (holds_reference() && !state->sole_owner()) {
          state->release();
          tagged_state_ &= ~holds_reference_bit;
        }
        return detail::take_value<T>(state);
      } else {
        state->check_result();
        if constexpr (!std::is_void_v<T>) return detail::stored_value<T>(state);
      }
    }

   private:
    detail::FutureStateBase* state() const noexcept {
      return reinterpret_cast<detail::FutureStateBase*>(tagged_state_ & ~holds_reference_bit);
    }
    bool holds_reference() const noexcept { return tagged_state_ & holds_reference_bit; }

    // One word, since every frame that awaits a future holds it: the state's address, and in
    // its low bit whether the awaiter holds a reference to it (from the suspension on).
    static constexpr std::uintptr_t holds_reference_bit = 1;
    std::uintptr_t tagged_state_;
  };

  Awaiter<false> operator co_await() const& noexcept { return Awaiter<false>(state_); }
  Awaiter<true> operator co_await() && noexcept { return Awaiter<true>(state_); }

  /// A handle to `state` (adds a reference); for the library's own use.
  static Future from_state(detail::FutureStateBase* state) noexcept { return Future(state); }

 protected:
  using FutureBase::FutureBase;
};

template <class T>
Future<T> EventLoop::create_future() {
  check_open();
  check_thread();
  return Future<T>::from_state(new detail::FutureState<T>(&scheduler_));
}

}  // namespace asyncio
