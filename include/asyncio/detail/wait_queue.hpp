// Where tasks wait on a lock, an event, a semaphore or a queue: a FIFO of intrusive Waiters
// (WaitQueue), each living in the awaiter inside the waiting coroutine's frame, so waiting
// allocates nothing.
//
// Implementation notes. A waiter is in one of five states. `waiting`: linked into its queue's
// waiting list, its task suspended on it (the task's one WaitTarget). `woken`: the primitive
// woke it, usually handing it something (the lock, a permit, an item); it moved to the queue's
// woken list and its task is on the ready queue, but has not run yet. `cancelled`: its task was
// cancelled while it was still waiting; it was unlinked and its task scheduled. `detached`: the
// primitive was destroyed under it. `idle`: none of these (not suspended, or resumed).
//
// Woken waiters stay linked (in the woken list) until their task runs, for three reasons: a
// waiter that was woken and then cancelled before it ran must hand what it was given on to the
// next one (CPython's race fixes bpo-23812, bpo-27585, gh-90155), which the queue's `hand_on`
// hook does; a queue may take a wake-up back (take_back_last_wake) when another task takes the
// item first, as Python's woken getter then finds the queue empty and waits again; and a
// primitive destroyed while tasks wait on it must reach every waiter that still refers to it.
// Waking never resumes a task inline: it puts the task on the loop's ready queue, as completing
// a future does.
#pragma once

#include <cassert>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>

#include "asyncio/detail/future_state.hpp"
#include "asyncio/detail/task_base.hpp"
#include "asyncio/exceptions.hpp"

namespace asyncio::detail {

class WaitQueue;

/// What a waiter raises when its primitive was destroyed while it waited: a RuntimeError, of a
/// type of its own so that a primitive's own coroutine or awaiter (Condition::wait,
/// Barrier::wait, Semaphore's acquire) lets it through without touching the dead primitive.
class PrimitiveDestroyed final : public RuntimeError {
 public:
  using RuntimeError::RuntimeError;
};

/// One task waiting in a WaitQueue. Awaiters derive from it; it is the task's WaitTarget.
class Waiter : public WaitTarget {
 public:
  enum class State : std::uint8_t { idle, waiting, woken, cancelled, detached };

  Waiter() noexcept = default;
  /// An awaiter may move before it is awaited (into a coroutine frame: wait_for(q.get(), d)),
  /// never after: a waiting one is linked by its address.
  Waiter(Waiter&& other) noexcept : WaitTarget() {
    assert(other.state_ == State::idle && !other.task_);
    (void)other;
  }
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  /// Task::cancel while suspended here. A waiting waiter leaves the queue and its task is
  /// scheduled to raise CancelledError (aborted); a woken one is already scheduled and raises it
  /// when it runs, then hands its wake-up on in resume(), unless uncancel() withdrew it
  /// (too_late).
  CancelOutcome cancel_wait(TaskBase* task, const std::exception_ptr& error) override;

  /// After the task resumed from a suspension here, with a cancellation pending: does what
  /// resume() does before it throws (hands on a wake-up it was given), and returns the
  /// cancellation instead of throwing it; the awaiter is then idle, and its await_resume must
  /// not run. Null, and nothing done, when no cancellation is pending or it never suspended.
  /// For wait_for, whose deadline cancels the task: a throw costs microseconds.
  std::exception_ptr take_cancellation() noexcept;

 protected:
  /// A frame destroyed while suspended here leaves the queue, handing on a wake-up it got.
  ~Waiter() {
    if (state_ == State::waiting || state_ == State::woken) abandon();
  }

  /// Links this waiter at the back of `queue` and suspends the running task on it.
  void suspend(WaitQueue& queue);
  /// True when await_suspend ran (the slow path).
  bool suspended() const noexcept { return task_ != nullptr; }
  /// Called first by await_resume after a suspension. Returns the reason given to wake_first()
  /// or wake_all(). Throws the task's CancelledError (after handing a wake-up it had been given
  /// on), or PrimitiveDestroyed when the primitive was destroyed while this task waited.
  std::uint8_t resume();

 private:
  friend class WaitQueue;
  void abandon() noexcept;

  Waiter* prev_ = nullptr;  // links in the queue's waiting or woken list, as state_ says
  Waiter* next_ = nullptr;
  union {                         // which one, state_ says:
    WaitQueue* queue_ = nullptr;  // not detached: the queue it waits in or was woken from
    const char* destroyed_name_;  // detached: what was destroyed, for the message
  };
  TaskBase* task_ = nullptr;  // set in suspend()
  State state_ = State::idle;
  std::uint8_t reason_ = 0;
};

/// A FIFO of waiters: tasks wait at the back, wake_first() wakes the front.
///
/// Invariant: every waiter in `waiting_` is in state `waiting` and its task is suspended on it;
/// every waiter in `woken_` is in state `woken` and its task is on the ready queue. A waiter is
/// woken at most once.
class WaitQueue {
 public:
  /// Called with the wake reason when a woken waiter gives its wake-up back (its task was
  /// cancelled, or its frame destroyed, before it ran): the primitive passes it on.
  using HandOn = void (*)(void* owner, std::uint8_t reason) noexcept;

