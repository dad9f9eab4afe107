// Non-template parts of Task: creation and registration with the loop, cancellation, waiting,
// completion; and current_task / all_tasks.
#include "asyncio/task.hpp"

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <iostream>
#include <stdexcept>
#include <utility>

#include <sys/mman.h>

#include "debug/symbolizer.hpp"

namespace asyncio::detail {

// Memory per pending task is one of the runtime's measured costs (bench/bench_core.cpp): keep
// the state of a Task<void> within 72 bytes on 64-bit targets. (States and frames come from
// separate pools, frame_allocator.hpp: sharing a size class with small frames made spawning
// 1.5 to 3 times slower.)
static_assert(sizeof(void*) != 8 || sizeof(TaskState<void>) <= 72);

void TaskBase::step() {
  if (has_context_ || step_withdrawn_) [[unlikely]] {
    if (step_withdrawn_)
      step_withdrawn_ = false;  // the task waits again (withdraw_step)
    else
      step_in_context();
    return;
  }
  TaskBase*& running = scheduler_->current_task();
  TaskBase* const outer = std::exchange(running, this);
  if (!started_) [[unlikely]] {
    started_ = true;
    if (exception_) {  // cancelled before it ever ran: the body never starts
      running = outer;
      complete(take_cancel_request());
      return;
    }
  }
  resume_frames();
  running = outer;
  if (current_context) [[unlikely]]
    keep_context(std::exchange(current_context, nullptr));  // the step set a variable
  if (root_finished_running()) finish_root();
}

void TaskBase::step_in_context() {
  TaskBase*& running = scheduler_->current_task();
  TaskBase* const outer = std::exchange(running, this);
  ContextData* const outer_context = current_context;
  ContextIdentity* const outer_owner = entered_context;
  current_context = enter_context();
  bool run = true;
  if (!started_) [[unlikely]] {
    started_ = true;
    run = !exception_;  // cancelled before it ever ran: the body never starts
  }
  if (run) resume_frames();
  running = outer;
  keep_context(std::exchange(current_context, outer_context));
  entered_context = outer_owner;
  if (!run) {
    complete(take_cancel_request());
  } else if (root_finished_running()) {
    finish_root();
  }
}

void throw_of_another_loop() {
  throw std::invalid_argument(
      "The future belongs to a different loop than the one specified as the loop argument");
}

void run_task(Callback* task) { static_cast<TaskBase&>(*task).step(); }

void* task_as_awaiter(Callback* task) noexcept {
  return static_cast<FutureStateBase*>(static_cast<TaskBase*>(task));
}

TaskBase::TaskBase(Scheduler* scheduler, std::coroutine_handle<> root, std::string_view name,
                   ContextData* context)
    : FutureStateBase(scheduler),
      Callback(TaskLink{}),
      innermost_(reinterpret_cast<std::uintptr_t>(root.address())),
      has_context_(context != nullptr) {
  const std::uint64_t number = scheduler->next_task_number();
  number_ = static_cast<std::uint32_t>(number & max_number);
  if (!name.empty() || number > max_number) [[unlikely]]
    name_task(name, number);
  if (context) context->add_ref();
  scheduler->tasks().add(this, context);
  add_ref();  // the loop's reference, held until the task finishes
}

TaskBase::~TaskBase() {
  if (log_traceback_) {
    log_traceback_ = false;
    // In the task's context, as Python 3.12's call_exception_handler runs a handler in the
    // context of the task it reports (gh-96704).
    ContextData* values = nullptr;
    if (has_context_) [[unlikely]]
      values = context_is_shared_ ? extras().shared_context->data : final_context_;
    if (values) values->add_ref();  // the scope's count
    ContextIdentity identity;
    const ContextScope in_context(values, &identity);
    loop()->call_exception_handler(
        {"Task exception was never retrieved", exception_, describe(), describe_for_report()});
  }
  if (innermost_) destroy_frames();
  if (has_context_) [[unlikely]]
    release_context();
  if (has_extras_) scheduler_->task_extras().erase(this);
}

void TaskBase::release_context() noexcept {
  if (context_is_shared_)
    extras().shared_context->release();
  else if (done())
    final_context_->release();
  // (pending: TaskRegistry::take_any released it)
}

void TaskBase::run_in(const Context& context) {
  ContextState* shared = context.state();
  make_extras().shared_context = shared;
  shared->add_ref();
  context_is_shared_ = true;
  has_context_ = true;
}

void TaskBase::start_eagerly() noexcept {
  if (context_is_shared_ && extras().shared_context->entered()) {
    // Its Context is entered around create_task (Python raises here): it starts later.
    schedule_step();
    return;
  }
  // The loop runs steps with no context current (EventLoop::run_forever); so must this one.
  const ContextScope no_context(nullptr, nullptr);
  step();
}

std::coroutine_handle<> TaskBase::get_coro() const noexcept {
  if (!innermost_) return {};
  std::coroutine_handle<> root = current_frame();
  for (const FrameLink* link = current_link(); link; link = link->up) root = link->outer;
  return root;
}

std::vector<std::coroutine_handle<>> TaskBase::get_stack(std::size_t limit) const {
  std::vector<std::coroutine_handle<>> frames;
  if (!innermost_ || running() || limit == 0) return frames;
  frames.push_back(current_frame());  // newest first while walking, reversed below
  for (const FrameLink* link = current_link(); link && frames.size() < limit; link = link->up)
    frames.push_back(link->outer);
  std::reverse(frames.begin(), frames.end());
  return frames;
}

void TaskBase::print_stack(std::ostream& out, std::size_t limit) const {
  const std::vector<std::coroutine_handle<>> frames = get_stack(limit);
  if (frames.empty()) {
    out << "No stack for " << describe() << '\n';
    return;
  }
  out << "Stack for " << describe() << " (most recent call last):\n";
  for (std::coroutine_handle<> frame : frames) {
    const CodeLocation where = locate_frame(frame);
    out << "  ";
    if (!where.file.empty()) out << "File '" << where.file << "', line " << where.line << ", ";
    out << "in " << where.function << '\n';
  }
}

void TaskBase::print_stack(std::size_t limit) const { print_stack(std::cerr, limit); }

void TaskBase::keep_shared_context(ContextData* values) noexcept {
  extras().shared_context->leave(values);
}

ContextData* TaskBase::enter_shared_context() noexcept {
  ContextState* shared = extras().shared_context;
  entered_context = &shared->identity;
  return shared->enter_for_task();
}

Context TaskBase::get_context() const {
  if (context_is_shared_) return Context(extras().shared_context);
  if (done()) return has_context_ ? Context(final_context_) : Context();
  if (running()) return copy_context();  // its values are current while it runs
  return has_context_ ? Context(scheduler_->tasks().get_values(index_)) : Context();
}

bool TaskBase::running() const noexcept {
  return running_loop.scheduler && running_loop.scheduler->current_task() == this;
}

void TaskBase::name_task(std::string_view name, std::uint64_t number) {
  // A number past what number_ holds gives a name kept in the extras.
  make_extras().name = name.empty() ? "Task-" + std::to_string(number) : std::string(name);
}

TaskExtras& TaskBase::make_extras() {
  TaskExtras& extras = scheduler_->task_extras()[this];
  has_extras_ = true;
  return extras;
}

std::string TaskBase::get_name() const {
  if (has_extras_ && extras().name) return *extras().name;
  return "Task-" + std::to_string(number_);
}

void TaskBase::set_name(std::string name) { make_extras().name = std::move(name); }

std::uint64_t TaskBase::context_identity() { return make_extras().context_identity.get(); }

std::uint32_t TaskBase::uncancel() noexcept {
  std::uint32_t count;
  if (num_cancels_requested_ < cancels_elsewhere) [[likely]] {
    if (num_cancels_requested_ == 0) return 0;
    count = --num_cancels_requested_;
  } else {
    count = --extras().cancels;
    if (count < cancels_elsewhere) num_cancels_requested_ = static_cast<std::uint16_t>(count);
  }
  // While pending: withdraws the cancellation not yet thrown, if any, unless the wait it was
  // handed to gave up already (Python's awaited future is cancelled then).
  if (count == 0 && !done() && !cancel_is_final_) exception_ = nullptr;
  return count;
}

std::string TaskBase::describe() const {
  const char* state = state_ == State::pending     ? "pending"
                      : state_ == State::cancelled ? "cancelled"
                      : exception_                 ? "finished exception"
                                                   : "finished";
  return std::string("<Task ") + state + " name='" + get_name() + "'>";
}

namespace {

// What waiting_on_ says while a task hands its cancellation on (hand_cancel_to), so that a cycle
// of tasks awaiting each other is seen when the cancellation comes back round. Neither is ever
// asked anything.
struct CancelPassage final : WaitTarget {
  CancelOutcome cancel_wait(TaskBase*, const std::exception_ptr&) override {
    return CancelOutcome::too_late;
  }
};
CancelPassage handing_on;  // the cancellation is being handed to the task's target
CancelPassage came_back;   // ... and reached this task again through it

}  // namespace

bool TaskBase::cancel(const std::exception_ptr& error) {
  log_traceback_ = false;
  if (done()) return false;
  if (waiting_on_ == &handing_on) [[unlikely]] {  // a cycle: hand_cancel_to ends it
    waiting_on_ = &came_back;
    return true;
  }
  if (num_cancels_requested_ < cancels_elsewhere - 1) [[likely]] {
    ++num_cancels_requested_;
  } else if (num_cancels_requested_ == cancels_elsewhere - 1) {  // the count moves to the extras
    make_extras().cancels = cancels_elsewhere;
    num_cancels_requested_ = cancels_elsewhere;
  } else if (extras().cancels < UINT32_MAX) {
    ++extras().cancels;
  }
  // The task is running, or already on the ready queue: it throws when it next resumes.
  // Waiting: the target has it first. The first cancellation an aborted wait got stays the one
  // thrown (Python's: the awaited future's CancelledError).
  if (!cancel_is_final_) exception_ = error;
  if (waiting_on_) hand_cancel_to(waiting_on_);
  return true;
}

void TaskBase::hand_cancel_to(WaitTarget* target) {
  // Leave waiting_on_ set: a task that swallows the cancellation may need cancelling again.
  // Meanwhile it says the cancellation is on its way, for the target may cancel tasks that wait
  // on this one (a awaits b awaits a; a task awaiting a gather of itself): when it comes back,
  // this task gives up its wait and raises CancelledError, and the others, each waiting on the
  // next, follow it (Python's cancel() recurses until RecursionError and cancels nothing).
  waiting_on_ = &handing_on;
  CancelOutcome outcome;
  try {
    outcome = target->cancel_wait(this, exception_);
  } catch (...) {  // (out of memory for a count): the task still waits on its target
    if (waiting_on_ == &handing_on || waiting_on_ == &came_back) waiting_on_ = target;
    throw;
  }
  if (waiting_on_ == &handing_on) {
    waiting_on_ = target;
  } else if (waiting_on_ == &came_back) [[unlikely]] {
    waiting_on_ = nullptr;
    cancel_is_final_ = true;
    if (outcome != CancelOutcome::aborted) {  // (an aborted wait has scheduled the task already)
      target->forget_waiter(this);
      schedule_step_or_give_back();
    }
    return;
  }  // (else the target woke the task, which waits no more)
  switch (outcome) {
    case CancelOutcome::delivered:
      exception_ = nullptr;
      break;
    case CancelOutcome::aborted:
      cancel_is_final_ = true;
      break;
    case CancelOutcome::too_late:
      break;
  }
}

void TaskBase::destroy_frames() noexcept {
  std::coroutine_handle<> frame = current_frame();
  FrameLink* link = current_link();
  innermost_ = 0;
  if (!link) [[likely]] {  // a finished task: only its root frame is left
    frame.destroy();
    return;
  }
  while (link) {
    // The link lives in its outer frame, which is still alive: read it, then destroy the inner
    // frame unless someone else owns it, and tell the link so that its awaiter will not.
    FrameLink* up = link->up;
    std::coroutine_handle<> outer = link->outer;
    if (link->owns_inner()) {
      link->disown_inner();
      frame.destroy();
    }
    frame = outer;
    link = up;
  }
  frame.destroy();  // the root
}

void TaskBase::wait_on(FutureStateBase* future) {
  if (future == this) throw RuntimeError("Task cannot await on itself: " + describe());
  if (&future->scheduler() != scheduler_)
    throw RuntimeError("Task got Future attached to a different loop");
  future->add_callback(this);
  begin_wait(future);
}

void TaskRegistry::set_index(TaskBase* task, std::size_t index) noexcept {
  task->index_ = static_cast<std::uint32_t>(index);
}

ContextData* TaskRegistry::remove(const TaskBase* task) noexcept {
  const std::uint32_t index = task->index_;
  assert(index < size_ && slot(index) == task);
  ContextData* values = take_values(index);
  if (index + 1 == size_) {  // the newest: an eager task that finished at once
    pop_back();
    return values;
  }
  slot(index) = nullptr;
  if (++holes_ == size_) {  // none left: start over at the front
    size_ = 0;
    values_.clear();
    holes_ = 0;
  }
  return values;
}

TaskBase* TaskRegistry::take_any() noexcept {
  while (size_ > 0) {
    const std::uint32_t index = static_cast<std::uint32_t>(size_ - 1);
    TaskBase* task = slot(index);
    ContextData* values = take_values(index);
    pop_back();
    if (task) {
      if (values) values->release();
      task->has_context_ = task->context_is_shared_;
      return task;
    }
    --holes_;
  }
  return nullptr;
}

void TaskRegistry::grow() {
  if (holes_ > 0 && holes_ >= size_ / 2) {
    compact();
    return;
  }
  std::unique_ptr<TaskBase*, UnmapSegment> segment(
      static_cast<TaskBase**>(map_memory(segment_size * sizeof(TaskBase*))));
  segments_.push_back(std::move(segment));
}

void TaskRegistry::UnmapSegment::operator()(TaskBase** segment) const noexcept {
  ::munmap(segment, segment_size * sizeof(TaskBase*));
}

void TaskRegistry::compact() noexcept {
  std::size_t kept = 0;
  for (std::size_t i = 0; i < size_; ++i) {
    TaskBase* task = slot(i);
    if (!task) continue;
    task->index_ = static_cast<std::uint32_t>(kept);
    slot(kept) = task;
    if (i < values_.size()) values_[kept] = values_[i];
    ++kept;
  }
  size_ = kept;
  if (values_.size() > kept) values_.resize(kept);
  holes_ = 0;
}

void TaskBase::throw_cancel_request() { std::rethrow_exception(take_cancel_request()); }

void TaskBase::complete(std::exception_ptr error) {
  State final_state = State::finished;
  if (!error) {
    if (exception_) final_state = State::cancelled;  // cancelled right before it returned
  } else if (is_cancelled_error(error)) {
    exception_ = std::move(error);
    final_state = State::cancelled;
  } else {
    exception_ = std::move(error);
    log_traceback_ = true;
  }
  waiting_on_ = nullptr;
  destroy_frames();

  // Its own values stay for get_context() until the task is destroyed.
  ContextData* values = scheduler_->tasks().remove(this);
  if (values) final_context_ = values;

  mark_done(final_state);
  if (log_traceback_ && holds<KeyboardInterrupt>(exception_)) [[unlikely]]
    interrupt_loop(exception_);
  release();  // the loop's reference; may destroy this
}

// Python's Task.__step stores a KeyboardInterrupt and raises it again, out of run_forever().
// Here the loop raises it from a callback queued now (HandleNode lets it through), so that the
// step that stored it, and whatever dispatched that step, finish first.
void TaskBase::interrupt_loop(const std::exception_ptr& interrupt) {
  EventLoop& loop = scheduler_->loop();
  if (!loop.is_closed()) loop.call_soon([interrupt] { std::rethrow_exception(interrupt); });
}

}  // namespace asyncio::detail

