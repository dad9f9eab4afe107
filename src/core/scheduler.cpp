// Scheduler: the node pool, timers and their cancellation, the timer run phase, debug mode's
// checks, and what close() does to callbacks and tasks that will never run.
#include "asyncio/detail/scheduler.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

#include "asyncio/event_loop.hpp"
#include "asyncio/exceptions.hpp"
#include "asyncio/task.hpp"
#include "debug/reports.hpp"

namespace asyncio::detail {

thread_local constinit RunningLoop running_loop;

// A million pending timers are a million nodes: keep them at 96 bytes on 64-bit targets, and
// a sleeping task's at 64.
static_assert(sizeof(void*) != 8 || sizeof(CallbackNode) <= 96);
static_assert(sizeof(void*) != 8 || sizeof(WakeNode) <= 64);

bool HandleNode::dispatch(Callback* cb, Action action, void*) {
  if (action == Action::find_awaiter) return false;
  auto* node = static_cast<HandleNode*>(cb);
  Scheduler* scheduler = node->scheduler_;
  if (action == Action::run && !node->cancelled_) {
    node->state_ = State::running;
    try {
      node->call();
    } catch (const KeyboardInterrupt&) {
      // Python's Handle._run lets KeyboardInterrupt through: it leaves run_forever(), and the
      // callbacks not run yet stay queued.
      node->release_callable();
      scheduler->release_node(node);
      throw;
    } catch (...) {
      scheduler->report_handle_error(std::current_exception());
    }
  }
  node->release_callable();
  scheduler->release_node(node);
  return false;
}

void HandleNode::wake_task(HandleNode* node, Op op) {
  if (op != Op::call) return;
  TaskBase* task = static_cast<WakeNode*>(node)->task_;
  task->stop_waiting();  // the node is recycled once this returns
  task->step();
}

CancelOutcome WakeNode::cancel_wait(TaskBase* task, const std::exception_ptr&) {
  task->stop_waiting();  // a second cancel must not schedule the task twice
  scheduler_->cancel_handle(this);
  task->schedule_step();
  return CancelOutcome::aborted;
}

void WakeNode::forget_waiter(TaskBase*) noexcept { scheduler_->cancel_handle(this); }

Scheduler::~Scheduler() = default;

void throw_loop_closed() { throw RuntimeError("Event loop is closed"); }

namespace {

/// A new chunk of nodes onto the free list `free`: 4 KiB of them, then twice as many each time
/// up to 2 MiB a chunk (a huge page, see large_block.hpp).
template <class Chunks>
void grow(Scheduler* scheduler, Callback*& free, Chunks& chunks) {
  using Node = typename Chunks::value_type::value_type;
  const std::size_t bytes = std::size_t{4096} << std::min<std::size_t>(chunks.size(), 9);
  auto& chunk = chunks.emplace_back(bytes / sizeof(Node));
  for (std::size_t i = chunk.size(); i-- > 0;) {
    chunk[i].scheduler_ = scheduler;
    chunk[i].set_next(free);
    free = &chunk[i];
  }
}

}  // namespace

void Scheduler::grow_pool() { grow(this, free_nodes_, pool_chunks_); }
void Scheduler::grow_wake_pool() { grow(this, free_wake_nodes_, wake_chunks_); }

void Scheduler::schedule_timer(HandleNode* node, TimePoint when) {
  node->when_ = to_ns(when);
  node->state_ = HandleNode::State::scheduled;
  try {
    timers_.push(node);
  } catch (...) {
    node->release_callable();
    release_node(node);
    throw;
  }
}

void Scheduler::cancel_handle(HandleNode* node) noexcept {
  using State = HandleNode::State;
  node->cancelled_ = true;
  switch (node->state_) {
    case State::ready:
      node->release_callable();  // the node itself is skipped when the loop reaches it
      break;
    case State::scheduled:  // in the timer queue, or among the due timers
      node->release_callable();
      // Like CPython: leave it in the queue, but purge the queue once most of it is dead.
      if (++cancelled_timers_ > 100 && cancelled_timers_ * 2 > timers_.size()) {
        timers_.remove_if([this](HandleNode* n) {
          if (!n->cancelled_) return false;
          release_node(n);
          return true;
        });  // (one that is already due is released when its turn comes)
        cancelled_timers_ = 0;
      }
      break;
    case State::running:  // cancelling itself: it is released when it returns
    case State::free:
      break;
  }
}

void Scheduler::run_timer_batch() {
  // Due timers come out in deadline order, which is no order in memory: with many sleeping tasks
  // each node, task and frame would be a cache miss in turn. They are read ahead in stages: a
  // node 24 places ahead, the task it wakes 16 ahead (the node was read in by then), the task's
  // frame, newest done callback and registry slot 8 ahead (the task was). Only pointers that
  // are already in the cache are followed; the rest is prefetched. Reading a node or task that
  // is still scheduled is safe: it is alive until its turn comes.
  const auto prefetch_two_lines = [](const void* p) {
    __builtin_prefetch(p);
    __builtin_prefetch(static_cast<const char*>(p) + 64);
  };
  const std::size_t n = due_timers_.size();
  std::size_t i = 0;
  try {
    for (; i < n; ++i) {
      if (i + 24 < n) prefetch_two_lines(due_timers_[i + 24]);
      if (i + 16 < n) {
        if (const TaskBase* task = due_timers_[i + 16]->task_to_wake()) prefetch_two_lines(task);
      }
      if (i + 8 < n) {
        if (const TaskBase* task = due_timers_[i + 8]->task_to_wake()) {
          // (the root frame, or the innermost link, which is in the frame above the innermost)
          prefetch_two_lines(reinterpret_cast<const void*>(task->innermost_ & ~TaskBase::link_bit));
          __builtin_prefetch(task->newest_callback());  // (a gather's child, say)
          __builtin_prefetch(tasks_.slot_address(task->index_));
        }
      }
      run(due_timers_[i]);
    }
  } catch (...) {
    // A KeyboardInterrupt left a timer's callback (HandleNode::dispatch): the timers after it
    // stay due, to run first when the loop runs again.
    ticks_since_poll_ += static_cast<unsigned>(i + 1);
    due_timers_.erase(due_timers_.begin(),
                      due_timers_.begin() + static_cast<std::ptrdiff_t>(i + 1));
    throw;
  }
  ticks_since_poll_ += static_cast<unsigned>(n);
  due_timers_.clear();
}

void Scheduler::report_handle_error(std::exception_ptr error) noexcept {
  loop_->call_exception_handler({"Exception in callback", std::move(error), "<Handle>"});
}

void Scheduler::run_observed(Callback* cb) {
  // What runs is read before it runs: a step may free its task, a handle is recycled at once.
  // It is only named (symbols looked up) when it is reported.
  TaskBase* task = nullptr;
  const void* code = nullptr;  // the stored callable's code, or the coroutine to be resumed
  if (cb->is_task()) {
    task = static_cast<TaskBase*>(cb);  // a task's step
  } else if (cb->runs(&HandleNode::dispatch)) {
    auto* node = static_cast<HandleNode*>(cb);
    task = node->task_to_wake();  // a sleeping task's step, run by its timer
    if (!task) code = reinterpret_cast<const void*>(node->op_);
  }
  if (task) {
    task->add_ref();
    // The innermost frame's resume function (its first word).
    if (const void* frame = task->current_frame().address()) std::memcpy(&code, frame, sizeof code);
  }
  const bool done_callback = !task && !code && DoneCallbackBase::is_done_callback(cb);
  const TimePoint start = Clock::now();
  cb->invoke(Callback::Action::run);
  const TimePoint end = Clock::now();
  const Clock::duration took = end - start;
  const bool longest = took > longest_callback_;
  if (longest || (debug_ && took >= slow_callback_duration_)) {
    CallbackIdentity what{task != nullptr, task ? task->get_name() : std::string(), code,
                          done_callback};
    if (debug_ && took >= slow_callback_duration_) report_if_slow(took, describe_callback(what));
    if (longest) {
      longest_callback_ = took;
      longest_callback_what_ = std::move(what);
    }
  }
  if (task) {
    if (!task->done()) task->make_extras().last_step = end;
    task->release();
  }
}

void Scheduler::report_if_slow(Clock::duration took, const std::string& what) {
  if (took < slow_callback_duration_) return;
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.3f", std::chrono::duration<double>(took).count());
  loop_->call_exception_handler(
      {"Executing " + what + " took " + seconds + " seconds", nullptr, {}});
}

std::string Scheduler::longest_callback_name() const {
  return longest_callback_.count() > 0 ? describe_callback(longest_callback_what_) : std::string();
}

std::size_t Scheduler::ready_count() const noexcept {
  std::size_t count = 0;
  ready_.for_each([&count](const Callback*) { ++count; });
  return count;
}

void Scheduler::check_thread_slow() const {
  const std::thread::id owner = thread_id_.load(std::memory_order_relaxed);
  if (owner != std::thread::id() && owner != std::this_thread::get_id()) {
    throw RuntimeError(
        "Non-thread-safe operation invoked on an event loop other than the current one");
  }
}

std::vector<TaskBase*> Scheduler::destroy_pending_frames() noexcept {
  std::vector<TaskBase*> pending;
  while (TaskBase* task = tasks_.take_any()) {
    loop_->call_exception_handler({"Task was destroyed but it is pending!", nullptr,
                                   task->describe(), task->describe_for_report()});
    // What it waits on forgets it; then its frames go, innermost first, at constant stack
    // (awaiters that are themselves the wait target unlink the task as they are destroyed).
    if (WaitTarget* target = std::exchange(task->waiting_on_, nullptr)) target->forget_waiter(task);
    task->destroy_frames();
    // Its done callbacks will never run: drop them, and the references they hold (a gather
    // holds its children and is held by their callbacks).
    task->discard_callbacks();
    pending.push_back(task);  // (a failure to allocate here ends the program)
  }
  return pending;
}

bool Scheduler::discard_queued() noexcept {
  bool discarded = false;
  while (!ready_.empty()) {
    ready_.pop()->invoke(Callback::Action::discard);
    discarded = true;
  }
  std::vector<HandleNode*> due = std::move(due_timers_);
  due_timers_.clear();
  for (HandleNode* node : due) node->invoke(Callback::Action::discard);
  discarded |= !due.empty();
  std::vector<HandleNode*> timers;
  timers.reserve(timers_.size());  // (a failure to allocate here ends the program)
  timers_.clear([&timers](HandleNode* node) { timers.push_back(node); });
  cancelled_timers_ = 0;
  for (HandleNode* node : timers) {
    node->release_callable();
    release_node(node);
  }
  discarded |= !timers.empty();
  return discarded;
}

}  // namespace asyncio::detail

namespace asyncio {

void Handle::cancel() {
  cancelled_ = true;
  if (!live() || node_->cancelled_) return;  // already ran, or already cancelled
  node_->scheduler_->cancel_handle(node_);
}

}  // namespace asyncio
