// asyncio::Coro<T>: what a coroutine function returns (Python's `async def`). Lazy: calling the
// function runs nothing; `co_await` runs it inside the awaiting task and gives its value or
// rethrows its exception; create_task runs it as a Task of its own.
#pragma once

#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "asyncio/detail/foreign_awaiter.hpp"
#include "asyncio/detail/task_base.hpp"
#include "asyncio/exceptions.hpp"

namespace asyncio {

template <class T = void>
class Coro;

namespace detail {

/// Hands control back to the awaiting frame (or ends the task) through TaskBase::step.
struct FinalAwaiter {
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<>) const noexcept { running_task()->leave(); }
  void await_resume() const noexcept {}
};

/// `co_await EndWithError(error)` in a Coro's body ends it as if `error` had been thrown out of
/// the body, without the throw (an unwind costs microseconds): the awaiting frame runs next and
/// rethrows it. The frame stays suspended there until its owner destroys it, which then
/// destroys its locals. `error` must not be null.
class EndWithError {
 public:
  // A constructor, not an aggregate: g++ 12 destroys an aggregate temporary co_await operand
  // twice.
  explicit EndWithError(std::exception_ptr error) noexcept : error_(std::move(error)) {}
  bool await_ready() const noexcept { return false; }
  template <AsyncioPromise P>
  void await_suspend(std::coroutine_handle<P> self) noexcept {
    self.promise().exception_ = std::move(error_);
    running_task()->leave();
  }
  void await_resume() const noexcept {}

 private:
  std::exception_ptr error_;
};

template <class T>
struct CoroPromiseStorage : PromiseBase {
  template <class V>
    requires std::is_convertible_v<V&&, T>
  void return_value(V&& value) {
    value_.emplace(std::forward<V>(value));
  }
  T take() {
    if (exception_) std::rethrow_exception(std::move(exception_));
    return std::move(*value_);
  }
  std::optional<T> value_;
  std::exception_ptr exception_;
};

template <>
struct CoroPromiseStorage<void> : PromiseBase {
  void return_void() noexcept {}
  void take() {
    if (exception_) std::rethrow_exception(std::move(exception_));
  }
  std::exception_ptr exception_;
};

template <class T>
struct CoroPromise final : CoroPromiseStorage<T>, AwaitTransform {
  Coro<T> get_return_object() noexcept;
  std::suspend_always initial_suspend() const noexcept { return {}; }
  FinalAwaiter final_suspend() const noexcept { return {}; }
  void unhandled_exception() noexcept { this->exception_ = std::current_exception(); }
};

}  // namespace detail

/// The result of an asyncio coroutine function. Move-only; awaited at most once.
template <class T>
class [[nodiscard]] Coro {
  static_assert(!std::is_reference_v<T>, "Coro<T&> is not supported; return a pointer or wrapper");

 public:
  using promise_type = detail::CoroPromise<T>;
  using value_type = T;
  using Handle = std::coroutine_handle<promise_type>;

  Coro() noexcept = default;
  Coro(Coro&& other) noexcept : frame_(std::exchange(other.frame_, {})) {}
  Coro& operator=(Coro&& other) noexcept {
    if (this != &other) {
      if (frame_) frame_.destroy();
      frame_ = std::exchange(other.frame_, {});
    }
    return *this;
  }
  ~Coro() {
    if (frame_) frame_.destroy();
  }

  /// False for a moved-from Coro, or once awaited or handed to a task.
  explicit operator bool() const noexcept { return static_cast<bool>(frame_); }

  /// Runs the child frame inside the awaiting task. It owns the child from the moment the
  /// Coro hands it over (operator co_await) until it is destroyed, unless the task's teardown
  /// destroyed the child first (it then disowns it).
  class Awaiter : detail::FrameLink {
   public:
    explicit Awaiter(Handle child) noexcept { set_inner(child, true); }
    Awaiter(const Awaiter&) = delete;
    Awaiter& operator=(const Awaiter&) = delete;
    ~Awaiter() {
      if (owns_inner()) inner().destroy();
    }
    bool await_ready() const noexcept { return false; }
    template <detail::AsyncioPromise P>
    void await_suspend(std::coroutine_handle<P> parent) noexcept {
      detail::running_task()->enter(parent, this);
    }
    T await_resume() const { return Handle::from_address(inner().address()).promise().take(); }
  };

  /// Runs the coroutine inside the awaiting task; the Coro is empty afterwards. RuntimeError
  /// when it was already awaited, handed to a task, or moved from (Python: "cannot reuse
  /// already awaited coroutine").
  Awaiter operator co_await() & { return Awaiter(release()); }
  Awaiter operator co_await() && { return Awaiter(release()); }

  /// Gives up ownership of the frame (create_task takes it this way). RuntimeError when empty.
  Handle release() {
    if (!frame_) throw RuntimeError("cannot reuse already awaited coroutine");
    return std::exchange(frame_, {});
  }

 private:
  friend promise_type;
  explicit Coro(Handle frame) noexcept : frame_(frame) {}

  Handle frame_;
};

template <class T>
Coro<T> detail::CoroPromise<T>::get_return_object() noexcept {
  return Coro<T>(Coro<T>::Handle::from_promise(*this));
}

}  // namespace asyncio
