// asyncio::AsyncGenerator<T, S>: an asynchronous generator (Python's `async def` with `yield`),
// a coroutine that may both `co_await` and `co_yield`; a task steps it with `co_await
// gen.next()` (or asend(), athrow()) and closes it early with `co_await gen.aclose()`.
//
// Implementation notes. The generator's frame runs inside the task that steps it, exactly like
// an awaited Coro: a NextAwaiter joins the generator to the consumer's frame (a FrameLink that
// does not own the generator's frame) and makes it the task's current frame; a co_yield, or the
// end of the body, makes the consumer current again. TaskBase::resume_frames() does the
// resuming, so the C++ stack stays flat, an await inside the generator suspends the consuming
// task, and cancelling that task throws CancelledError at that await. Between two steps the
// frame sits at its co_yield and belongs to no task. athrow() and aclose() leave the exception
// in the promise's exception_ slot, which the co_yield rethrows when resumed; asend() leaves the
// address of its value, which the co_yield of a generator with a send type takes.
//
// As Python's loop keeps its async generators (the firstiter hook), a generator's first step
// registers it with the running loop (AsyncGenHook), until its frame is destroyed:
// EventLoop::shutdown_asyncgens(), which asyncio::run calls before closing the loop, closes the
// generators still open with aclose(), so that their cleanup runs while the loop still runs.
#pragma once

#include <cassert>
#include <coroutine>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "asyncio/coro.hpp"
#include "asyncio/detail/foreign_awaiter.hpp"
#include "asyncio/detail/task_base.hpp"
#include "asyncio/exceptions.hpp"

namespace asyncio {

/// An asynchronous generator yielding T's; `co_yield v` evaluates to a std::optional<S> when S
/// is not void: the value asend() passed, or nullopt when next() resumed it (Python's None).
template <class T, class S = void>
class AsyncGenerator;

namespace detail {

/// A generator's entry in its loop's list of async generators (EventLoop::shutdown_asyncgens).
struct AsyncGenHook : ListHook {
  using Close = Coro<void> (*)(AsyncGenHook*);
  explicit AsyncGenHook(Close fn) noexcept : close(fn) {}
  /// The generator's aclose(), to await at once (the hook may be gone later): its cleanup runs;
  /// the frame is destroyed, which unlinks the hook.
  Close close;
};

/// The parameter type of asend() in a generator without a send type (asend() is not there).
struct NoAsend {};

template <class T, class S>
class AsyncGeneratorPromise final : public PromiseBase, public AsyncGenHook, public AwaitTransform {
 public:
  using Handle = std::coroutine_handle<AsyncGeneratorPromise>;
  /// What `co_yield value` evaluates to.
  using resumed = std::conditional_t<std::is_void_v<S>, void, std::optional<S>>;

  AsyncGeneratorPromise() noexcept : AsyncGenHook(&close_generator) {}
  ~AsyncGeneratorPromise() { unlink(); }

  AsyncGenerator<T, S> get_return_object() noexcept;
  std::suspend_always initial_suspend() const noexcept { return {}; }
  auto final_suspend() noexcept { return HandBack{}; }
  void return_void() noexcept {}
  void unhandled_exception() noexcept { exception_ = std::current_exception(); }

  /// `co_yield value`: the consumer moves the value out of this frame.
  auto yield_value(T&& value) noexcept {
    value_ = std::addressof(value);
    return YieldAwaiter{this};
  }
  /// `co_yield lvalue`: a copy lives in the frame until the consumer takes it.
  auto yield_value(const T& value)
    requires std::copy_constructible<T>
  {
    return CopyAwaiter(value, this);
  }

  /// Inside a step, with the consumer's frame waiting on this one.
  bool running() const noexcept { return running_; }
  /// Asked for no value yet (Python's "just started").
  bool started() const noexcept { return started_; }
  /// Before a step: the first one registers the generator with the running loop (Python's
  /// firstiter hook).
  void set_running() noexcept {
    running_ = true;
    if (!started_) {
      started_ = true;
      if (Scheduler* scheduler = running_loop.scheduler) scheduler->asyncgens().push_back(this);
    }
  }
  /// The AsyncGenerator object that owns the frame (kept up to date as it moves).
  void set_owner(AsyncGenerator<T, S>* owner) noexcept { owner_ = owner; }
  /// Before a step: what the co_yield it resumes is to throw, or the value it is to give.
  void set_pending(std::exception_ptr error, void* sent) noexcept {
    exception_ = std::move(error);
    sent_ = sent;
  }

