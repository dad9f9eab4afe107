// Handle and TimerHandle: what call_soon / call_later / call_at return, to cancel a callback
// before it runs. Also the loop-owned node that stores such a callback (detail::HandleNode).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <new>
#include <type_traits>
#include <utility>

#include "asyncio/detail/callback.hpp"
#include "asyncio/detail/loop_bound.hpp"
#include "asyncio/detail/wait_target.hpp"

namespace asyncio {

class EventLoop;

/// The loop's clock: monotonic, nanosecond resolution.
using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

namespace detail {

class Scheduler;
class TaskBase;

/// What the loop schedules and a Handle refers to: a callback to run soon, or at a deadline.
/// Nodes come from the loop's pools and stay at one address until the loop is destroyed. Two
/// kinds, each from its own pool: a CallbackNode stores a callable (call_soon, call_later, ...);
/// a WakeNode wakes a sleeping task, and is 32 bytes smaller than a CallbackNode, since with a
/// million tasks asleep their nodes are much of the memory the loop touches.
struct HandleNode : FnCallback {
  enum class State : std::uint8_t { free, ready, scheduled, running };
  enum class Op { call, destroy };

  explicit HandleNode(bool wakes_task) noexcept : FnCallback(&dispatch), wakes_task_(wakes_task) {}

  /// The task that a wake-up node wakes; null for any other callback, and once released.
  TaskBase* task_to_wake() const noexcept;
  /// Runs the stored callable (there must be one).
  void call() { op_(this, Op::call); }
  /// Destroys the stored callable now (a cancelled handle releases what it captured at once).
  void release_callable() noexcept {
    if (op_) std::exchange(op_, nullptr)(this, Op::destroy);
  }

  static bool dispatch(Callback* cb, Action action, void*);  // runs or discards, then recycles
  static void wake_task(HandleNode* node, Op op);            // the op of a task wake-up

  // Invariant: generation_ changes each time the node is recycled, so a Handle whose
  // generation no longer matches refers to a callback that has run or been released. It never
  // wraps around to a stale handle's value in practice: at one recycling per nanosecond, 2^60
  // of them take 36 years. (It shares a word with the state, keeping the nodes small.)
  static constexpr std::uint64_t generation_mask = (std::uint64_t{1} << 60) - 1;
  std::uint64_t generation_ : 60 = 0;
  State state_ : 2 = State::free;
  bool cancelled_ : 1 = false;
  const bool wakes_task_ : 1;  // a WakeNode: which pool it goes back to
  std::uint64_t when_ = 0;     // timers: deadline in loop-clock nanoseconds
  Scheduler* scheduler_ = nullptr;
  void (*op_)(HandleNode*,
              Op) = nullptr;  // calls or destroys the stored callable; null once released
};

/// A node for a callable, stored inline when it fits (no allocation), boxed on the heap
/// otherwise.
struct CallbackNode final : HandleNode {
  static constexpr std::size_t inline_size = 48;

  CallbackNode() noexcept : HandleNode(false) {}

  template <class C>
  void emplace(C&& callable) {
    using Stored = std::decay_t<C>;
    if constexpr (sizeof(Stored) <= inline_size && alignof(Stored) <= alignof(void*)) {
      ::new (static_cast<void*>(storage_)) Stored(std::forward<C>(callable));
      op_ = [](HandleNode* n, Op op) {
        Stored* stored =
            std::launder(reinterpret_cast<Stored*>(static_cast<CallbackNode*>(n)->storage_));
        if (op == Op::call)
          (*stored)();
        else
          stored->~Stored();
      };
    } else {
      ::new (static_cast<void*>(storage_)) Stored*(new Stored(std::forward<C>(callable)));
      op_ = [](HandleNode* n, Op op) {
        Stored* stored =
            *std::launder(reinterpret_cast<Stored**>(static_cast<CallbackNode*>(n)->storage_));
        if (op == Op::call)
          (*stored)();
        else
          delete stored;
      };
    }
  }

  alignas(void*) unsigned char storage_[inline_size];
};

/// A node that wakes a sleeping task: the loop knows it for what it is, and reads the task and
/// its frame ahead while it runs a batch of due timers (Scheduler::run_timer_batch). It is also
/// what the task waits on (its WaitTarget), so that the sleeping frame holds only the delay.
/// The task stops waiting on it when it fires or is cancelled: the node is recycled after that,
/// and a later cancel of the task must not reach it.
struct WakeNode final : HandleNode, WaitTarget {
  WakeNode() noexcept : HandleNode(true) {}

  void set_task(TaskBase* task) noexcept {
    task_ = task;
    op_ = &wake_task;
  }

  /// Task::cancel while asleep: cancels the timer and schedules the task, which raises
  /// CancelledError when it runs.
  CancelOutcome cancel_wait(TaskBase* task, const std::exception_ptr& error) override;
  /// The sleeping task is torn down: cancels the timer.
  void forget_waiter(TaskBase* task) noexcept override;

  TaskBase* task_ = nullptr;
};

inline TaskBase* HandleNode::task_to_wake() const noexcept {
  return op_ == &wake_task ? static_cast<const WakeNode*>(this)->task_ : nullptr;
}

}  // namespace detail

/// A callback scheduled on the loop. Copyable; `cancel()` on any copy cancels it.
/// A Handle must not be used after its loop is destroyed.
class Handle : detail::LoopBound {
 public:
  Handle() = default;

  /// Cancels the callback if it has not run yet (then it never runs).
  void cancel();
  /// True once cancel() was called on this handle (or the copy it was copied from), as in
  /// Python, whether or not the callback had already run.
  bool cancelled() const noexcept { return cancelled_; }

 protected:
  friend class EventLoop;
  explicit Handle(detail::HandleNode* node) noexcept
      : node_(node), generation_(node->generation_) {}
  bool live() const noexcept { return node_ && node_->generation_ == generation_; }

  detail::HandleNode* node_ = nullptr;
  std::uint64_t generation_ : 63 = 0;  // the node's generation when scheduled (61 bits)
  bool cancelled_ : 1 = false;
};

/// A callback scheduled for a point in time (call_later / call_at).
class TimerHandle : public Handle {
 public:
  TimerHandle() = default;
  /// The loop time the callback is scheduled for.
  TimePoint when() const noexcept { return when_; }

 private:
  friend class EventLoop;
  TimerHandle(detail::HandleNode* node, TimePoint when) noexcept : Handle(node), when_(when) {}
  TimePoint when_{};
};

}  // namespace asyncio
