// asyncio::Generator<T, R, S>: a synchronous generator (Python's `def` with `yield`), an input
// range whose values a coroutine produces lazily with `co_yield`, with Python's send(), throw()
// and close(), and a return value; and asyncio::yield_from, Python's `yield from`, which hands
// iteration over to a nested generator or any range.
//
// Implementation notes. The generators of one iteration form a stack: the root (the one the
// consumer iterates) and the nested ones it delegates to, each suspended at its `co_yield
// yield_from(...)`. The root's promise knows the innermost one (leaf_), and the consumer always
// resumes that frame directly, from one loop in advance(): a yielded value leaves leaf_ as it
// was; delegating makes the nested generator the leaf; a nested generator that finishes makes
// its parent the leaf again. Symmetric transfer would chain those resumes with tail calls, but
// g++ 12 emits none at -O0 or under ASan (see task_base.hpp); with this loop a value costs one
// resume of its own frame at any depth, and the C++ stack stays flat. The root owns the whole
// stack and destroys it leaf first, so destroying a deep one does not recurse either.
//
// The frames of a stack may have different return and send types, so the stack is kept in the
// part of the promise that depends on the value type only (GeneratorFrame<T>). send(), throw_()
// and close() act on the leaf, as Python's `yield from` forwards them to the innermost
// generator: throw_() and close() leave the exception in the leaf's exception_ slot, which its
// co_yield rethrows when resumed (one test of a hot field per value); send() leaves the address
// of the value in the root, which a co_yield of a generator with a send type takes.
#pragma once

#include <concepts>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "asyncio/detail/frame_allocator.hpp"
#include "asyncio/exceptions.hpp"

namespace asyncio {

/// A generator yielding T; `co_return r;` ends one whose R is not void (Python's `return r`),
/// and `co_yield v` evaluates to a std::optional<S> when S is not void: the value send() passed,
/// or nullopt when next() or the iteration resumed it (Python's None).
template <class T, class R = void, class S = void>
class Generator;

/// What `co_yield yield_from(r)` delegates to: Python's `yield from r`. Holds a reference to `r`,
/// which lives until the delegation is over (the co_yield's full-expression includes it).
template <std::ranges::input_range R>
struct YieldFrom {
  R&& range;
};

/// `co_yield asyncio::yield_from(g)` inside a Generator<T> yields every value of `g` (another
/// Generator<T, R2, S2>, or any input range whose elements convert to T), then goes on; its
/// value is what `g` returned (an R2), as Python's `x = yield from g`.
template <std::ranges::input_range R>
YieldFrom<R> yield_from(R&& range) noexcept {
  return YieldFrom<R>{std::forward<R>(range)};
}

namespace detail {

template <class G>
struct GeneratorTraits : std::false_type {};
template <class T, class R, class S>
struct GeneratorTraits<Generator<T, R, S>> : std::true_type {
  using yield_type = T;
  using return_type = R;
  using send_type = S;
};

/// A Generator whose values are T's: what yield_from hands a stack of Generator<T>'s.
template <class G, class T>
concept GeneratorOf = GeneratorTraits<std::remove_cvref_t<G>>::value &&
                      std::same_as<typename GeneratorTraits<std::remove_cvref_t<G>>::yield_type, T>;

/// The parameter type of send() in a generator without a send type (send() is not there).
struct NoSend {};

/// The part of a generator's promise that depends on its value type only: what every frame of
/// a delegation stack has, whatever its return and send types. Used by Generator and
/// GeneratorPromise only.
template <class T>
class GeneratorFrame : public PooledFrame {
 public:
  /// What a consumer gets for each value: T&& for a value type (it may move it out), the
  /// reference itself for Generator<T&>.
  using yielded = std::conditional_t<std::is_reference_v<T>, T, T&&>;

