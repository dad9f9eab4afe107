// Python's contextvars on the loop: ContextVar<T> (get, set, reset with a Token), Context and
// copy_context(). A task runs in its own copy of the context it was created in (or the one
// given to create_task), and call_soon, call_later, call_at, add_reader, add_writer and
// add_done_callback run their callback in a copy of the context current when they were called,
// as in Python.
//
// Implementation notes. A context's values are an immutable ContextData: set() makes a new one
// (copy on write), so a copy of a context is one pointer and one count, and copies never see
// each other's later changes. The values the running code sees are `current_context`, a
// thread-local pointer that owns one count: a task keeps its values in its slot of the loop's
// TaskRegistry and hands them to current_context for each step, taking back what the step
// left there. A task created while no variable is set holds no values, and its steps only test
// one bit before and current_context after: programs that never set a variable pay that much.
// ContextData's count is not atomic: like futures, a context and its copies (which share the
// values) belong to one thread; another thread starts from copy_context() or Context().
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "asyncio/exceptions.hpp"

namespace asyncio {

/// Python's LookupError, raised by ContextVar::get() when the variable has no value and no
/// default.
class LookupError : public std::out_of_range {
 public:
  using std::out_of_range::out_of_range;
};

namespace detail {

/// The values of one context, by variable id: never changed once made; shared and counted.
class ContextData {
 public:
  struct Entry {
    std::uint64_t var;
    std::shared_ptr<const void> value;
  };

  /// The value of `var`, or null.
  const std::shared_ptr<const void>* find(std::uint64_t var) const noexcept;
  std::size_t size() const noexcept { return entries_.size(); }
  /// New values (one count, the caller's): `base`'s (null: none) with `var` set to `value`,
  /// or without `var` when `value` is null.
  static ContextData* with(const ContextData* base, std::uint64_t var,
                           std::shared_ptr<const void> value);

  /// The same values in a ContextData of their own (one count, the caller's), for another
  /// thread: the counts of ContextData are not atomic, so values current on this thread must
  /// not be shared with another (the values themselves are shared_ptrs, whose counts are).
  ContextData* copy_for_another_thread() const {
    auto* data = new ContextData();
    data->entries_ = entries_;
    return data;
  }

  void add_ref() noexcept { ++refs_; }
  void release() noexcept {
    if (--refs_ == 0) delete this;
  }

 private:
  ContextData() = default;
  std::vector<Entry> entries_;
  std::uint32_t refs_ = 1;
};

/// A number never given before, on any thread: a ContextVar's id, a context's identity.
std::uint64_t new_context_number() noexcept;

/// Which context a Token is made in, as Python's Token refers to its Context object: a number
/// that no other context, on any thread, before or after, has; given when first asked for (most
/// contexts never are). An address would not do: the next task or Context takes the memory of
/// one that ended.
class ContextIdentity {
 public:
  std::uint64_t get() noexcept { return id_ != 0 ? id_ : (id_ = new_context_number()); }

 private:
  std::uint64_t id_ = 0;
};

/// Python's Context object: a context's values now, replaced (never changed) when a variable
/// is set in it; shared by the Context handles and the tasks that run in it. While code runs
/// in it (entered), its values are in current_context instead, and `data` is null.
class ContextState {
 public:
  ContextState() noexcept = default;
  /// Holds `values` (adds a count).
  explicit ContextState(ContextData* values) noexcept : data(values) {
    if (data) data->add_ref();
  }
  ContextState(const ContextState&) = delete;
  ContextState& operator=(const ContextState&) = delete;

  void add_ref() noexcept { ++refs_; }
  void release() noexcept {
    if (--refs_ != 0) return;
    if (data) data->release();
    delete this;
  }
  /// RuntimeError when entered already; otherwise marks it entered.
  void enter();
  bool entered() const noexcept { return entered_; }
  /// Takes the values out for current_context (their count to the caller).
  ContextData* take_data() noexcept { return std::exchange(data, nullptr); }
  /// enter() and take_data() for a step of a task that runs in this context. A task does not
  /// check: its step has nobody to raise to (Python's would fail inside the loop).
  ContextData* enter_for_task() noexcept {
    entered_ = true;
    return take_data();
  }
  /// Leaves it, with `values` (their count) as its values from now on.
  void leave(ContextData* values) noexcept {
    data = values;
    entered_ = false;
  }

  ContextData* data = nullptr;  // a count, or null: no value set
  ContextIdentity identity;

