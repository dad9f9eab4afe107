// The scheduler: what runs next on a loop. The ready queue, the pool of call_soon/call_later
// nodes, the timer queue, the tasks that have not finished and the one that is running. It is
// the small interface futures and tasks depend on (a future completes by pushing its callbacks
// onto the ready queue); it knows nothing of file descriptors or threads. EventLoop owns one and
// drives its phases from run_once.
//
// Implementation notes. Due timers are taken out of the timer queue by the poll phase
// (collect_due_timers) without touching their nodes, and run after that iteration's ready
// callbacks (run_due_timers), as CPython appends them to its ready queue. A cancelled timer
// stays in the queue until its turn, unless most of the queue is cancelled timers: then the
// queue is purged (CPython's rule).
#pragma once

#include <atomic>
#include <cassert>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <source_location>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "asyncio/contextvars.hpp"
#include "asyncio/detail/callback.hpp"
#include "asyncio/detail/intrusive_list.hpp"
#include "asyncio/detail/large_block.hpp"
#include "asyncio/detail/task_registry.hpp"
#include "asyncio/detail/timer_queue.hpp"
#include "asyncio/handle.hpp"

namespace asyncio {
class EventLoop;
}

namespace asyncio::detail {

class TaskBase;

/// Loop time as nanoseconds of the monotonic clock (which starts at boot: never negative): the
/// unit of the timer queue's deadlines.
inline std::uint64_t to_ns(TimePoint t) noexcept {
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  return ns > 0 ? static_cast<std::uint64_t>(ns) : 0;
}

/// What a task rarely needs, kept by its scheduler beside it rather than in every task: the
/// name given to set_name() (or one whose number does not fit in the task), a cancel request
/// count of 0xFFFF or more, the Context given to create_task, and its context's identity.
struct TaskExtras {
  std::optional<std::string> name;         // none: "Task-<number>"
  std::uint32_t cancels = 0;               // meaningful while the task's own count says 0xFFFF
  ContextState* shared_context = nullptr;  // the Context given to create_task (a count)
  std::source_location created_at{};   // debug mode: where create_task was called (line 0: unknown)
  std::optional<TimePoint> last_step;  // when observed (Scheduler::observed): its last step's end
  ContextIdentity context_identity;    // of its own context, once a ContextVar was set in it
};

/// What a callback was, read before it ran (it may be freed by then), for naming it later.
struct CallbackIdentity {
  bool task_step = false;
  std::string task_name;       // a task step's task
  const void* code = nullptr;  // a task step: the resume address of the frame it resumed; a
                               // call_soon/call_later callback: its stored operation
  bool done_callback = false;  // a future's done callback
};

class Scheduler {
 public:
  explicit Scheduler(EventLoop& loop) noexcept : loop_(&loop) {}
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  /// The loop this scheduler runs for (its public face).
  EventLoop& loop() const noexcept { return *loop_; }

  // --- The ready queue ------------------------------------------------------------------------

  /// Appends `cb`; it runs on the loop's next run phase (or is discarded by close()).
  void push_ready(Callback* cb) noexcept { ready_.push(cb); }
  void push_ready_task(Callback* task) noexcept { ready_.push_task(task); }
  /// Appends every callback of `batch`, in order, emptying it.
  void push_ready(ReadyQueue& batch) noexcept { ready_.splice(batch); }
  bool has_ready() const noexcept { return !ready_.empty(); }
  /// Whether the loop should poll for I/O before running callbacks: none is ready, or
  /// poll_interval of them ran since the last poll.
  bool poll_due() const noexcept { return ready_.empty() || ticks_since_poll_ >= poll_interval; }
  /// How many callbacks may run between two polls while callbacks keep being ready (Tokio's
  /// event_interval): a busy loop still sees I/O and timers.
  static constexpr unsigned poll_interval = 61;

  // --- call_soon / call_later nodes -----------------------------------------------------------