  /// The consumer's side of a step: the value yielded, or nullopt at the end; rethrows what
  /// the body ended with.
  std::optional<T> take() {
    sent_ = nullptr;  // a step that did not resume a co_yield (the first) left it
    if (value_) return std::optional<T>(std::move(*std::exchange(value_, nullptr)));
    if (exception_) std::rethrow_exception(std::exchange(exception_, nullptr));
    return std::nullopt;
  }
  /// After aclose() resumed the frame: true when the body yielded instead of finishing (the
  /// value is dropped); otherwise what it ended with, and the frame is destroyed.
  bool yielded_again() noexcept {
    sent_ = nullptr;
    return std::exchange(value_, nullptr) != nullptr;
  }
  std::exception_ptr take_exception() noexcept { return std::exchange(exception_, nullptr); }
  /// Destroys the frame and leaves the owner closed (aclose(), athrow() before the first step).
  void destroy_closed() noexcept;

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

  /// A co_yield: hands back, and when resumed, throws what athrow()/aclose() left, or gives
  /// what asend() passed.
  struct YieldAwaiter : HandBack {
    AsyncGeneratorPromise* self;
    explicit YieldAwaiter(AsyncGeneratorPromise* p) noexcept : self(p) {}
    resumed await_resume() const {
      if (self->exception_) [[unlikely]]
        std::rethrow_exception(std::exchange(self->exception_, nullptr));
      if constexpr (!std::is_void_v<S>) {
        if (void* sent = std::exchange(self->sent_, nullptr)) {
          return std::optional<S>(std::move(*static_cast<S*>(sent)));
        }
        return std::nullopt;
      }
    }
  };

  struct CopyAwaiter : YieldAwaiter {
    T copy;
    CopyAwaiter(const T& value, AsyncGeneratorPromise* p) : YieldAwaiter(p), copy(value) {}
    void await_suspend(Handle frame) noexcept {
      frame.promise().value_ = std::addressof(copy);
      HandBack::await_suspend(frame);
    }
  };

  static Coro<void> close_generator(AsyncGenHook* hook);

  // Invariant: value_ is set only while the frame is suspended at a co_yield whose value the
  // consumer has not taken yet; exception_ once the body ended with it, until taken, or while
  // a step is about to resume a co_yield that is to throw it; sent_ only during an asend().
  T* value_ = nullptr;
  std::exception_ptr exception_;
  void* sent_ = nullptr;
  AsyncGenerator<T, S>* owner_ = nullptr;
  bool running_ = false;  // inside a step: the consumer's frame waits on this one
  bool started_ = false;  // a step began (the generator is registered with a loop)
};

}  // namespace detail

/// The result of an asynchronous generator function: a coroutine that may `co_await` (sleep,
/// futures, tasks, Coros) and `co_yield` values of type T. Lazy; move-only.
///
/// A task consumes it with `while (auto v = co_await gen.next())`. An exception thrown in the
/// body is rethrown by the step (next(), asend(), athrow()) that was running it.
/// `co_await gen.aclose()` throws GeneratorExit at the co_yield where it is suspended, so its
/// cleanup runs, and may await, as in Python. Destroying the generator while it is suspended
/// only destroys its frame: the destructors of its locals run, no code after the co_yield does.
/// It must not be destroyed while a step is running it.
template <class T, class S>
class [[nodiscard]] AsyncGenerator : detail::LoopBound {
  static_assert(!std::is_reference_v<T>,
                "AsyncGenerator<T&> is not supported; yield a pointer or wrapper");
  static_assert(!std::is_reference_v<S>,
                "AsyncGenerator<T, S&> is not supported; send a pointer or wrapper");

 public:
  using promise_type = detail::AsyncGeneratorPromise<T, S>;
  using value_type = T;
  using send_type = S;
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