namespace asyncio {

TaskRef TaskRequest::start(TaskOptions options) {
  if (!frame_) throw RuntimeError("TaskRequest::start: the coroutine was started already");
  task_ = detail::make_task_in_context(options, [&](detail::ContextData* context) {
    return make_(*scheduler_, std::exchange(frame_, nullptr), options.name, context);
  });
  TaskRef task(task_);
  detail::start_task(*scheduler_, task_, options.eager_start.value_or(false));
  return task;
}

detail::TaskBase* TaskRequest::started(const TaskRef& returned) const {
  if (!task_ || returned.state() != task_)
    throw RuntimeError("the task factory did not return the task that TaskRequest::start made");
  return task_;
}

TaskRef eager_task_factory(EventLoop&, TaskRequest& coro, TaskOptions options) {
  options.eager_start = options.eager_start.value_or(true);
  return coro.start(options);
}

TaskFactory create_eager_task_factory(TaskFactory factory) {
  if (!factory) return &eager_task_factory;  // Python's create_eager_task_factory(Task)
  return [factory = std::move(factory)](EventLoop& loop, TaskRequest& coro, TaskOptions options) {
    options.eager_start = options.eager_start.value_or(true);
    return factory(loop, coro, options);
  };
}

TaskRef current_task() {
  detail::TaskBase* task = get_running_loop().scheduler().current_task();
  return task ? TaskRef(task) : TaskRef();
}

std::vector<TaskRef> all_tasks(EventLoop& loop) {
  std::vector<TaskRef> tasks;
  loop.scheduler().tasks().for_each([&tasks](detail::TaskBase* task) { tasks.emplace_back(task); });
  return tasks;
}

std::vector<TaskRef> all_tasks() { return all_tasks(get_running_loop()); }

}  // namespace asyncio