 private:
  std::uint32_t refs_ = 1;
  bool entered_ = false;
};

/// The values the code running on this thread sees (one count owned here); null: none set.
extern thread_local constinit ContextData* current_context;
/// Which context current_context belongs to, for Token checks: a Context entered with run() or
/// a callback's copy, or null for the running task's (or, outside tasks, the thread's) context.
extern thread_local constinit ContextIdentity* entered_context;

/// Drops values a callback set while it ran without a context of its own (the loop calls it
/// after such a callback; they were the callback's, as Python's copy).
void drop_stray_context() noexcept;

/// The identity of the context the code runs in, which a Token is made in: entered_context's,
/// else the running task's, else (outside tasks) the thread's own context's.
std::uint64_t current_context_identity();

/// Runs code in a context: current_context is `data` (its count handed over) until the scope
/// ends, then the scope gives back what is current then (set() may have replaced it) through
/// take(), and puts the previous context back.
class ContextScope {
 public:
  ContextScope(ContextData* data, ContextIdentity* owner) noexcept
      : saved_(current_context), saved_owner_(entered_context) {
    current_context = data;
    entered_context = owner;
  }
  ContextScope(const ContextScope&) = delete;
  ContextScope& operator=(const ContextScope&) = delete;
  ~ContextScope() {
    if (current_context) current_context->release();
    current_context = saved_;
    entered_context = saved_owner_;
  }
  /// What is current now (its count to the caller); the scope then ends with nothing current.
  ContextData* take() noexcept { return std::exchange(current_context, nullptr); }

 private:
  ContextData* saved_;
  ContextIdentity* saved_owner_;
};

/// A callable that runs in a copy of a context's values (Python's Handle with context=).
template <class C>
class InContext {
 public:
  InContext(ContextData* data, C call) noexcept : data_(data), call_(std::move(call)) {
    if (data_) data_->add_ref();
  }
  InContext(InContext&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)),
        identity_(other.identity_),
        call_(std::move(other.call_)) {}
  InContext& operator=(InContext&&) = delete;
  ~InContext() {
    if (data_) data_->release();
  }
  template <class... A>
  decltype(auto) operator()(A&&... args) {
    if (data_) data_->add_ref();
    ContextScope scope(data_, &identity_);
    return call_(std::forward<A>(args)...);
  }

 private:
  ContextData* data_;
  ContextIdentity identity_;  // every call runs in the same context, as a Python Handle's
  C call_;
};

/// Hands `call` to `sink` as it is, or, when `context` holds values, wrapped to run in a copy
/// of them: a callback scheduled where no variable is set costs nothing more.
template <class C, class Sink>
void pass_in_context(ContextData* context, C&& call, Sink&& sink) {
  if (context) [[unlikely]]
    sink(InContext(context, std::forward<C>(call)));
  else
    sink(std::forward<C>(call));
}

/// Returns sink(call) as it is, or, when a variable is set on this thread, sink(call wrapped to
/// run in a copy of the values current here, held in a set of their own): for a call that runs
/// on another thread, or on a loop that may run on one later (to_thread, call_soon_threadsafe,
/// add_signal_handler), since the counts of ContextData are not atomic.
template <class C, class Sink>
decltype(auto) pass_in_context_copy(C&& call, Sink&& sink) {
  if (!current_context) [[likely]]
    return sink(std::forward<C>(call));
  ContextData* values = current_context->copy_for_another_thread();
  InContext wrapped(values, std::forward<C>(call));
  values->release();  // the wrapped call holds them now
  return sink(std::move(wrapped));
}

}  // namespace detail

template <class T>
class ContextVar;

/// Python's contextvars.Context: a set of variable values that code runs in. A Context handle
/// refers to one context, as a Python reference does: copies of the handle are the same context.
/// Context::copy() makes another context with the same values; the two then change apart (copy
/// on write: copying costs no copy of the values).
class Context {
 public:
  /// An empty context (Python's Context()).
  Context() : state_(new detail::ContextState()) {}
  Context(const Context& other) noexcept : state_(other.state_) { state_->add_ref(); }
  Context& operator=(const Context& other) noexcept {
    Context copy(other);
    std::swap(state_, copy.state_);
    return *this;
  }
  ~Context() { state_->release(); }

  /// Python's Context.copy(): another context with the same values.
  Context copy() const { return Context(data()); }
  /// How many variables have a value in it (Python's len(ctx)).
  std::size_t size() const noexcept {
    const detail::ContextData* values = data();
    return values ? values->size() : 0;
  }
  /// Python's ctx.get(var): the variable's value in this context, if it has one.
  template <class T>
  std::optional<T> get(const ContextVar<T>& var) const;
  /// Python's `var in ctx`.
  template <class T>
  bool contains(const ContextVar<T>& var) const {
    return get(var).has_value();
  }

