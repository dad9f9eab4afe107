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
//
// The chain of frames a task is suspended in is joined by FrameLinks, one in each awaiter
// that awaits a frame (in the outer frame), reached from the task's innermost link. An awaited
// Coro's frame is owned by its link. Tearing a task down (EventLoop::close) destroys the frames
// innermost first by following the links, so that no destructor destroys a live child frame:
// constant stack at any depth, and each frame dies before the frames it may refer to.
#pragma once

#include <cassert>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <iosfwd>
#include <optional>
#include <source_location>
#include <string>
#include <string_view>
#include <vector>
#include "asyncio/contextvars.hpp"
#include "asyncio/detail/callback.hpp"
#include "asyncio/detail/frame_allocator.hpp"
#include "asyncio/detail/future_state.hpp"

namespace asyncio::detail {

/// The promise of every frame a task drives (Coro, AsyncGenerator). It stores nothing: which
/// task drives the frame is the loop's running task (see running_task()), and who awaits it is
/// in the awaiter's FrameLink; this keeps frames small.
struct PromiseBase : PooledFrame {};

/// Joins a frame (`outer`) to the frame it awaits while the task runs the inner one. It lives
/// in the awaiter, so inside the outer frame.
struct FrameLink {
  std::coroutine_handle<> outer;  // resumed when the inner frame finishes (or yields)
  FrameLink* up = nullptr;        // the link that joins `outer` to its own awaiter; null when
                                  // `outer` is the task's root frame

  /// The inner frame, which the link owns (an awaited Coro: destroyed with the awaiter) or not
  /// (an AsyncGenerator's).
  void set_inner(std::coroutine_handle<> frame, bool owned) noexcept {
    inner_ = reinterpret_cast<std::uintptr_t>(frame.address()) | (owned ? 0 : not_owned_bit);
  }
  std::coroutine_handle<> inner() const noexcept {
    return std::coroutine_handle<>::from_address(reinterpret_cast<void*>(inner_ & ~not_owned_bit));
  }
  bool owns_inner() const noexcept { return inner_ != 0 && !(inner_ & not_owned_bit); }
  /// The task's teardown destroyed the inner frame: the awaiter must not.
  void disown_inner() noexcept { inner_ |= not_owned_bit; }

 private:
  // The inner frame's address (frames are at least 8-byte aligned); its low bit is set when
  // the link does not own the frame.
  static constexpr std::uintptr_t not_owned_bit = 1;
  std::uintptr_t inner_ = 0;
};

template <class P>
concept AsyncioPromise = std::derived_from<P, PromiseBase>;

class TaskBase : public FutureStateBase, public Callback {
 public:
  /// `context`: the values the task runs with (it adds a count), or null for none.
  TaskBase(Scheduler* scheduler, std::coroutine_handle<> root, std::string_view name,
           ContextData* context);
  /// Makes the task run in `context` itself (create_task's context=), not in its own values;
  /// right after construction.
  void run_in(const Context& context);
  ~TaskBase() override;

  TaskBase* as_task() noexcept override { return this; }
  /// CPython's Task.__step: resumes the coroutine until it suspends or finishes. What the loop
  /// runs when the task is ready (the task is its own Callback), or a waker runs directly. The
  /// running task is null around a step the loop runs, and the creator around an eager first
  /// step.
  void step();
  std::string describe() const override;
  /// Python's Task.cancel: cancels what the task waits on, or arranges for CancelledError to be
  /// thrown into the coroutine when it next resumes.
  bool cancel(const std::exception_ptr& error) override;

  std::string get_name() const;
  void set_name(std::string name);
  /// Debug mode: where create_task made it (a null line: unknown).
  [[gnu::cold]] void set_created_at(const std::source_location& where);
  std::source_location created_at() const noexcept;
  /// When the task's last step ended, if the loop observed it (debug mode, or inspection).
  std::optional<TimePoint> last_step() const noexcept;
  /// describe(), where it was created (debug mode) and its call graph: what reports about a
  /// task show.
  std::string describe_for_report() const;
  /// Python's Task.get_context(): the Context given to create_task, itself; otherwise a copy
  /// of the task's values as they are now (Python gives the task's own context object, through
  /// which a change would reach the task; here it does not).
  Context get_context() const;
  /// The identity of the task's own context, which the ContextVar tokens made in its steps
  /// belong to (a task given a Context runs in that one's instead).
  std::uint64_t context_identity();
  /// Python's Task.get_coro(): the task's root coroutine frame; null once the task is done.
  std::coroutine_handle<> get_coro() const noexcept;
  /// Python's Task.get_stack(): the coroutine frames the task is suspended in, oldest (its
  /// root) first, at most the newest `limit`; empty once done, and while it runs.
  std::vector<std::coroutine_handle<>> get_stack(std::size_t limit) const;
  /// Calls f(frame) for each of the task's coroutine frames, the innermost first (while the
  /// task runs, the innermost is the frame running); none once the task is done.
  template <class F>
  void for_each_frame(F&& f) const {
    if (!innermost_) return;
    f(current_frame());
    for (const FrameLink* link = current_link(); link; link = link->up) f(link->outer);
  }
  /// Python's Task.print_stack(): "Stack for <Task ...> (most recent call last):" and a line
  /// per frame of get_stack(limit): its coroutine's function, file and line.
  void print_stack(std::ostream& out, std::size_t limit) const;
  void print_stack(std::size_t limit) const;  // to stderr
  /// Task.cancelling(): cancel requests not yet withdrawn by uncancel(), 32 bits wide.
  std::uint32_t cancelling() const noexcept {
    if (num_cancels_requested_ < cancels_elsewhere) [[likely]]
      return num_cancels_requested_;
    return extras().cancels;
  }
  /// Withdraws one cancel request; when none is left, a cancellation not yet thrown into the
  /// coroutine is dropped too (Python 3.13), so a timeout that fired just as its block finished
  /// does not cancel the task's next await.
  std::uint32_t uncancel() noexcept;

