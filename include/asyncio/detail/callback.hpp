// The unit of work the event loop runs (Callback), the loop's FIFO ready queue, and the list a
// Future keeps its done callbacks in. All are intrusive: queueing a callback allocates nothing.
#pragma once

#include <cassert>
#include <cstddef>

namespace asyncio::detail {

/// Something the loop can run once it is ready: a task step, a call_soon handle, a done callback.
///
/// Invariant: a Callback is linked into at most one list at a time (the loop's ready queue or
/// one future's callback list), through `next_`; so a task can wait on a future, and then be
/// scheduled, through the one link it owns.
struct Callback {
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

  explicit Callback(Fn fn) noexcept : fn_(fn) {}
  Callback(const Callback&) = delete;
  Callback& operator=(const Callback&) = delete;

  bool invoke(Action action) { return fn_(this, action, nullptr); }
  /// The future awaiting through this callback (see find_awaiter), or null.
  void* find_awaiter() {
    void* found = nullptr;
    fn_(this, Action::find_awaiter, &found);
    return found;
  }

  Callback* next_ = nullptr;
  Fn fn_;
};

/// FIFO of callbacks: the loop's ready queue, and the queue other threads post to.
class ReadyQueue {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  Callback* back() const noexcept { return tail_; }
  /// Calls f(cb) for each queued callback, in order; `f` must not change the queue.
  template <class F>
  void for_each(F&& f) const {
    for (const Callback* cb = head_; cb; cb = cb->next_) f(cb);
  }

  void push(Callback* cb) noexcept {
    cb->next_ = nullptr;
    if (tail_)
      tail_->next_ = cb;
    else
      head_ = cb;
    tail_ = cb;
  }

  /// Moves every callback of `other`, in order, to the back of this queue.
  void splice(ReadyQueue& other) noexcept {
    if (other.empty()) return;
    if (tail_)
      tail_->next_ = other.head_;
    else
      head_ = other.head_;
    tail_ = other.tail_;
    other.head_ = other.tail_ = nullptr;
  }

  Callback* pop() noexcept {
    assert(head_ != nullptr);
    Callback* cb = head_;
    head_ = cb->next_;
    if (!head_) tail_ = nullptr;
    cb->next_ = nullptr;
    return cb;
  }

 private:
  Callback* head_ = nullptr;
  Callback* tail_ = nullptr;
};

/// A future's done callbacks, in registration order: a circular singly linked list reached
/// through its tail (tail->next_ is the head), so one pointer holds it.
class CallbackList {
 public:
  bool empty() const noexcept { return tail_ == nullptr; }
  /// The callback registered last (null when none), without reading the list.
  const Callback* newest() const noexcept { return tail_; }

  void push(Callback* cb) noexcept {
    if (tail_) {
      cb->next_ = tail_->next_;
      tail_->next_ = cb;
    } else {
      cb->next_ = cb;
    }
    tail_ = cb;
  }

  /// Calls f(cb) for each callback, in order; `f` must not change the list.
  template <class F>
  void for_each(F&& f) const {
    if (!tail_) return;
    Callback* cur = tail_;
    do {
      cur = cur->next_;
      f(cur);
    } while (cur != tail_);
  }

  bool contains(const Callback* cb) const noexcept {
    if (!tail_) return false;
    const Callback* cur = tail_;
    do {
      cur = cur->next_;
      if (cur == cb) return true;
    } while (cur != tail_);
    return false;
  }

  /// Unlinks `cb` if it is in the list; O(n). Returns whether it was there.
  bool remove(Callback* cb) noexcept {
    if (!tail_) return false;
    Callback* prev = tail_;
    do {
      Callback* cur = prev->next_;
      if (cur == cb) {
        if (cur == prev) {
          tail_ = nullptr;
        } else {
          prev->next_ = cur->next_;
          if (tail_ == cur) tail_ = prev;
        }
        cb->next_ = nullptr;
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
    Callback* head = tail_->next_;
    tail_->next_ = nullptr;
    tail_ = nullptr;
    while (head) {
      Callback* next = head->next_;
      head->next_ = nullptr;
      f(head);
      head = next;
    }
  }

 private:
  Callback* tail_ = nullptr;
};

}  // namespace asyncio::detail