  /// Python's Context.run: calls fn(args...) with this context current; what fn sets stays in
  /// this context. RuntimeError when the context is entered already (by a run() on this
  /// thread, or by a step of a task running in it).
  template <class F, class... Args>
  decltype(auto) run(F&& fn, Args&&... args) {
    state_->enter();
    struct Leave {
      detail::ContextState* state;
      detail::ContextScope scope;
      ~Leave() { state->leave(scope.take()); }
    } leave{state_, {state_->take_data(), &state_->identity}};
    return std::forward<F>(fn)(std::forward<Args>(args)...);
  }

  friend bool operator==(const Context& a, const Context& b) noexcept {
    return a.state_ == b.state_;
  }

  /// For the library's own use: the context `state` (adds a count); a new one with `data`.
  explicit Context(detail::ContextState* state) noexcept : state_(state) { state_->add_ref(); }
  explicit Context(detail::ContextData* data) : state_(new detail::ContextState(data)) {}
  detail::ContextState* state() const noexcept { return state_; }
  /// The values now (the current ones while the context is entered).
  detail::ContextData* data() const noexcept {
    return detail::entered_context == &state_->identity ? detail::current_context : state_->data;
  }

 private:
  detail::ContextState* state_;  // never null
};

/// Python's contextvars.copy_context(): a copy of the current context.
inline Context copy_context() { return Context(detail::current_context); }

template <class T>
std::optional<T> Context::get(const ContextVar<T>& var) const {
  const detail::ContextData* values = data();
  const std::shared_ptr<const void>* value = values ? values->find(var.id()) : nullptr;
  if (!value) return std::nullopt;
  return *static_cast<const T*>(value->get());
}

/// Python's contextvars.ContextVar: a variable whose value depends on the context the code
/// reading it runs in (the running task's, a callback's). Make them once and keep them (a
/// namespace-scope or static variable), as in Python.
template <class T>
class ContextVar {
 public:
  /// What set() returns: what reset() needs to give the variable its previous value back.
  class Token {
   public:
    const ContextVar& var() const noexcept { return *var_; }
    /// The value before set(); none when it had none (Python's Token.MISSING).
    const std::optional<T>& old_value() const noexcept { return old_; }

   private:
    friend class ContextVar;
    Token(const ContextVar* var, std::optional<T> old, std::uint64_t context) noexcept
        : var_(var), old_(std::move(old)), context_(context) {}
    const ContextVar* var_;
    std::optional<T> old_;
    std::uint64_t context_;  // the ContextIdentity of the context it was made in
    bool used_ = false;
  };

  explicit ContextVar(std::string name) : name_(std::move(name)) {}
  ContextVar(std::string name, T default_value)
      : name_(std::move(name)), default_(std::move(default_value)) {}
  ContextVar(const ContextVar&) = delete;
  ContextVar& operator=(const ContextVar&) = delete;

  const std::string& name() const noexcept { return name_; }
  /// Its key in a context's values.
  std::uint64_t id() const noexcept { return id_; }

  /// The value in the current context, else the variable's default; LookupError without one.
  T get() const {
    if (const T* value = find()) return *value;
    if (default_) return *default_;
    throw LookupError("ContextVar " + name_ + " has no value");
  }
  /// The value in the current context, else `fallback`.
  T get(T fallback) const {
    if (const T* value = find()) return *value;
    return fallback;
  }

  /// Gives the variable `value` in the current context.
  Token set(T value) {
    const std::uint64_t context = detail::current_context_identity();
    std::optional<T> old;
    if (const T* previous = find()) old = *previous;
    assign(std::make_shared<const T>(std::move(value)));
    return Token(this, std::move(old), context);
  }
  /// Gives back the value the variable had before the set() that made `token`.
  /// std::invalid_argument (Python's ValueError) for a token of another variable or made in
  /// another context; RuntimeError for a token used already.
  void reset(Token& token) {
    if (token.used_) throw RuntimeError("Token has already been used once");
    if (token.var_ != this)
      throw std::invalid_argument("Token was created by a different ContextVar");
    if (token.context_ != detail::current_context_identity())
      throw std::invalid_argument("Token was created in a different Context");
    assign(token.old_ ? std::make_shared<const T>(*token.old_) : nullptr);
    token.used_ = true;
  }

 private:
  const T* find() const noexcept {
    if (!detail::current_context) return nullptr;
    const std::shared_ptr<const void>* value = detail::current_context->find(id_);
    return value ? static_cast<const T*>(value->get()) : nullptr;
  }
  void assign(std::shared_ptr<const void> value) {
    detail::ContextData* next =
        detail::ContextData::with(detail::current_context, id_, std::move(value));
    if (detail::current_context) detail::current_context->release();
    detail::current_context = next;
  }
  std::string name_;
  std::optional<T> default_;
  std::uint64_t id_ = detail::new_context_number();
};

}  // namespace asyncio