 private:
  /// Runs the generator's frame inside the awaiting task, resuming its co_yield with `error`
  /// to throw or `sent` to give; the frame stays the generator's. The frame is looked up when
  /// the awaiter is awaited, not when it is made (Python's checks run at the await too): by
  /// then aclose() may have destroyed it, or another task may be running it. An awaiter is
  /// awaited once; it refers to its generator, which must not be moved meanwhile.
  class Step : detail::FrameLink {
   public:
    /// `owner`: null for a moved-from generator's (which gives nullopt); `what`: the method, for
    /// the errors ("anext", "athrow", "aclose").
    Step(AsyncGenerator* owner, std::exception_ptr error, void* sent, const char* what) noexcept
        : owner_(owner), error_(std::move(error)), sent_(sent), what_(what) {}
    /// Until it is awaited an awaiter may be moved, as a plain awaiter may (wait_for, gather
    /// and shield take it by value: Python's `wait_for(anext(gen), t)`).
    Step(Step&& other) noexcept
        : owner_(other.owner_),
          error_(std::move(other.error_)),
          sent_(other.sent_),
          what_(other.what_),
          awaited_(other.awaited_) {
      assert(!awaited_);
    }
    Step& operator=(Step&&) = delete;
    template <detail::AsyncioPromise P>
    void await_suspend(std::coroutine_handle<P> consumer) noexcept {
      promise_type& p = gen_.promise();
      p.set_running();
      p.set_pending(std::exchange(error_, nullptr), sent_);
      set_inner(gen_, false);
      detail::running_task()->enter(consumer, this);
    }

   protected:
    /// await_ready's first part: takes the generator's frame now (null once it is closed or
    /// finished and destroyed). RuntimeError when this awaiter was awaited before, or while
    /// another step runs the generator.
    void take_frame() {
      if (std::exchange(awaited_, true)) {  // (error_ was handed to the frame by then)
        throw RuntimeError(std::string_view(what_) == "anext"
                               ? "cannot reuse already awaited __anext__()/asend()"
                               : "cannot reuse already awaited aclose()/athrow()");
      }
      gen_ = owner_ ? owner_->frame_ : Handle{};
      if (gen_ && gen_.promise().running())
        throw RuntimeError(std::string(what_) + "(): asynchronous generator is already running");
    }

    AsyncGenerator* owner_;
    Handle gen_;  // set by take_frame()
    std::exception_ptr error_;
    void* sent_;
    const char* what_;
    bool awaited_ = false;
  };

 public:
  /// What next(), asend() and athrow() give to co_await: the next value, or nullopt once the
  /// body has finished.
  class NextAwaiter : public Step {
   public:
    using Step::Step;
    bool await_ready() {
      this->take_frame();
      if (!this->gen_ || this->gen_.done()) return true;
      // athrow() before the first step: nothing runs (await_resume throws).
      return this->error_ && !this->gen_.promise().started();
    }
    std::optional<T> await_resume() {
      if (!this->gen_) return std::nullopt;
      promise_type& p = this->gen_.promise();
      if (this->error_) {  // not run: athrow() on a generator not started, or finished
        if (this->gen_.done()) return std::nullopt;
        p.destroy_closed();
        std::rethrow_exception(std::move(this->error_));
      }
      return p.take();
    }
  };

  /// What aclose() gives to co_await.
  class CloseAwaiter : public Step {
   public:
    explicit CloseAwaiter(AsyncGenerator* owner)
        : Step(owner, std::make_exception_ptr(GeneratorExit()), {}, "aclose") {}
    bool await_ready() {
      this->take_frame();
      return !this->gen_ || this->gen_.done() || !this->gen_.promise().started();
    }
    void await_resume() {
      if (!this->gen_) return;
      promise_type& p = this->gen_.promise();
      if (!this->error_ && p.yielded_again()) {  // it ran, and yielded
        throw RuntimeError("async generator ignored GeneratorExit");
      }
      std::exception_ptr error = p.take_exception();
      p.destroy_closed();
      if (error && !holds<GeneratorExit>(error)) std::rethrow_exception(std::move(error));
    }
  };

  /// Python's `await anext(gen)` (and `await gen.asend(None)`): runs the body inside the
  /// awaiting task up to its next co_yield, and gives that value; nullopt once the body has
  /// finished, or after aclose(). RuntimeError on a moved-from generator, or while another
  /// step is running it.
  NextAwaiter next() {
    if (!frame_ && !closed_)
      throw RuntimeError("cannot iterate a moved-from asynchronous generator");
    if (frame_ && frame_.promise().running())
      throw RuntimeError("anext(): asynchronous generator is already running");
    return NextAwaiter(this, {}, {}, "anext");
  }