  explicit GeneratorFrame(std::coroutine_handle<> self) noexcept : leaf_(self), self_(self) {}
  GeneratorFrame(const GeneratorFrame&) = delete;
  GeneratorFrame& operator=(const GeneratorFrame&) = delete;

  std::suspend_always initial_suspend() const noexcept { return {}; }
  void unhandled_exception() noexcept { exception_ = std::current_exception(); }

  /// A generator cannot co_await: it runs inside whoever iterates it (see AsyncGenerator).
  template <class A>
  void await_transform(A&&) = delete;

  /// Root only: resumes the stack until the next value or the end; rethrows what the root
  /// ended with. std::invalid_argument (Python's ValueError) when called from inside the
  /// generator's own body: resuming a running coroutine is undefined.
  void advance() {
    check_not_running();
    running_ = true;
    struct Done {
      bool& running;
      ~Done() { running = false; }
    } done{running_};
    for (;;) {
      std::coroutine_handle<> leaf = leaf_;
      leaf.resume();
      if (leaf_ == leaf) return;  // the leaf yielded a value
      if (!leaf_) {
        if (exception_) std::rethrow_exception(std::exchange(exception_, nullptr));
        return;
      }
      // A generator was pushed or popped: resume the new leaf.
    }
  }

  /// Root only: Python's "generator already executing".
  void check_not_running() const {
    if (running_) [[unlikely]]
      throw std::invalid_argument("generator already executing");
  }

  /// Root only: resumes the leaf with `error` thrown at its co_yield (throw_, close).
  void advance_throwing(std::exception_ptr error) {
    leaf_frame_->exception_ = std::move(error);
    advance();
  }

  /// Root only: ends a generator that never ran (throw_ and close on a just-started one); its
  /// frame stays until the Generator is destroyed.
  void finish_unstarted() noexcept {
    leaf_ = nullptr;
    leaf_frame_ = nullptr;
  }

  /// Root only: marks the frames of the stack as closed by close() (or clears the marks): a
  /// delegating frame whose child was closed gets GeneratorExit when the child finishes.
  void mark_closing(bool closing) noexcept {
    for (GeneratorFrame* f = leaf_frame_; f; f = f->parent_) f->closing_ = closing;
  }

  /// Root only, in close(), after a frame yielded instead of finishing. Python's `yield from`
  /// closes the nested generator with its close(): the innermost generator being closed that
  /// yielded (the deepest marked frame) makes that close() fail, so RuntimeError("generator
  /// ignored GeneratorExit") is raised in its parent, at the delegation, and the generator is
  /// dropped (its frame and those below it are destroyed). Resumes the parent; false, and
  /// nothing done, when that generator is the root (close() throws the RuntimeError itself).
  bool fail_nested_close() {
    GeneratorFrame* ignoring = leaf_frame_;
    while (!ignoring->closing_) ignoring = ignoring->parent_;  // the root is marked
    if (ignoring == this) return false;
    for (GeneratorFrame* f = leaf_frame_; f != ignoring;) {
      GeneratorFrame* parent = f->parent_;
      f->self_.destroy();
      f = parent;
    }
    GeneratorFrame* parent = ignoring->parent_;  // its DelegateAwaiter destroys `ignoring`
    parent->exception_ = std::make_exception_ptr(RuntimeError("generator ignored GeneratorExit"));
    leaf_frame_ = parent;
    leaf_ = parent->self_;
    advance();
    return true;
  }

  /// Root only: destroys the stack, innermost frame first, then the root itself.
  void destroy_stack() noexcept {
    GeneratorFrame* frame = leaf_frame_ ? leaf_frame_ : this;
    while (frame) {
      GeneratorFrame* parent = frame->parent_;
      frame->self_.destroy();
      frame = parent;
    }
  }

  /// At a co_yield that was resumed by throw_() or close(): throws what they left. Out of line,
  /// so that the resumption of every co_yield stays a test and a branch.
  [[noreturn, gnu::cold, gnu::noinline]] void throw_at_yield() {
    std::rethrow_exception(std::exchange(exception_, nullptr));
  }