  CallbackNode* acquire_node() {
    if (!free_nodes_) grow_pool();
    return static_cast<CallbackNode*>(take_free(free_nodes_));
  }
  WakeNode* acquire_wake_node() {
    if (!free_wake_nodes_) grow_wake_pool();
    return static_cast<WakeNode*>(take_free(free_wake_nodes_));
  }
  void release_node(HandleNode* node) noexcept {
    assert(node->state_ != HandleNode::State::free);  // released once per use
    node->generation_ = (node->generation_ + 1) & HandleNode::generation_mask;
    node->state_ = HandleNode::State::free;
    node->cancelled_ = false;
    node->op_ = nullptr;
    Callback*& free = node->wakes_task_ ? free_wake_nodes_ : free_nodes_;
    node->set_next(free);
    free = node;
  }
  /// Queues `node` (its callable stored) to run at once.
  void schedule_soon(HandleNode* node) noexcept {
    node->state_ = HandleNode::State::ready;
    ready_.push(node);
  }
  /// Queues `node` (its callable stored) to run at `when`; on failure the node is released.
  void schedule_timer(HandleNode* node, TimePoint when);
  /// Handle::cancel: the node's callable is released now, the node when its turn comes.
  void cancel_handle(HandleNode* node) noexcept;

  // --- Timers ---------------------------------------------------------------------------------

  /// The earliest timer deadline in loop-clock nanoseconds (maybe a cancelled timer's: the
  /// loop then just wakes early); none when no timer is pending. 0 while timers taken out as due
  /// wait to run (a KeyboardInterrupt stopped their batch).
  std::optional<std::uint64_t> next_deadline() const noexcept {
    if (!due_timers_.empty()) [[unlikely]]
      return 0;
    if (timers_.empty()) return std::nullopt;
    return timers_.top_when();
  }
  /// Takes the timers due at `now_ns` out of the queue, to run after the ready callbacks.
  void collect_due_timers(std::uint64_t now_ns) {
    while (!timers_.empty() && timers_.top_when() <= now_ns) due_timers_.push_back(timers_.pop());
  }

  // --- The run phases (EventLoop::run_once) ----------------------------------------------------

  void poll_done() noexcept {
    callbacks_run_ += ticks_since_poll_;
    ticks_since_poll_ = 0;
  }
  /// Runs exactly the callbacks that were ready when it began; those they schedule wait for
  /// the next iteration.
  void run_ready() {
    if (ready_.empty()) return;
    Callback* last = ready_.back();
    for (;;) {
      Callback* cb = ready_.pop();
      const bool end = cb == last;
      run(cb);
      ++ticks_since_poll_;
      if (end) return;
    }
  }
  /// Runs the timers the last poll found due, in deadline order.
  void run_due_timers() {
    if (!due_timers_.empty()) run_timer_batch();
  }

  // --- Tasks ----------------------------------------------------------------------------------

  TaskRegistry& tasks() noexcept { return tasks_; }
  std::uint64_t next_task_number() noexcept { return ++task_counter_; }
  /// The task whose step is running; null between steps.
  TaskBase*& current_task() noexcept { return current_task_; }
  std::unordered_map<const TaskBase*, TaskExtras>& task_extras() noexcept { return task_extras_; }
  /// AsyncGenerators first iterated on this loop and not finished (shutdown_asyncgens).
  IntrusiveList& asyncgens() noexcept { return asyncgens_; }

  // --- Debug mode -----------------------------------------------------------------------------

  bool debug() const noexcept { return debug_; }
  void set_debug(bool enabled) noexcept {
    debug_ = enabled;
    observed_ = debug_ || inspected_;
  }
  /// Inspection (inspection.hpp) is on: callbacks are timed as in debug mode, without its checks.
  void set_inspected(bool enabled) noexcept {
    inspected_ = enabled;
    observed_ = debug_ || inspected_;
  }
  /// Whether each callback is timed, and each task's last step noted (TaskExtras::last_step).
  bool observed() const noexcept { return observed_; }
  Clock::duration slow_callback_duration() const noexcept { return slow_callback_duration_; }
  void set_slow_callback_duration(Clock::duration d) noexcept { slow_callback_duration_ = d; }
  /// Debug mode only: RuntimeError when called, while the loop runs, from a thread other than
  /// the loop's.
  void check_thread() const {
    if (debug_) [[unlikely]]
      check_thread_slow();
  }
  /// The thread running the loop (run_forever sets it, and resets it on return).
  void set_thread(std::thread::id id) noexcept { thread_id_.store(id, std::memory_order_relaxed); }
  /// Whether the loop runs, on the calling thread (any thread may ask).
  bool running_on_this_thread() const noexcept {
    return thread_id_.load(std::memory_order_relaxed) == std::this_thread::get_id();
  }
  /// Debug mode: reports a callback that took `took`, if that is too long; `what` names it.
  void report_if_slow(Clock::duration took, const std::string& what);

  // --- Counters (EventLoop::stats) ------------------------------------------------------------

