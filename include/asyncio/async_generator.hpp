// asyncio::AsyncGenerator<T>: an asynchronous generator (Python's `async def` with `yield`), a
// coroutine that may both `co_await` and `co_yield`; a task steps it with `co_await gen.next()`
// and closes it early with `co_await gen.aclose()`.
//
// Implementation notes. The generator's frame runs inside the task that calls next(), exactly
// like an awaited Coro: next() joins the generator to the consumer's frame (a FrameLink that does
// not own the generator's frame) and makes it the task's current frame; a co_yield, or the end
// of the body, makes the consumer current again. TaskBase::resume_frames() does the resuming, so
// the C++ stack stays flat, an await inside the generator suspends the consuming task, and
// cancelling that task throws CancelledError at that await. Between two next() calls the frame sits
// at its co_yield and belongs to no task.
//
// As Python's loop keeps its async generators (the firstiter hook), a generator's first next()
// registers it with the running loop (AsyncGenHook), until its frame is destroyed:
// EventLoop::shutdown_asyncgens(), which asyncio::run calls before closing the loop, closes the
// generators still open, so that their destructors run while the loop still runs.
#pragma once

#include <coroutine>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "asyncio/detail/foreign_awaiter.hpp"
#include "asyncio/detail/task_base.hpp"
#include "asyncio/exceptions.hpp"

namespace asyncio {

template <class T>
class AsyncGenerator;

namespace detail {

/// A generator's entry in its loop's list of async generators (EventLoop::shutdown_asyncgens).
struct AsyncGenHook : ListHook {
  using Close = bool (*)(AsyncGenHook*) noexcept;
  explicit AsyncGenHook(Close fn) noexcept : close(fn) {}
  /// Closes the generator (destroys its frame, which unlinks the hook); false when it cannot
  /// be closed because a next() is running it.
  Close close;
};

template <class T>
class AsyncGeneratorPromise final : public PromiseBase, public AsyncGenHook, public AwaitTransform {
 public:
  using Handle = std::coroutine_handle<AsyncGeneratorPromise>;

  AsyncGeneratorPromise() noexcept : AsyncGenHook(&close_generator) {}
  ~AsyncGeneratorPromise() { unlink(); }

  AsyncGenerator<T> get_return_object() noexcept;
  std::suspend_always initial_suspend() const noexcept { return {}; }
  auto final_suspend() noexcept { return HandBack{}; }
  void return_void() noexcept {}
  void unhandled_exception() noexcept { exception_ = std::current_exception(); }

  /// `co_yield value`: the consumer moves the value out of this frame.
  auto yield_value(T&& value) noexcept {
    value_ = std::addressof(value);
    return HandBack{};
  }
  /// `co_yield lvalue`: a copy lives in the frame until the consumer takes it.
  auto yield_value(const T& value)
    requires std::copy_constructible<T>
  {
    return CopyAwaiter{T(value)};
  }

  /// Inside next(), with the consumer's frame waiting on this one.
  bool running() const noexcept { return running_; }
  /// The first next() on a loop registers the generator with it (Python's firstiter hook).
  void set_running() noexcept {
    running_ = true;
    if (!linked()) {
      if (Scheduler* scheduler = running_loop.scheduler) scheduler->asyncgens().push_back(this);
    }
  }
  /// The AsyncGenerator object that owns the frame (kept up to date as it moves).
  void set_owner(AsyncGenerator<T>* owner) noexcept { owner_ = owner; }

  /// The consumer's side of a step: the value yielded, or nullopt at the end; rethrows what
  /// the body ended with.
  std::optional<T> take() {
    if (value_) return std::optional<T>(std::move(*std::exchange(value_, nullptr)));
    if (exception_) std::rethrow_exception(std::exchange(exception_, nullptr));
    return std::nullopt;
  }

 private:
  /// Hands control back to the consumer's frame through the task's trampoline.
  struct HandBack {
    bool await_ready() const noexcept { return false; }
    void await_suspend(Handle frame) const noexcept {
      frame.promise().running_ = false;
      running_task()->leave();
    }
    void await_resume() const noexcept {}
  };

  struct CopyAwaiter {
    T copy;
    bool await_ready() const noexcept { return false; }
    void await_suspend(Handle frame) noexcept {
      frame.promise().value_ = std::addressof(copy);
      HandBack{}.await_suspend(frame);
    }
    void await_resume() const noexcept {}
  };

  // Invariant: value_ is set only while the frame is suspended at a co_yield whose value the
  // consumer has not taken yet; exception_ only once the body ended with it, until taken.
  static bool close_generator(AsyncGenHook* hook) noexcept;