  bool done() const noexcept { return !leaf_; }
  /// Root only: no value was asked for yet (Python's GEN_CREATED).
  bool just_started() const noexcept { return !value_ && leaf_; }
  yielded value() const noexcept { return static_cast<yielded>(*value_); }

  /// Hands back to the parent, or ends the iteration (the root has no parent).
  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <class P>
    void await_suspend(std::coroutine_handle<P> frame) const noexcept {
      GeneratorFrame& self = frame.promise();
      GeneratorFrame* root = self.root_;
      GeneratorFrame* parent = self.parent_;
      root->leaf_frame_ = parent;
      root->leaf_ = parent ? parent->self_ : std::coroutine_handle<>();
    }
    void await_resume() const noexcept {}
  };

  /// Makes `child`, a generator that may have its own stack (it was advanced with next()),
  /// the leaf of this frame's stack.
  void push(GeneratorFrame& child) noexcept {
    GeneratorFrame* root = root_;
    for (GeneratorFrame* f = child.leaf_frame_; f != &child; f = f->parent_) f->root_ = root;
    root->leaf_ = child.leaf_;
    root->leaf_frame_ = child.leaf_frame_;
    child.root_ = root;
    child.parent_ = this;
  }

  // Invariant: leaf_, leaf_frame_, value_ and sent_ are meaningful in the root only;
  // parent_ is null in the root only; every frame of a stack has root_ pointing at the root's
  // promise. While a frame is suspended at a co_yield, exception_ is null unless throw_() or
  // close() put there what the co_yield is to throw; at a co_yield yield_from(...), unless
  // close() put there what the delegation is to throw instead (fail_nested_close).
  std::coroutine_handle<> leaf_;                 // innermost active frame; null once finished
  std::add_pointer_t<yielded> value_ = nullptr;  // the value the leaf yielded last
  GeneratorFrame* leaf_frame_ = this;            // the promise of leaf_
  GeneratorFrame* root_ = this;
  GeneratorFrame* parent_ = nullptr;  // the frame that delegates to this one
  std::coroutine_handle<> self_;      // this frame
  std::exception_ptr exception_;      // what this frame ended with, until its parent takes it
  void* sent_ = nullptr;              // the value send() passes, until the leaf takes it
  bool iterated_ = false;             // begin() or yield_from claimed the root
  bool closing_ = false;              // close() threw GeneratorExit into this frame's stack
  bool running_ = false;              // root only: inside advance()
};

/// Where a generator keeps what it returned.
template <class T, class R>
class GeneratorReturn : public GeneratorFrame<T> {
 public:
  using GeneratorFrame<T>::GeneratorFrame;
  template <class V>
    requires std::is_convertible_v<V&&, R>
  void return_value(V&& value) {
    returned_.emplace(std::forward<V>(value));
  }
  std::optional<R> returned_;
};

template <class T>
class GeneratorReturn<T, void> : public GeneratorFrame<T> {
 public:
  using GeneratorFrame<T>::GeneratorFrame;
  void return_void() noexcept {}
};

template <class T, class R, class S>
class GeneratorPromise final : public GeneratorReturn<T, R> {
  using Frame = GeneratorFrame<T>;

 public:
  using typename Frame::yielded;
  using Handle = std::coroutine_handle<GeneratorPromise>;
  /// What `co_yield value` evaluates to.
  using resumed = std::conditional_t<std::is_void_v<S>, void, std::optional<S>>;

  GeneratorPromise() noexcept : GeneratorReturn<T, R>(Handle::from_promise(*this)) {}

  Generator<T, R, S> get_return_object() noexcept;
  typename Frame::FinalAwaiter final_suspend() noexcept { return {}; }