  // --- Called by awaiters from inside the task's frames ----------------------------------------

  /// `outer`, the current frame, awaits the inner frame of `link` (set_inner): that frame
  /// becomes the one resume_frames() resumes next, without waiting for the loop.
  void enter(std::coroutine_handle<> outer, FrameLink* link) noexcept {
    link->outer = outer;
    link->up = current_link();
    innermost_ = reinterpret_cast<std::uintptr_t>(link) | link_bit;
  }
  /// The current frame finished or yielded: its awaiter's frame runs next, or, for the root
  /// frame, the task is done running.
  void leave() noexcept {
    if (FrameLink* link = current_link()) [[likely]] {
      innermost_ = link->up ? reinterpret_cast<std::uintptr_t>(link->up) | link_bit
                            : reinterpret_cast<std::uintptr_t>(link->outer.address());
    } else {
      root_done_ = true;
    }
  }
  /// Puts the task on the ready queue (sleep(0), or a wake-up).
  void schedule_step() noexcept { scheduler_->push_ready_task(this); }
  /// A wake-up the task has not run yet was taken back (wait_queue.hpp): the step it scheduled
  /// does nothing when the loop reaches it, and the task goes on waiting.
  void withdraw_step() noexcept { step_withdrawn_ = true; }
  /// schedule_step(), for a task that may have a withdrawn step still on the ready queue: that
  /// one is given back instead.
  void schedule_step_or_give_back() noexcept {
    if (step_withdrawn_) [[unlikely]]
      step_withdrawn_ = false;
    else
      schedule_step();
  }
  /// The pending cancellation is the one the task raises, as after an aborted wait: uncancel()
  /// no longer withdraws it.
  void make_cancel_final() noexcept { cancel_is_final_ = true; }
  /// Python's Task.__eager_start: runs the new task's first step now, with its creator's
  /// context put aside (the caller holds a reference: the step may finish the task).
  void start_eagerly() noexcept;
  /// Suspends the task on `future`, which must be pending.
  void wait_on(FutureStateBase* future);
  /// Suspends the task on `target`; if a cancellation is pending, hands it to the target.
  void begin_wait(WaitTarget* target) {
    assert(waiting_on_ == nullptr);  // one target at a time (the invariant below)
    waiting_on_ = target;
    if (exception_) [[unlikely]]
      hand_cancel_to(target);
  }
  /// The task resumed after a wait: throws the pending cancellation, if any.
  void end_wait() {
    waiting_on_ = nullptr;
    if (exception_) [[unlikely]]
      throw_cancel_request();
  }
  /// end_wait() that hands the pending cancellation back instead of throwing it (null: none).
  std::exception_ptr end_wait_taking_cancellation() noexcept {
    waiting_on_ = nullptr;
    return take_cancel_request();
  }
  /// Whether a cancellation is pending: end_wait() would throw it.
  bool cancellation_pending() const noexcept { return exception_ != nullptr; }
  /// The target woke the task, or cancel_wait scheduled it, and will not know it from now on
  /// (a sleep's timer node, recycled once it has fired).
  void stop_waiting() noexcept { waiting_on_ = nullptr; }