  /// `name` (a string literal) names the primitive in error messages.
  explicit WaitQueue(const char* name, void* owner = nullptr, HandOn hand_on = nullptr) noexcept
      : owner_(owner), hand_on_(hand_on), name_(name) {}
  WaitQueue(const WaitQueue&) = delete;
  WaitQueue& operator=(const WaitQueue&) = delete;
  /// Destroying a queue that waiters still refer to is reported through the loop's exception
  /// handler; each of them then raises RuntimeError instead of touching the dead primitive.
  ~WaitQueue() {
    if (waiting_.head || woken_.head) [[unlikely]]
      detach_all();
  }

  /// Whether a task waits that has not been woken yet.
  bool has_waiting() const noexcept { return waiting_.head != nullptr; }
  /// Whether a task was woken and has not run yet.
  bool has_woken() const noexcept { return woken_.head != nullptr; }
  /// How many tasks wait and have not been woken yet.
  std::size_t waiting_count() const noexcept { return waiting_count_; }

  void push(Waiter* w) noexcept {
    w->queue_ = this;
    w->state_ = Waiter::State::waiting;
    waiting_.push_back(w);
    ++waiting_count_;
  }

  /// Wakes the longest-waiting task, if any, telling it `reason`; returns whether one woke.
  bool wake_first(std::uint8_t reason = 0) noexcept {
    Waiter* w = waiting_.head;
    if (!w) return false;
    wake(w, reason);
    return true;
  }

  /// Wakes every waiting task, in FIFO order.
  void wake_all(std::uint8_t reason = 0) noexcept {
    while (Waiter* w = waiting_.head) wake(w, reason);
  }

  /// Takes back the wake-up told `reason` that was given last and has not run yet (there must
  /// be one): its task waits again, at the back, and the step the wake-up scheduled does
  /// nothing. A task cancelled since it was woken raises CancelledError instead, as if cancelled
  /// while waiting.
  void take_back_last_wake(std::uint8_t reason) noexcept;

 private:
  friend class Waiter;

  struct List {
    Waiter* head = nullptr;
    Waiter* tail = nullptr;

    void push_back(Waiter* w) noexcept {
      w->next_ = nullptr;
      w->prev_ = tail;
      if (tail)
        tail->next_ = w;
      else
        head = w;
      tail = w;
    }
    void remove(Waiter* w) noexcept {
      if (w->prev_)
        w->prev_->next_ = w->next_;
      else
        head = w->next_;
      if (w->next_)
        w->next_->prev_ = w->prev_;
      else
        tail = w->prev_;
      w->prev_ = w->next_ = nullptr;
    }
  };

  void wake(Waiter* w, std::uint8_t reason) noexcept {
    waiting_.remove(w);
    --waiting_count_;
    woken_.push_back(w);
    w->state_ = Waiter::State::woken;
    w->reason_ = reason;
    w->task_->schedule_step_or_give_back();
  }
  void remove_waiting(Waiter* w) noexcept {
    waiting_.remove(w);
    --waiting_count_;
  }
  void hand_on(std::uint8_t reason) noexcept {
    if (hand_on_) hand_on_(owner_, reason);
  }
  void detach_all() noexcept;

  List waiting_;
  List woken_;
  std::size_t waiting_count_ = 0;
  void* owner_;
  HandOn hand_on_;
  const char* name_;
};

inline void Waiter::suspend(WaitQueue& queue) {
  task_ = running_task();
  queue.push(this);
  task_->begin_wait(this);  // a cancellation already requested unlinks it again at once
}

/// Waits until woken, unless it need not: Event.wait(), Queue.join(), a Barrier's wait for its
/// next phase, a transport's wait for data or drain. Gives true, as Python's Event.wait() does.
/// Built with a bool (`ready`) for an awaiter the library awaits at once; with a flag
/// (`ready_flag`, which must outlive it) for one handed to the user, which may be awaited later
/// or inside another task (gather(event.wait())): the flag is read when it is awaited, as the
/// check at the start of Python's coroutine runs then.
class WakeAwaiter final : public Waiter {
 public:
  WakeAwaiter(WaitQueue& queue, bool ready) noexcept : target_(queue), ready_(ready) {}
  WakeAwaiter(WaitQueue& queue, const bool* ready_flag) noexcept
      : target_(queue), ready_flag_(ready_flag) {}

  bool await_ready() const noexcept { return ready_flag_ ? *ready_flag_ : ready_; }
  template <AsyncioPromise P>
  void await_suspend(std::coroutine_handle<P>) {
    suspend(target_);
  }
  bool await_resume() {
    if (suspended()) resume();
    return true;
  }

 private:
  WaitQueue& target_;
  const bool* ready_flag_ = nullptr;
  bool ready_ = false;
};

}  // namespace asyncio::detail