  T* value_ = nullptr;
  std::exception_ptr exception_;
  AsyncGenerator<T>* owner_ = nullptr;
  bool running_ = false;  // inside next(): the consumer's frame waits on this one
};

}  // namespace detail

/// The result of an asynchronous generator function: a coroutine that may `co_await` (sleep,
/// futures, tasks, Coros) and `co_yield` values of type T. Lazy; move-only.
///
/// A task consumes it with `while (auto v = co_await gen.next())`. An exception thrown in the
/// body is rethrown by the next() that was running it. Destroying the generator, or
/// `co_await gen.aclose()`, while it is suspended at a co_yield destroys its frame: the
/// destructors of its locals run, but, unlike Python's GeneratorExit, no code after the
/// co_yield runs. It must not be destroyed while a next() is running it.
template <class T>
class [[nodiscard]] AsyncGenerator : detail::LoopBound {
  static_assert(!std::is_reference_v<T>,
                "AsyncGenerator<T&> is not supported; yield a pointer or wrapper");

 public:
  using promise_type = detail::AsyncGeneratorPromise<T>;
  using value_type = T;
  using Handle = std::coroutine_handle<promise_type>;

  AsyncGenerator() noexcept = default;
  AsyncGenerator(AsyncGenerator&& other) noexcept
      : frame_(std::exchange(other.frame_, {})), closed_(std::exchange(other.closed_, false)) {
    if (frame_) frame_.promise().set_owner(this);
  }
  AsyncGenerator& operator=(AsyncGenerator&& other) noexcept {
    if (this != &other) {
      if (frame_) frame_.destroy();
      frame_ = std::exchange(other.frame_, {});
      closed_ = std::exchange(other.closed_, false);
      if (frame_) frame_.promise().set_owner(this);
    }
    return *this;
  }
  ~AsyncGenerator() {
    if (frame_) frame_.destroy();
  }

  /// False for a moved-from generator; true for one that finished or was closed.
  explicit operator bool() const noexcept { return frame_ || closed_; }

  /// Runs the generator's frame inside the awaiting task; the frame stays the generator's.
  class NextAwaiter : detail::FrameLink {
   public:
    explicit NextAwaiter(Handle gen) noexcept : gen_(gen) {}
    NextAwaiter(const NextAwaiter&) = delete;
    NextAwaiter& operator=(const NextAwaiter&) = delete;
    bool await_ready() const noexcept { return !gen_ || gen_.done(); }
    template <detail::AsyncioPromise P>
    void await_suspend(std::coroutine_handle<P> consumer) noexcept {
      gen_.promise().set_running();
      detail::running_task()->enter(gen_, consumer, this);
    }
    std::optional<T> await_resume() const { return gen_ ? gen_.promise().take() : std::nullopt; }

   private:
    Handle gen_;
  };

  /// Python's `await anext(gen)`: runs the body inside the awaiting task up to its next
  /// co_yield, and gives that value; nullopt once the body has finished, or after aclose().
  /// RuntimeError on a moved-from generator, or while another next() is running it.
  NextAwaiter next() {
    if (!frame_) {
      if (closed_) return NextAwaiter({});
      throw RuntimeError("cannot iterate a moved-from asynchronous generator");
    }
    if (frame_.promise().running())
      throw RuntimeError("anext(): asynchronous generator is already running");
    return NextAwaiter(frame_);
  }

  /// Python's `await gen.aclose()`: destroys the frame where it is suspended, which runs the
  /// destructors of its locals (see the class comment); later next() calls give nullopt.
  /// RuntimeError while a next() is running it.
  [[nodiscard]] std::suspend_never aclose() {
    if (frame_) {
      if (frame_.promise().running())
        throw RuntimeError("aclose(): asynchronous generator is already running");
      std::exchange(frame_, {}).destroy();
      closed_ = true;
    }
    return {};
  }

 private:
  friend promise_type;
  explicit AsyncGenerator(Handle frame) noexcept : frame_(frame) {
    frame_.promise().set_owner(this);
  }

  Handle frame_;
  bool closed_ = false;  // aclose() destroyed the frame
};

template <class T>
AsyncGenerator<T> detail::AsyncGeneratorPromise<T>::get_return_object() noexcept {
  return AsyncGenerator<T>(AsyncGenerator<T>::Handle::from_promise(*this));
}

template <class T>
bool detail::AsyncGeneratorPromise<T>::close_generator(AsyncGenHook* hook) noexcept {
  auto& self = static_cast<AsyncGeneratorPromise&>(*hook);
  if (self.running_) return false;
  AsyncGenerator<T>& owner = *self.owner_;
  owner.frame_ = {};
  owner.closed_ = true;
  Handle::from_promise(self).destroy();
  return true;
}

}  // namespace asyncio
