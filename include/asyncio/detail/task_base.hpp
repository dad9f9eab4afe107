// The non-template part of a Task: how it steps its coroutine frames, what it waits on, and how
// it is cancelled. TaskState<T> (task.hpp) adds the value and the typed completion.
//
// Implementation notes. A task resumes its frames from one loop in step(), never from inside
// another frame: when a coroutine awaits a Coro, the awaiter only records the child as the
// task's current frame and suspends; step() then resumes the child, and the child's final
// suspend hands control back the same way. Symmetric transfer would do this with a tail call,
// but g++ 12 does not emit one at -O0 or under ASan, and deep or long chains of awaits then
// overflow the stack. With this trampoline the C++ stack depth is constant however deep the
// chain of awaits, at the cost of one return to step() per await of a Coro.
#pragma once

#include <coroutine>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>

#include "asyncio/detail/callback.hpp"
#include "asyncio/detail/frame_allocator.hpp"
#include "asyncio/detail/future_state.hpp"

namespace asyncio::detail {

/// What every frame a task drives knows: who awaits it. Which task drives it is not stored in
/// the frame (it is the loop's running task: see running_task()), which keeps frames small.
struct PromiseBase : PooledFrame {
  std::coroutine_handle<> continuation_;  // the frame awaiting this one; null for a task's root
};

template <class P>
concept AsyncioPromise = std::derived_from<P, PromiseBase>;

class TaskBase : public FutureStateBase, public Callback {
 public:
  TaskBase(EventLoop* loop, Callback::Fn step, std::coroutine_handle<> root, std::string_view name);
  ~TaskBase() override;

  TaskBase* as_task() noexcept override { return this; }
  std::string describe() const override;
  /// Python's Task.cancel: cancels what the task waits on, or arranges for CancelledError to be
  /// thrown into the coroutine when it next resumes.
  bool cancel(const std::exception_ptr& error) override;

  std::string get_name() const;
  void set_name(std::string name);
  std::uint32_t cancelling() const noexcept { return num_cancels_requested_; }
  /// Withdraws one cancel request; when none is left, a cancellation not yet thrown into the
  /// coroutine is dropped too (Python 3.13), so a timeout that fired just as its block finished
  /// does not cancel the task's next await.
  std::uint32_t uncancel() noexcept {
    if (num_cancels_requested_ > 0 && --num_cancels_requested_ == 0 && !done()) {
      exception_ = nullptr;  // while pending: the cancellation not yet thrown, if any
    }
    return num_cancels_requested_;
  }

  // --- Called by awaiters from inside the task's frames ----------------------------------------

  /// Makes `frame` the one resume_frames() resumes next, without waiting for the loop.
  void continue_with(std::coroutine_handle<> frame) noexcept { current_ = frame; }
  /// The root frame reached its final suspend point.
  void root_finished() noexcept { current_ = nullptr; }
  /// Puts the task on the ready queue (sleep(0), or a wake-up).
  void schedule_step() noexcept { LoopAccess::ready(*loop_).push(this); }
  /// Suspends the task on `future`, which must be pending.
  void wait_on(FutureStateBase* future);
  /// Suspends the task on `target`; if a cancellation is pending, hands it to the target.
  void begin_wait(WaitTarget* target) {
    waiting_on_ = target;
    if (exception_) [[unlikely]] {
      if (target->cancel_wait(this, exception_)) exception_ = nullptr;
    }
  }
  /// The task resumed after a wait: throws the pending cancellation, if any.
  void end_wait() {
    waiting_on_ = nullptr;
    if (exception_) [[unlikely]] throw_cancel_request();
  }
  /// True while the task is suspended on `target`.
  bool waiting_on(const WaitTarget* target) const noexcept { return waiting_on_ == target; }

 protected:
  /// Runs the frames until the task suspends on something (current_ stays the same frame) or
  /// its root frame finishes (current_ becomes null). A frame that awaits a Coro, or finishes
  /// with an awaiter waiting, changes current_ and returns here, which resumes the next one.
  void resume_frames() {
    for (;;) {
      std::coroutine_handle<> frame = current_;
      frame.resume();
      if (current_ == frame || !current_) return;
    }
  }
  bool root_finished_running() const noexcept { return !current_; }
  /// Completes the task from its root frame's outcome: a value was stored, `error` is null;
  /// a CancelledError ends it cancelled; anything else fails it.
  void complete(std::exception_ptr error);
  /// Takes the pending cancellation request (there must be one).
  std::exception_ptr take_cancel_request() noexcept { return std::exchange(exception_, nullptr); }
  [[noreturn]] void throw_cancel_request();

  // Invariant (CPython's): a task is either on the ready queue, or waiting on exactly one
  // target (waiting_on_), or running, or done; never two of these at once.
  std::coroutine_handle<> current_;   // innermost frame: resumed when the task next steps
  std::coroutine_handle<> root_;      // outermost frame; the task owns it until it finishes
  WaitTarget* waiting_on_ = nullptr;  // CPython's _fut_waiter
  std::uint32_t index_ = 0;           // its slot in the loop's TaskRegistry
  std::uint32_t number_ : 30 = 0;     // for the default name "Task-<number>" (modulo 2^30)
  bool started_ : 1 = false;          // the first step ran
  bool named_ : 1 = false;            // the loop holds a name for it (set_name)
  // CPython's _must_cancel is not a field: while the task is pending, a non-null exception_
  // (FutureStateBase) is the CancelledError to throw at its next resumption. The cancel
  // request count, Task.cancelling(), lives in FutureStateBase too, where it fills padding.

  friend class asyncio::EventLoop;
  friend struct LoopAccess;
  friend class TaskRegistry;
};

/// The task whose frames are running on this thread. Awaiters call it from await_suspend and
/// await_resume: frames only ever run inside their task's step (TaskBase::resume_frames).
inline TaskBase* running_task() noexcept { return LoopAccess::current_task(*running_loop); }

}  // namespace asyncio::detail
