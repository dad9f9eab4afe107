// asyncio::Generator<T>: a synchronous generator (Python's `def` with `yield`), an input range
// whose values a coroutine produces lazily with `co_yield`, and asyncio::yield_from, Python's
// `yield from`, which hands iteration over to a nested generator or any range.
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
#pragma once

#include <concepts>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <type_traits>
#include <utility>

#include "asyncio/detail/frame_allocator.hpp"
#include "asyncio/exceptions.hpp"

namespace asyncio {

template <class T>
class Generator;

/// What `co_yield yield_from(r)` delegates to: Python's `yield from r`. Holds a reference to `r`,
/// which lives until the delegation is over (the co_yield's full-expression includes it).
template <std::ranges::input_range R>
struct YieldFrom {
  R&& range;
};

/// `co_yield asyncio::yield_from(g)` inside a Generator<T> yields every value of `g` (another
/// Generator<T>, or any input range whose elements convert to T), then goes on.
template <std::ranges::input_range R>
YieldFrom<R> yield_from(R&& range) noexcept {
  return YieldFrom<R>{std::forward<R>(range)};
}

namespace detail {

template <class T>
class GeneratorPromise : public PooledFrame {
 public:
  /// What a consumer gets for each value: T&& for a value type (it may move it out), the
  /// reference itself for Generator<T&>.
  using yielded = std::conditional_t<std::is_reference_v<T>, T, T&&>;
  using Handle = std::coroutine_handle<GeneratorPromise>;

  Generator<T> get_return_object() noexcept;
  std::suspend_always initial_suspend() const noexcept { return {}; }
  auto final_suspend() noexcept { return FinalAwaiter{}; }
  void return_void() noexcept {}
  void unhandled_exception() noexcept { exception_ = std::current_exception(); }

  /// `co_yield value`: the consumer reads the value where it is, in this frame.
  std::suspend_always yield_value(yielded value) noexcept {
    root_->value_ = std::addressof(value);
    return {};
  }

  /// `co_yield lvalue` in a Generator<T> of values: a copy lives in the frame while suspended.
  auto yield_value(const std::remove_reference_t<yielded>& value)
    requires std::is_rvalue_reference_v<yielded> &&
             std::constructible_from<std::remove_cvref_t<yielded>,
                                     const std::remove_reference_t<yielded>&>
  {
    return CopyAwaiter{std::remove_cvref_t<yielded>(value), root_};
  }

  /// `co_yield yield_from(g)` with a Generator<T>: `g` becomes the leaf of this stack.
  template <class G>
    requires std::same_as<std::remove_cvref_t<G>, Generator<T>>
  auto yield_value(YieldFrom<G> from) {
    return DelegateAwaiter{from.range.claim()};
  }

  /// `co_yield yield_from(r)` with any other range: a nested generator iterates it.
  template <class R>
  auto yield_value(YieldFrom<R> from) {
    return DelegateAwaiter{elements(std::forward<R>(from.range)).claim()};
  }

  /// A generator cannot co_await: it runs inside whoever iterates it (see AsyncGenerator).
  template <class A>
  void await_transform(A&&) = delete;

  /// Root only: resumes the stack until the next value or the end; rethrows what the root
  /// ended with.
  void advance() {
    for (;;) {
      Handle leaf = leaf_;
      leaf.resume();
      if (leaf_ == leaf) return;  // the leaf yielded a value
      if (!leaf_) {
        if (exception_) std::rethrow_exception(std::exchange(exception_, nullptr));
        return;
      }
      // A generator was pushed or popped: resume the new leaf.
    }
  }

  /// Root only: destroys the stack, innermost frame first, then the root itself.
  void destroy_stack() noexcept {
    Handle frame = leaf_ ? leaf_ : Handle::from_promise(*this);
    while (frame) {
      Handle parent = frame.promise().parent_;
      frame.destroy();
      frame = parent;
    }
  }

  bool done() const noexcept { return !leaf_; }
  yielded value() const noexcept { return static_cast<yielded>(*value_); }

 private:
  friend class Generator<T>;

  /// Hands back to the parent, or ends the iteration (the root has no parent).
  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    void await_suspend(Handle frame) const noexcept {
      GeneratorPromise& p = frame.promise();
      p.root_->leaf_ = p.parent_;
    }
    void await_resume() const noexcept {}
  };

  struct CopyAwaiter {
    std::remove_cvref_t<yielded> copy;
    GeneratorPromise* root;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<>) noexcept { root->value_ = std::addressof(copy); }
    void await_resume() const noexcept {}
  };

  /// Suspends the delegating frame under `child`; when the child finishes, the consumer's loop
  /// resumes this frame, which destroys the child and rethrows what it ended with.
  struct DelegateAwaiter {
    Handle child;
    bool await_ready() const noexcept { return false; }
    void await_suspend(Handle parent) const noexcept {
      GeneratorPromise* root = parent.promise().root_;
      GeneratorPromise& c = child.promise();
      // A child advanced with next() may have its own stack: its frames now feed our root.
      for (Handle f = c.leaf_; f != child; f = f.promise().parent_) f.promise().root_ = root;
      root->leaf_ = c.leaf_;
      c.root_ = root;
      c.parent_ = parent;
    }
    void await_resume() const {
      std::exception_ptr error = std::exchange(child.promise().exception_, nullptr);
      child.destroy();
      if (error) std::rethrow_exception(std::move(error));
    }
  };

  template <class R>
  static Generator<T> elements(R range);

  // Invariant: leaf_ and value_ are meaningful in the root only; parent_ is null in the root
  // only; every frame of a stack has root_ pointing at the root's promise.
  Handle leaf_ = Handle::from_promise(*this);    // innermost active frame; null once finished
  std::add_pointer_t<yielded> value_ = nullptr;  // the value the leaf yielded last
  GeneratorPromise* root_ = this;
  Handle parent_;                 // the frame that delegates to this one
  std::exception_ptr exception_;  // what this frame ended with, until its parent takes it
  bool iterated_ = false;         // begin() or yield_from claimed the root
};

}  // namespace detail

/// A coroutine that produces values with `co_yield`, lazily: Python's generator. An input range
/// (range-for, std::ranges views) and a `next()` step. Move-only; iterated at most once.
///
/// An exception thrown in the body is rethrown where the consumer steps it (begin(), ++ or
/// next()). Destroying the generator before it finished destroys its frames (and those of the
/// generators it delegates to), which runs the destructors of their locals.
template <class T>
class [[nodiscard]] Generator {
 public:
  using promise_type = detail::GeneratorPromise<T>;
  using value_type = std::remove_cvref_t<T>;
  using reference = typename promise_type::yielded;
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
    iterator& operator++() {
      frame_.promise().advance();
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
    if (!frame_) throw RuntimeError("cannot iterate a moved-from generator");
    promise_type& p = frame_.promise();
    if (p.done()) return std::nullopt;
    p.advance();
    if (p.done()) return std::nullopt;
    return std::optional<value_type>(p.value());
  }

 private:
  friend promise_type;
  explicit Generator(Handle frame) noexcept : frame_(frame) {}

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

template <class T>
Generator<T> detail::GeneratorPromise<T>::get_return_object() noexcept {
  return Generator<T>(Handle::from_promise(*this));
}

template <class T>
template <class R>
Generator<T> detail::GeneratorPromise<T>::elements(R range) {
  for (auto&& element : range) co_yield static_cast<decltype(element)>(element);
}

}  // namespace asyncio
