// TaskGroup: entering, adding tasks, their done callbacks, aborting, and the exit that waits
// for every task and decides what to throw (the order of CPython's TaskGroup.__aexit__).
#include "asyncio/taskgroup.hpp"

namespace asyncio {

void TaskGroup::enter() {
  if (loop_) throw RuntimeError("TaskGroup has already been entered");
  parent_ = current_task();
  if (!parent_.valid()) throw RuntimeError("TaskGroup cannot determine the parent task");
  loop_ = &parent_.get_loop();
}

TaskGroup::~TaskGroup() {
  // Only when the block's frame is destroyed before exit() finished (EventLoop::close): the
  // tasks' callbacks must not reach this group any more.
  while (Child* child = children_) {
    unlink(child);
    detail::FutureStateBase* state = child->task.state();
    if (state->remove_callback(child)) {
      delete child;
    } else {
      child->group = nullptr;  // already on the ready queue: it deletes itself
    }
  }
}

void TaskGroup::check_can_create() const {
  if (!loop_) throw RuntimeError("TaskGroup has not been entered");
  if (exiting_ && count_ == 0) throw RuntimeError("TaskGroup is finished");
  if (aborting_) throw RuntimeError("TaskGroup is shutting down");
}

void TaskGroup::add(const FutureBase& task) {
  auto* child = new Child(this, task);
  child->next = children_;
  if (children_) children_->prev = child;
  children_ = child;
  ++count_;
  task.state()->add_callback(child);
}

void TaskGroup::unlink(Child* child) noexcept {
  if (child->prev)
    child->prev->next = child->next;
  else
    children_ = child->next;
  if (child->next) child->next->prev = child->prev;
  child->prev = child->next = nullptr;
  --count_;
}

bool TaskGroup::Child::dispatch(Callback* cb, Action action, void* found) {
  auto* child = static_cast<Child*>(cb);
  switch (action) {
    case Action::find_awaiter:  // the group's tasks are awaited by the task running its block
      if (child->group && child->group->parent_.valid())
        *static_cast<detail::FutureStateBase**>(found) = child->group->parent_.state();
      return false;
    case Action::completed:
      return true;  // `task` holds the state alive
    case Action::run:
      if (child->group) {
        child->group->on_task_done(child);
        return false;
      }
      break;
    case Action::discard:  // the loop is closing
      if (child->group) child->group->unlink(child);
      break;
  }
  delete child;
  return false;
}

void TaskGroup::abort() noexcept {
  aborting_ = true;
  for (Child* child = children_; child; child = child->next) {
    if (!child->task.done()) child->task.cancel();
  }
}

void TaskGroup::cancel() {
  if (!loop_) throw RuntimeError("TaskGroup has not been entered");
  if (!aborting_) abort();
  // The block's CancelledError is the group's own: exit() takes it back, as after a failure.
  if (!exiting_ && !parent_cancel_requested_ && !parent_.done()) {
    parent_cancel_requested_ = true;
    parent_.cancel();
  }
}

void TaskGroup::on_task_done(Child* child) {
  unlink(child);
  FutureBase task = std::move(child->task);
  delete child;
  if (count_ == 0 && on_completed_.valid() && !on_completed_.done()) on_completed_.set_result();
  task_done(task);
}

void TaskGroup::task_done(FutureBase& task) {
  if (task.cancelled()) return;
  std::exception_ptr error = task.exception();
  if (!error) return;
  errors_.push_back(error);
  if (!base_error_ && holds<KeyboardInterrupt>(error)) base_error_ = error;
  if (parent_.done()) {
    loop_->call_exception_handler({"Task has errored out but its parent task is already completed",
                                   error, task.state()->describe()});
    return;
  }
  if (!aborting_ && !parent_cancel_requested_) {
    // Stop whatever the block awaits now; exit() takes this cancellation back.
    abort();
    parent_cancel_requested_ = true;
    parent_.cancel();
  }
}

Coro<void> TaskGroup::exit(std::exception_ptr error) {
  exiting_ = true;
  const bool block_cancelled = detail::is_cancelled_error(error);
  std::exception_ptr propagate_cancellation = block_cancelled ? error : nullptr;
  if (error && !aborting_) abort();  // the block failed, or its task is being cancelled
  if (!base_error_ && holds<KeyboardInterrupt>(error)) base_error_ = error;

  // The wait may be cancelled several times (the parent cancelled again, or once more while
  // the group already aborts), hence the loop.
  std::exception_ptr pending_cancellation;
  while (count_ > 0) {
    if (!on_completed_.valid()) on_completed_ = loop_->create_future<void>();
    bool cancelled = false;
    try {
      co_await on_completed_;
    } catch (const CancelledError&) {
      pending_cancellation = std::current_exception();
      cancelled = true;
    }
    if (cancelled && !aborting_) {  // the parent is cancelled from outside while tasks run
      propagate_cancellation = pending_cancellation;
      abort();
    }
    on_completed_ = Future<void>();
  }

  if (parent_cancel_requested_) {
    // The group's own cancel of its parent must be taken back; one from outside must not.
    if (parent_.uncancel() == 0) {
      propagate_cancellation = nullptr;
    } else if (!propagate_cancellation) {
      propagate_cancellation = pending_cancellation;
    }
  }
  // Python's _base_error: a KeyboardInterrupt, the block's or a task's, ends the group as it
  // is, not in an ExceptionGroup.
  if (base_error_) std::rethrow_exception(base_error_);
  if (propagate_cancellation && errors_.empty()) std::rethrow_exception(propagate_cancellation);

  if (error && !block_cancelled) errors_.push_back(error);
  if (!errors_.empty()) {
    // A cancellation from outside stays requested (and counted) for the parent's next await.
    if (parent_.cancelling() > 0) {
      parent_.uncancel();
      parent_.cancel();
    }
    throw ExceptionGroup("unhandled errors in a TaskGroup", std::move(errors_));
  }
}

}  // namespace asyncio