  /// Callbacks and timers run so far.
  std::uint64_t callbacks_run() const noexcept { return callbacks_run_ + ticks_since_poll_; }
  std::size_t ready_count() const noexcept;
  std::size_t timer_count() const noexcept { return timers_.size() + due_timers_.size(); }
  /// The longest callback the loop timed (observed() only), and what it was.
  Clock::duration longest_callback() const noexcept { return longest_callback_; }
  std::string longest_callback_name() const;
  /// Reports what a call_soon/call_later callback threw (out of line: the dispatch that calls
  /// it stays small).
  [[gnu::noinline]] void report_handle_error(std::exception_ptr error) noexcept;

  // --- Closing --------------------------------------------------------------------------------

  /// Destroys the frames of every unfinished task, reporting each ("Task was destroyed but it
  /// is pending!"), and takes the tasks out of the registry. Returns them: the caller lets go
  /// of the loop's reference to each (release()) once the queues that may still hold them are
  /// emptied.
  std::vector<TaskBase*> destroy_pending_frames() noexcept;
  /// Discards every ready callback and timer unrun. A callable's destructor may schedule more;
  /// returns whether any was discarded (the caller repeats until nothing is left anywhere).
  bool discard_queued() noexcept;

 private:
  void run(Callback* cb) {
    if (observed_) [[unlikely]] {
      run_observed(cb);
    } else {
      cb->invoke(Callback::Action::run);
    }
    // A callback without a context of its own runs in the empty one: what it set was its own.
    if (current_context) [[unlikely]]
      drop_stray_context();
  }
  void run_timer_batch();
  void run_observed(Callback* cb);
  void check_thread_slow() const;
  static Callback* take_free(Callback*& free) noexcept {
    Callback* node = free;
    free = node->next();
    node->set_next(nullptr);
    return node;
  }
  void grow_pool();
  void grow_wake_pool();

  EventLoop* loop_;

  // Ready callbacks, FIFO. Invariant: every callback in it runs (or is discarded) exactly once.
  ReadyQueue ready_;
  unsigned ticks_since_poll_ = 0;  // callbacks run since the loop last polled for I/O

  // Timers. cancelled_timers_ counts timers cancelled since the queue was last purged of them
  // (an estimate: it only decides when to purge). due_timers_: taken out of the queue by the
  // last poll, run after the ready callbacks of the same iteration, in deadline order.
  TimerQueue timers_;
  std::size_t cancelled_timers_ = 0;
  std::vector<HandleNode*> due_timers_;

  // call_soon/call_later nodes: allocated in chunks, recycled through free_nodes_, freed with
  // the scheduler (so a node's address is stable while a Handle may refer to it).
  template <class Node>
  using NodeChunks = std::vector<std::vector<Node, LargeAllocator<Node>>>;
  Callback* free_nodes_ = nullptr;
  NodeChunks<CallbackNode> pool_chunks_;
  Callback* free_wake_nodes_ = nullptr;  // the same for the sleeping tasks' WakeNodes
  NodeChunks<WakeNode> wake_chunks_;

  TaskRegistry tasks_;                                           // unfinished tasks
  std::uint64_t task_counter_ = 0;                               // for "Task-N" names
  std::unordered_map<const TaskBase*, TaskExtras> task_extras_;  // rarely needed
  TaskBase* current_task_ = nullptr;
  IntrusiveList asyncgens_;

  bool debug_ = false;
  bool inspected_ = false;
  bool observed_ = false;  // debug_ || inspected_
  Clock::duration slow_callback_duration_ = std::chrono::milliseconds(100);
  std::uint64_t callbacks_run_ = 0;  // before the last poll (ticks_since_poll_ counts since)
  Clock::duration longest_callback_{};
  CallbackIdentity longest_callback_what_;
  std::atomic<std::thread::id> thread_id_{};  // the thread running the loop; none when not running
};

/// RuntimeError("Event loop is closed").
[[noreturn]] void throw_loop_closed();

/// The loop running on this thread and its scheduler, set together by EventLoop::run_forever
/// (and by close() while it destroys what was left); both null when none runs. Both are kept so
/// that get_running_loop() and running_task() each cost one load. (constinit: reading it from
/// another translation unit needs no guard for its initialization.)
struct RunningLoop {
  EventLoop* loop = nullptr;
  Scheduler* scheduler = nullptr;
};
extern thread_local constinit RunningLoop running_loop;

/// The task whose frames are running on this thread. Awaiters call it from await_suspend and
/// await_resume: frames only ever run inside their task's step (TaskBase::resume_frames).
inline TaskBase* running_task() noexcept { return running_loop.scheduler->current_task(); }

}  // namespace asyncio::detail