  /// The resumption of a co_yield: throws what throw_() or close() left, or gives what send()
  /// passed.
  struct Resume {
    Frame* self;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<>) const noexcept {}
    resumed await_resume() const {
      if (self->exception_) [[unlikely]]
        self->throw_at_yield();
      if constexpr (!std::is_void_v<S>) {
        if (void* sent = std::exchange(self->root_->sent_, nullptr)) {
          return std::optional<S>(std::move(*static_cast<S*>(sent)));
        }
        return std::nullopt;
      }
    }
  };

  /// `co_yield value`: the consumer reads the value where it is, in this frame.
  Resume yield_value(yielded value) noexcept {
    this->root_->value_ = std::addressof(value);
    return Resume{this};
  }

  /// `co_yield lvalue` in a Generator<T> of values: a copy lives in the frame while suspended.
  auto yield_value(const std::remove_reference_t<yielded>& value)
    requires std::is_rvalue_reference_v<yielded> &&
             std::constructible_from<std::remove_cvref_t<yielded>,
                                     const std::remove_reference_t<yielded>&>
  {
    return CopyAwaiter(value, this);
  }

  /// `co_yield yield_from(g)` with a generator of T's: `g` becomes the leaf of this stack.
  template <GeneratorOf<T> G>
  auto yield_value(YieldFrom<G> from) {
    using Child = std::remove_cvref_t<G>;
    static_assert(
        std::is_void_v<typename Child::send_type> || std::is_same_v<typename Child::send_type, S>,
        "yield_from: the nested generator's send type must be void or the same as the "
        "delegating generator's");
    return DelegateAwaiter<typename Child::promise_type>(from.range.claim(), this);
  }

  /// `co_yield yield_from(r)` with any other range: a nested generator iterates it.
  template <class Range>
  auto yield_value(YieldFrom<Range> from) {
    return DelegateAwaiter<GeneratorPromise<T, void, void>>(
        elements(std::forward<Range>(from.range)).claim(), this);
  }

 private:
  struct CopyAwaiter : Resume {
    std::remove_cvref_t<yielded> copy;
    CopyAwaiter(const std::remove_reference_t<yielded>& value, Frame* self)
        : Resume{self}, copy(value) {}
    void await_suspend(std::coroutine_handle<>) noexcept {
      this->self->root_->value_ = std::addressof(copy);
    }
  };

  /// Suspends the delegating frame under `child`; when the child finishes, the consumer's loop
  /// resumes this frame, which destroys the child, rethrows what it ended with, or gives what
  /// it returned. During close(), a child that finished makes GeneratorExit go on in its parent,
  /// as Python's `yield from` does.
  template <class ChildPromise>
  struct DelegateAwaiter {
    std::coroutine_handle<ChildPromise> child;
    Frame* parent;
    DelegateAwaiter(std::coroutine_handle<ChildPromise> c, Frame* p) noexcept
        : child(c), parent(p) {}
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<>) const noexcept { parent->push(child.promise()); }
    auto await_resume() const {
      struct Destroy {
        std::coroutine_handle<> frame;
        ~Destroy() { frame.destroy(); }
      } destroy{child};
      if (parent->exception_) [[unlikely]]  // the child was dropped (fail_nested_close)
        std::rethrow_exception(std::exchange(parent->exception_, nullptr));
      std::exception_ptr error = std::exchange(child.promise().exception_, nullptr);
      if (error) std::rethrow_exception(std::move(error));
      if (child.promise().closing_) throw GeneratorExit();
      if constexpr (requires { child.promise().returned_; }) {
        return std::move(*child.promise().returned_);
      }
    }
  };

  template <class Range>
  static Generator<T> elements(Range range);
};

}  // namespace detail