 protected:
  /// Runs the frames until the task suspends on something, or its root frame finishes (in both
  /// cases innermost_ is left as it was when that frame was resumed). A frame that awaits a
  /// Coro, or finishes with an awaiter waiting, changes innermost_ and returns here, which
  /// resumes the next one.
  void resume_frames() {
    for (;;) {
      const std::uintptr_t resumed = innermost_;
      current_frame().resume();
      if (innermost_ == resumed) return;
    }
  }
  /// The innermost frame: the one running, or resumed when the task next steps.
  std::coroutine_handle<> current_frame() const noexcept {
    if (const FrameLink* link = current_link()) return link->inner();
    return std::coroutine_handle<>::from_address(reinterpret_cast<void*>(innermost_));
  }
  /// The link that joins the innermost frame to the frame awaiting it; null when the innermost
  /// frame is the root.
  FrameLink* current_link() const noexcept {
    return innermost_ & link_bit ? reinterpret_cast<FrameLink*>(innermost_ & ~link_bit) : nullptr;
  }
  bool root_finished_running() const noexcept { return root_done_; }
  /// The root frame finished: completes the task with its value or exception (the one part of
  /// a step that depends on the value type).
  virtual void finish_root() = 0;
  /// step() with the task's context values current: they go from where the task keeps them
  /// to current_context and back, so that what the step sets stays the task's.
  [[gnu::noinline]] void step_in_context();
  /// Destroys the task's frames (it must have some), innermost first (see the notes at the
  /// top); constant stack.
  void destroy_frames() noexcept;
  /// num_cancels_requested_ when the count lives in the task's extras.
  static constexpr std::uint16_t cancels_elsewhere = 0xFFFF;
  /// The task's entry in the loop's side table (has_extras_ must be set).
  TaskExtras& extras() const noexcept { return scheduler_->task_extras().find(this)->second; }
  TaskExtras& make_extras();
  static constexpr std::uint64_t max_number = (std::uint64_t{1} << 25) - 1;  // number_'s range
  /// The constructor's rare case: a name given, or a number number_ cannot hold.
  [[gnu::noinline]] void name_task(std::string_view name, std::uint64_t number);
  /// Completes the task from its root frame's outcome: a value was stored, `error` is null;
  /// a CancelledError ends it cancelled; anything else fails it.
  void complete(std::exception_ptr error);
  [[gnu::cold]] void interrupt_loop(const std::exception_ptr& interrupt);
  /// Hands the pending cancellation (exception_) to `target`, which the task waits on.
  void hand_cancel_to(WaitTarget* target);
  /// Takes the pending cancellation request (there must be one).
  std::exception_ptr take_cancel_request() noexcept {
    cancel_is_final_ = false;
    return std::exchange(exception_, nullptr);
  }
  [[noreturn]] void throw_cancel_request();
  /// Before a step (has_context_): takes the task's values out of its slot for current_context
  /// and sets entered_context to its Context, if it runs in one.
  ContextData* enter_context() noexcept {
    if (context_is_shared_) [[unlikely]]
      return enter_shared_context();
    entered_context = nullptr;
    return scheduler_->tasks().take_values(index_);
  }
  /// After a step: `values` (a count, or null) are the task's values from now on.
  void keep_context(ContextData* values) noexcept {
    if (context_is_shared_) [[unlikely]] {
      keep_shared_context(values);
      return;
    }
    scheduler_->tasks().set_values(index_, values);
    has_context_ = values != nullptr;
  }
  ContextData* enter_shared_context() noexcept;
  void keep_shared_context(ContextData* values) noexcept;
  void release_context() noexcept;
  /// Whether this task's step is running on this thread now.
  bool running() const noexcept;

  // Invariant (CPython's): a task is either on the ready queue, or waiting on exactly one
  // target (waiting_on_), or running, or done; never two of these at once. The one exception:
  // a waiting task whose withdrawn step (step_withdrawn_) is still on the ready queue.
  // The frames, in one word: the root frame's address while the root is the innermost frame
  // (also once it finished running), else the address of the innermost FrameLink with
  // link_bit set, from which the links lead out to the root; 0 once the frames are destroyed.
  // The task owns its root frame until it finishes.
  static constexpr std::uintptr_t link_bit = 1;
  std::uintptr_t innermost_;
  union {
    WaitTarget* waiting_on_ = nullptr;  // CPython's _fut_waiter, while pending
    ContextData* final_context_;        // once done, with has_context_: its own values (a count)
  };
  std::uint32_t index_ = 0;        // its slot in the loop's TaskRegistry
  std::uint32_t number_ : 25 = 0;  // for the default name "Task-<number>"
  // The task has a context (contextvars.hpp). Its own values: in its TaskRegistry slot between
  // steps, in current_context during a step (task.hpp, step_in_context), in final_context_
  // once done. Or, with context_is_shared_, a Context it runs in, kept in its TaskExtras.
  bool has_context_ : 1 = false;
  bool context_is_shared_ : 1 = false;
  bool started_ : 1 = false;     // the first step ran
  bool has_extras_ : 1 = false;  // the loop holds TaskExtras for it (a name, a large count)
  bool root_done_ : 1 = false;   // the root frame reached its final suspend point
  // The pending cancellation (exception_) was handed to the wait, which gave up
  // (CancelOutcome::aborted): uncancel() no longer withdraws it.
  bool cancel_is_final_ : 1 = false;
  // The task is on the ready queue for a wake-up that was taken back (withdraw_step): that step
  // does nothing but clear this.
  bool step_withdrawn_ : 1 = false;
  // CPython's _must_cancel is not a field: while the task is pending, a non-null exception_
  // (FutureStateBase) is the CancelledError to throw at its next resumption. The cancel
  // request count, Task.cancelling(), lives in FutureStateBase too, where it fills padding.

  friend class Scheduler;
  friend class TaskRegistry;
};

}  // namespace asyncio::detail
