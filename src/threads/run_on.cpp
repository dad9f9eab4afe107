// run_on's link between two loops: the awaiting side's wait, cancellation and delivery (see
// run_on.hpp).
#include "asyncio/run_on.hpp"

namespace asyncio::detail {

bool RemoteRunBase::wait(TaskBase* task) {
  try {
    post_start();
  } catch (const RuntimeError&) {
    return false;  // the target is closed: the dropped start stored that outcome already
  }
  waiter_ = task;
  task->begin_wait(this);  // a cancellation already requested is handed on at once
  return true;
}

void RemoteRunBase::end_wait() {
  TaskBase* task = std::exchange(waiter_, nullptr);
  task->end_wait();
}

CancelOutcome RemoteRunBase::cancel_wait(TaskBase*, const std::exception_ptr&) {
  // Delivered: the outcome, whatever the remote task makes of it, wakes the task. Too late: the
  // task raises CancelledError when the outcome wakes it.
  return request_cancel() ? CancelOutcome::delivered : CancelOutcome::too_late;
}

bool RemoteRunBase::request_cancel() noexcept {
  First first = First::neither;
  if (!first_.compare_exchange_strong(first, First::cancel, std::memory_order_acq_rel))
    return first == First::cancel;  // asked already, or the outcome came first
  try {
    // Once the target has closed nothing is posted: its closing delivered an outcome already.
    call_soon_threadsafe([self = shared_from_this()] { self->cancel_remote(); });
  } catch (...) {
    // Out of memory: the remote task runs to its end, and its outcome is delivered.
  }
  return true;
}

void RemoteRunBase::abandon() noexcept {
  {
    std::lock_guard lock(origin_mutex_);
    origin_ = nullptr;
  }
  waiter_ = nullptr;
  request_cancel();
}

void RemoteRunBase::send_to_origin() noexcept {
  std::lock_guard lock(origin_mutex_);
  if (!origin_) return;
  try {
    origin_->call_soon_threadsafe([self = shared_from_this()] { self->deliver(); });
  } catch (...) {
    // The origin loop is closing: its frames, and the awaiter with them, are being destroyed.
  }
}

void RemoteRunBase::deliver() noexcept {
  if (TaskBase* task = waiter_) task->schedule_step();
}

}  // namespace asyncio::detail