  /// Python's `await gen.asend(value)`: as next(), with `value` as the result of the co_yield
  /// the body is suspended at. A generator that has not started must be started with next():
  /// RuntimeError (Python's TypeError). The value is kept in the awaiter; when the generator has
  /// finished, it is dropped and the result is nullopt.
  auto asend(std::conditional_t<std::is_void_v<S>, detail::NoAsend, S> value)
    requires(!std::is_void_v<S>)
  {
    struct AsendAwaiter : NextAwaiter {
      S value;
      AsendAwaiter(AsyncGenerator* owner, S v)
          : NextAwaiter(owner, {}, {}, "anext"), value(std::move(v)) {
        this->sent_ = std::addressof(value);
      }
      AsendAwaiter(AsendAwaiter&& other) noexcept(std::is_nothrow_move_constructible_v<S>)
          : NextAwaiter(std::move(other)), value(std::move(other.value)) {
        this->sent_ = std::addressof(value);
      }
    };
    if (!frame_) {
      if (closed_) return AsendAwaiter(this, std::move(value));
      throw RuntimeError("cannot iterate a moved-from asynchronous generator");
    }
    promise_type& p = frame_.promise();
    if (p.running()) throw RuntimeError("anext(): asynchronous generator is already running");
    if (!p.started() && !frame_.done()) {
      throw RuntimeError("can't send non-None value to a just-started async generator");
    }
    return AsendAwaiter(this, std::move(value));
  }

  /// Python's `await gen.athrow(error)`: throws `error` at the co_yield where the body is
  /// suspended, runs it inside the awaiting task, and gives the next value it yields, or
  /// nullopt when it finishes; what it does not catch comes out of the co_await. On a
  /// generator not started yet, throws `error` at once and closes it; on one that has finished
  /// (or was closed), gives nullopt, as Python's does. RuntimeError while another step runs it.
  NextAwaiter athrow(std::exception_ptr error) {
    if (!error) throw std::invalid_argument("athrow(): no exception given");
    if (!frame_ && !closed_)
      throw RuntimeError("cannot iterate a moved-from asynchronous generator");
    if (!frame_) return NextAwaiter(this, {}, {}, "athrow");  // closed: nothing is thrown
    if (frame_.promise().running())
      throw RuntimeError("athrow(): asynchronous generator is already running");
    return NextAwaiter(this, std::move(error), {}, "athrow");
  }
  /// athrow() with an exception object: `co_await gen.athrow(std::runtime_error("x"))`.
  template <class E>
    requires(!std::is_same_v<std::remove_cvref_t<E>, std::exception_ptr>)
  NextAwaiter athrow(E&& error) {
    return athrow(std::make_exception_ptr(std::forward<E>(error)));
  }

  /// Python's `await gen.aclose()`: throws GeneratorExit at the co_yield where the body is
  /// suspended and runs it inside the awaiting task, so its handlers and cleanup run, and may
  /// await; then destroys the frame. Normal when the body ends (by GeneratorExit or
  /// otherwise); another exception it throws comes out of the co_await;
  /// RuntimeError("async generator ignored GeneratorExit") when it yields instead (it stays
  /// suspended there). A generator not started, or finished, is only destroyed; a closed one
  /// is left alone. Later steps give nullopt. RuntimeError while another step is running it.
  CloseAwaiter aclose() {
    if (frame_ && frame_.promise().running())
      throw RuntimeError("aclose(): asynchronous generator is already running");
    return CloseAwaiter(frame_ || closed_ ? this : nullptr);
  }

 private:
  friend promise_type;
  explicit AsyncGenerator(Handle frame) noexcept : frame_(frame) {
    frame_.promise().set_owner(this);
  }

  Handle frame_;
  bool closed_ = false;  // aclose() destroyed the frame
};

template <class T, class S>
AsyncGenerator<T, S> detail::AsyncGeneratorPromise<T, S>::get_return_object() noexcept {
  return AsyncGenerator<T, S>(AsyncGenerator<T, S>::Handle::from_promise(*this));
}

template <class T, class S>
void detail::AsyncGeneratorPromise<T, S>::destroy_closed() noexcept {
  AsyncGenerator<T, S>& owner = *owner_;
  owner.frame_ = {};
  owner.closed_ = true;
  Handle::from_promise(*this).destroy();
}

template <class T, class S>
Coro<void> detail::AsyncGeneratorPromise<T, S>::close_generator(AsyncGenHook* hook) {
  co_await static_cast<AsyncGeneratorPromise&>(*hook).owner_->aclose();
}

}  // namespace asyncio
