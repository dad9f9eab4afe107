// The unit of work the event loop runs (Callback), the loop's FIFO ready queue, and the list a
// Future keeps its done callbacks in. All are intrusive: queueing a callback allocates nothing.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>

namespace asyncio::detail {

/// Something the loop can run once it is ready: a task step, a call_soon handle, a done callback.
///
/// Invariant: a Callback is linked into at most one list at a time (the loop's ready queue or
/// one future's callback list), through its link word; so a task can wait on a future, and then
/// be scheduled, through the one link it owns.
///
/// A task (TaskBase) is a Callback of one word: its link, with the low bit set for good; what
/// runs it is always the task's step (run_task). Every other callback is a FnCallback, which
/// adds the function that runs it. This keeps a pending task 8 bytes smaller.
class Callback {
 public:
  /// run: the loop runs it. discard: its queue is being cleared, release it unrun.
  /// completed: the future whose list holds it completed (it is already unlinked). Returning
  /// true puts it on the ready queue, to run on the next iteration, as every user callback and
  /// task wake-up is; returning false says it did its work now, which only the library's own
  /// bookkeeping does (gather counting a finished child), never user code.
  /// For run and discard the result means nothing.
  /// find_awaiter (introspection, call_graph.hpp): the callback stores in `*found` the future
  /// (a FutureStateBase*) that awaits, through it, the future whose list holds it: a task
  /// waiting, a gather, a shield, a wait, a TaskGroup's parent task. It must change nothing,
  /// and leave `*found` alone when it is no awaiter.
  enum class Action { run, discard, completed, find_awaiter };
  using Fn = bool (*)(Callback*, Action, void* found);

  Callback(const Callback&) = delete;
  Callback& operator=(const Callback&) = delete;

  inline bool invoke(Action action);
  /// The future awaiting through this callback (see find_awaiter), or null.
  inline void* find_awaiter();

  /// Whether this is a task's link (TaskBase), run by the task's step.
  bool is_task() const noexcept { return link_ & task_bit; }
  /// Whether this is a FnCallback run by `fn`.
  inline bool runs(Fn fn) const noexcept;

  Callback* next() const noexcept { return reinterpret_cast<Callback*>(link_ & ~task_bit); }
  void set_next(Callback* next) noexcept {
    link_ = reinterpret_cast<std::uintptr_t>(next) | (link_ & task_bit);
  }
  /// set_next(nullptr) on a task's link: a store that does not wait for the word's old value.
  void clear_task_link() noexcept {
    assert(is_task());
    link_ = task_bit;
  }

 protected:
  Callback() noexcept = default;
  struct TaskLink {};
  explicit Callback(TaskLink) noexcept : link_(task_bit) {}
  ~Callback() = default;

 private:
  static constexpr std::uintptr_t task_bit = 1;
  // The next callback of the list this one is in (callbacks are at least 8-byte aligned), or
  // null; task_bit marks a task's link and is never changed by linking.
  std::uintptr_t link_ = 0;
};

/// A callback run by a function of its own: `fn_` gets the callback, which it casts to its
/// class.
struct FnCallback : Callback {
  explicit FnCallback(Fn fn) noexcept : fn_(fn) {}
  Fn fn_;
};

/// A task's step, for run (out of line: task.cpp, where TaskBase is known).
void run_task(Callback* task);
/// The task itself, for find_awaiter.
void* task_as_awaiter(Callback* task) noexcept;

bool Callback::invoke(Action action) {
  if (is_task()) {
    if (action == Action::run) run_task(this);
    return true;  // completed: a wake-up, queued to run; discard: the task keeps its own state
  }
  return static_cast<FnCallback*>(this)->fn_(this, action, nullptr);
}

void* Callback::find_awaiter() {
  if (is_task()) return task_as_awaiter(this);
  void* found = nullptr;
  static_cast<FnCallback*>(this)->fn_(this, Action::find_awaiter, &found);
  return found;
}

bool Callback::runs(Fn fn) const noexcept {
  return !is_task() && static_cast<const FnCallback*>(this)->fn_ == fn;
}

/// FIFO of callbacks: the loop's ready queue, and the queue other threads post to.
class ReadyQueue {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  Callback* back() const noexcept { return tail_; }
  /// Calls f(cb) for each queued callback, in order; `f` must not change the queue.
  template <class F>
  void for_each(F&& f) const {
    for (const Callback* cb = head_; cb; cb = cb->next()) f(cb);
  }

  void push(Callback* cb) noexcept {
    cb->set_next(nullptr);
    append(cb);
  }
  /// push() of a task's link.
  void push_task(Callback* task) noexcept {
    task->clear_task_link();
    append(task);
  }

  /// Moves every callback of `other`, in order, to the back of this queue.
  void splice(ReadyQueue& other) noexcept {
    if (other.empty()) return;
    if (tail_)
      tail_->set_next(other.head_);
    else
      head_ = other.head_;
    tail_ = other.tail_;
    other.head_ = other.tail_ = nullptr;
  }

  Callback* pop() noexcept {
    assert(head_ != nullptr);
    Callback* cb = head_;
    head_ = cb->next();
    if (!head_) tail_ = nullptr;
    cb->set_next(nullptr);
    return cb;
  }

 private:
  void append(Callback* cb) noexcept {
    if (tail_)
      tail_->set_next(cb);
    else
      head_ = cb;
    tail_ = cb;
  }

  Callback* head_ = nullptr;
  Callback* tail_ = nullptr;
};

/// A future's done callbacks, in registration order: a circular singly linked list reached
/// through its tail (the tail's next is the head), so one pointer holds it.
class CallbackList {
 public:
  bool empty() const noexcept { return tail_ == nullptr; }
  /// The callback registered last (null when none), without reading the list.
  const Callback* newest() const noexcept { return tail_; }

  void push(Callback* cb) noexcept {
    if (tail_) {
      cb->set_next(tail_->next());
      tail_->set_next(cb);
    } else {
      cb->set_next(cb);
    }
    tail_ = cb;
  }

  /// Calls f(cb) for each callback, in order; `f` must not change the list.
  template <class F>
  void for_each(F&& f) const {
    if (!tail_) return;
    Callback* cur = tail_;
    do {
      cur = cur->next();
      f(cur);
    } while (cur != tail_);
  }

  bool contains(const Callback* cb) const noexcept {
    if (!tail_) return false;
    const Callback* cur = tail_;
    do {
      cur = cur->next();
      if (cur == cb) return true;
    } while (cur != tail_);
    return false;
  }

  /// Unlinks `cb` if it is in the list; O(n). Returns whether it was there.
  bool remove(Callback* cb) noexcept {
    if (!tail_) return false;
    Callback* prev = tail_;
    do {
      Callback* cur = prev->next();
      if (cur == cb) {
        if (cur == prev) {
          tail_ = nullptr;
        } else {
          prev->set_next(cur->next());
          if (tail_ == cur) tail_ = prev;
        }
        cb->set_next(nullptr);
        return true;
      }
      prev = cur;
    } while (prev != tail_);
    return false;
  }

  /// Empties the list, calling `f(cb)` for each callback in order; `f` may free `cb`.
  template <class F>
  void drain(F&& f) {
    if (!tail_) return;
    Callback* head = tail_->next();
    tail_->set_next(nullptr);
    tail_ = nullptr;
    while (head) {
      Callback* next = head->next();
      head->set_next(nullptr);
      f(head);
      head = next;
    }
  }

 private:
  Callback* tail_ = nullptr;
};

}  // namespace asyncio::detail