/// A coroutine that produces values with `co_yield`, lazily: Python's generator. An input range
/// (range-for, std::ranges views) and a `next()` step; `send()`, `throw_()` and `close()` as
/// Python's; `return_value()` once the body ended with `co_return r`. Move-only; iterated at
/// most once.
///
/// An exception thrown in the body is rethrown where the consumer steps it (begin(), ++,
/// next(), send(), throw_()). Destroying the generator before it finished destroys its frames
/// (and those of the generators it delegates to), which runs the destructors of their locals;
/// close() runs the code after the co_yield too.
template <class T, class R, class S>
class [[nodiscard]] Generator {
  static_assert(!std::is_reference_v<R>, "Generator<T, R&> is not supported; return a pointer");
  static_assert(!std::is_reference_v<S>, "Generator<T, R, S&> is not supported; send a pointer");

 public:
  using promise_type = detail::GeneratorPromise<T, R, S>;
  using value_type = std::remove_cvref_t<T>;
  using reference = typename promise_type::yielded;
  using return_type = R;
  using send_type = S;
  using Handle = std::coroutine_handle<promise_type>;

  class iterator {
   public:
    using value_type = Generator::value_type;
    using difference_type = std::ptrdiff_t;
    using iterator_concept = std::input_iterator_tag;

    iterator() noexcept = default;
    iterator(iterator&& other) noexcept : frame_(std::exchange(other.frame_, {})) {}
    iterator& operator=(iterator&& other) noexcept {
      frame_ = std::exchange(other.frame_, {});
      return *this;
    }

    reference operator*() const noexcept { return frame_.promise().value(); }
    /// A generator that the loop's body ran to its end (next(), close(), throw_) ends the
    /// loop, as in Python.
    iterator& operator++() {
      if (!frame_.promise().done()) frame_.promise().advance();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept {
      return it.frame_.promise().done();
    }

   private:
    friend class Generator;
    explicit iterator(Handle frame) noexcept : frame_(frame) {}
    Handle frame_;
  };

  Generator() noexcept = default;
  Generator(Generator&& other) noexcept : frame_(std::exchange(other.frame_, {})) {}
  Generator& operator=(Generator&& other) noexcept {
    if (this != &other) {
      if (frame_) frame_.promise().destroy_stack();
      frame_ = std::exchange(other.frame_, {});
    }
    return *this;
  }
  ~Generator() {
    if (frame_) frame_.promise().destroy_stack();
  }

  /// False for a moved-from Generator, or one handed to yield_from.
  explicit operator bool() const noexcept { return static_cast<bool>(frame_); }

  /// Starts the iteration: runs the body to its first value. RuntimeError when the generator
  /// was iterated before, has finished, or was moved from (after next() calls, it goes on).
  iterator begin() {
    Handle frame = check_fresh();
    frame.promise().iterated_ = true;
    frame.promise().advance();
    return iterator(frame);
  }
  std::default_sentinel_t end() const noexcept { return {}; }

  /// Python's next(g): the next value, or nullopt once the generator has finished.
  /// RuntimeError on a moved-from generator.
  std::optional<value_type> next() {
    promise_type& p = promise();
    if (p.done()) return std::nullopt;
    p.advance();
    return current();
  }

  /// Python's g.send(value): resumes the generator (the innermost one it delegates to) with
  /// `value` as the result of its co_yield, and gives the next value, or nullopt once the
  /// generator has finished. A just-started generator must be started with next() first:
  /// RuntimeError (Python's TypeError), and the generator stays as it was.
  std::optional<value_type> send(std::conditional_t<std::is_void_v<S>, detail::NoSend, S> value)
    requires(!std::is_void_v<S>)
  {
    promise_type& p = promise();
    p.check_not_running();
    if (p.done()) return std::nullopt;
    if (p.just_started())
      throw RuntimeError("can't send non-None value to a just-started generator");
    p.sent_ = std::addressof(value);
    try {
      p.advance();
    } catch (...) {
      p.sent_ = nullptr;
      throw;
    }
    p.sent_ = nullptr;  // when the leaf did not take it (a generator without a send type)
    return current();
  }

