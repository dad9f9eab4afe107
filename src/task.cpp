// Non-template parts of Task: creation and registration with the loop, cancellation, waiting,
// completion; and current_task / all_tasks.
#include <utility>

#include "asyncio/task.hpp"

namespace asyncio::detail {

TaskBase::TaskBase(EventLoop* loop, Callback::Fn step, std::coroutine_handle<> root, std::string_view name)
    : FutureStateBase(loop), Callback(step), current_(root), root_(root) {
  number_ = static_cast<std::uint32_t>(LoopAccess::next_task_number(*loop));
  if (!name.empty()) set_name(std::string(name));
  add_ref();  // the loop's reference, held until the task finishes
  TaskBase*& head = LoopAccess::tasks(*loop);
  next_task_ = head;
  if (head) head->prev_task_ = this;
  head = this;
  schedule_step();
}

TaskBase::~TaskBase() {
  if (log_traceback_) {
    log_traceback_ = false;
    loop_->call_exception_handler({"Task exception was never retrieved", exception_, describe()});
  }
  if (root_) root_.destroy();
  if (named_) LoopAccess::task_names(*loop_).erase(this);
}

std::string TaskBase::get_name() const {
  return named_ ? LoopAccess::task_names(*loop_).at(this) : "Task-" + std::to_string(number_);
}

void TaskBase::set_name(std::string name) {
  LoopAccess::task_names(*loop_)[this] = std::move(name);
  named_ = true;
}

std::string TaskBase::describe() const {
  const char* state = state_ == State::pending ? "pending"
                      : state_ == State::cancelled ? "cancelled"
                      : exception_                 ? "finished exception"
                                                   : "finished";
  return std::string("<Task ") + state + " name='" + get_name() + "'>";
}

bool TaskBase::cancel(const std::exception_ptr& error) {
  log_traceback_ = false;
  if (done()) return false;
  ++num_cancels_requested_;
  // Leave waiting_on_ set: a task that swallows the cancellation may need cancelling again.
  if (waiting_on_ && waiting_on_->cancel_wait(error)) return true;
  // The task is running, or already on the ready queue: it throws when it next resumes.
  exception_ = error;
  must_cancel_ = true;
  return true;
}

void TaskBase::wait_on(FutureStateBase* future) {
  if (future == this) throw RuntimeError("Task cannot await on itself: " + describe());
  if (future->loop() != loop_) throw RuntimeError("Task got Future attached to a different loop");
  future->add_callback(this);
  begin_wait(future);
}

void TaskBase::throw_cancel_request() { std::rethrow_exception(take_cancel_request()); }

void TaskBase::complete(std::exception_ptr error) {
  State final_state = State::finished;
  if (!error) {
    if (must_cancel_) {  // cancelled right before the coroutine returned
      exception_ = take_cancel_request();
      final_state = State::cancelled;
    }
  } else if (is_cancelled_error(error)) {
    exception_ = std::move(error);
    final_state = State::cancelled;
  } else {
    exception_ = std::move(error);
    log_traceback_ = true;
  }
  must_cancel_ = false;
  waiting_on_ = nullptr;
  root_.destroy();
  root_ = current_ = nullptr;

  if (prev_task_) prev_task_->next_task_ = next_task_;
  else LoopAccess::tasks(*loop_) = next_task_;
  if (next_task_) next_task_->prev_task_ = prev_task_;
  prev_task_ = next_task_ = nullptr;

  mark_done(final_state);
  release();  // the loop's reference; may destroy this
}

}  // namespace asyncio::detail

namespace asyncio {

TaskRef current_task() {
  detail::TaskBase* task = detail::LoopAccess::current_task(get_running_loop());
  return task ? TaskRef(task) : TaskRef();
}

std::vector<TaskRef> all_tasks(EventLoop& loop) {
  std::vector<TaskRef> tasks;
  for (detail::TaskBase* t = detail::LoopAccess::tasks(loop); t; t = detail::LoopAccess::next(t)) {
    tasks.emplace_back(t);
  }
  return tasks;
}

std::vector<TaskRef> all_tasks() { return all_tasks(get_running_loop()); }

}  // namespace asyncio

namespace asyncio::detail {

TaskBase* LoopAccess::next(TaskBase* task) noexcept { return task->next_task_; }

}  // namespace asyncio::detail