  /// Python's g.throw(error): throws `error` at the co_yield where the generator (the innermost
  /// one it delegates to) is suspended, and gives the next value it yields, or nullopt when it
  /// finishes; what it does not catch comes out of throw_(). On a generator that has not
  /// started or has finished, throws `error` at once (the generator is then finished).
  std::optional<value_type> throw_(std::exception_ptr error) {
    promise_type& p = promise();
    if (!error) throw std::invalid_argument("throw_(): no exception given");
    p.check_not_running();
    if (p.just_started()) p.finish_unstarted();
    if (p.done()) std::rethrow_exception(std::move(error));
    p.advance_throwing(std::move(error));
    return current();
  }
  /// throw_() with an exception object: `g.throw_(std::runtime_error("x"))`.
  template <class E>
    requires(!std::is_same_v<std::remove_cvref_t<E>, std::exception_ptr>)
  std::optional<value_type> throw_(E&& error) {
    return throw_(std::make_exception_ptr(std::forward<E>(error)));
  }

  /// Python's g.close(): throws GeneratorExit at the co_yield where the generator is suspended,
  /// so its handlers and the code they lead to run (innermost delegated generator first); it
  /// is then finished. Returns normally when the body ends, by GeneratorExit or otherwise;
  /// another exception it throws comes out of close(); RuntimeError("generator ignored
  /// GeneratorExit") when it yields a value instead (it stays suspended there). Nothing runs
  /// for a generator that has not started or has finished; nothing for a moved-from one.
  void close() {
    if (!frame_) return;
    promise_type& p = frame_.promise();
    p.check_not_running();
    if (p.done()) return;
    if (p.just_started()) {
      p.finish_unstarted();
      return;
    }
    p.mark_closing(true);
    try {
      p.advance_throwing(std::make_exception_ptr(GeneratorExit()));
      while (!p.done() && p.fail_nested_close()) {
      }
    } catch (const GeneratorExit&) {
      return;  // finished: no frame is left to unmark
    }
    if (p.done()) return;
    p.mark_closing(false);  // the root yielded instead: it stays suspended there
    throw RuntimeError("generator ignored GeneratorExit");
  }

  /// What the body returned with `co_return r;` (Python's StopIteration.value), once it has:
  /// RuntimeError before that, or when it ended otherwise (an exception, close() without a
  /// co_return), or on a moved-from generator.
  std::add_lvalue_reference_t<R> return_value()
    requires(!std::is_void_v<R>)
  {
    promise_type& p = promise();
    if (!p.returned_) throw RuntimeError("the generator has not returned a value");
    return *p.returned_;
  }

 private:
  template <class, class, class>
  friend class detail::GeneratorPromise;
  explicit Generator(Handle frame) noexcept : frame_(frame) {}

  promise_type& promise() const {
    if (!frame_) throw RuntimeError("cannot iterate a moved-from generator");
    return frame_.promise();
  }
  /// After a step: the value the generator yielded, or nullopt when it finished.
  std::optional<value_type> current() const {
    promise_type& p = frame_.promise();
    if (p.done()) return std::nullopt;
    return std::optional<value_type>(p.value());
  }
  Handle check_fresh() const {
    if (!frame_) throw RuntimeError("cannot iterate a moved-from generator");
    if (frame_.promise().iterated_ || frame_.promise().done()) {
      throw RuntimeError("cannot reuse already iterated generator");
    }
    return frame_;
  }
  /// Gives the frame to a delegating generator (yield_from).
  Handle claim() {
    Handle frame = check_fresh();
    frame_ = {};
    return frame;
  }

  Handle frame_;
};

template <class T, class R, class S>
Generator<T, R, S> detail::GeneratorPromise<T, R, S>::get_return_object() noexcept {
  return Generator<T, R, S>(Handle::from_promise(*this));
}

template <class T, class R, class S>
template <class Range>
Generator<T> detail::GeneratorPromise<T, R, S>::elements(Range range) {
  for (auto&& element : range) co_yield static_cast<decltype(element)>(element);
}

}  // namespace asyncio
