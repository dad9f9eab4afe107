// Waiter and WaitQueue: cancellation, resumption, hand-on and the report of a primitive
// destroyed under its waiters (see the header).
#include "asyncio/detail/wait_queue.hpp"

#include <string>

#include "asyncio/event_loop.hpp"

namespace asyncio::detail {

// Every task waiting on a primitive carries one in its frame (twice under wait_for: the
// argument and wait_for's copy of it).
static_assert(sizeof(Waiter) <= 48);

CancelOutcome Waiter::cancel_wait(TaskBase*, const std::exception_ptr&) {
  if (state_ != State::waiting) return CancelOutcome::too_late;  // the task is scheduled already
  queue_->remove_waiting(this);
  state_ = State::cancelled;
  task_->schedule_step_or_give_back();
  return CancelOutcome::aborted;
}

std::uint8_t Waiter::resume() {
  const State state = std::exchange(state_, State::idle);
  if (state == State::woken) {
    WaitQueue* queue = std::exchange(queue_, nullptr);
    queue->woken_.remove(this);
    try {
      task_->end_wait();
    } catch (...) {
      queue->hand_on(reason_);  // woken, then cancelled before it ran: pass the wake-up on
      throw;
    }
    return reason_;
  }
  task_->end_wait();  // a cancelled waiter throws its CancelledError here
  if (state == State::detached) {
    throw PrimitiveDestroyed(std::string(destroyed_name_) +
                             " was destroyed while a task waited on it");
  }
  throw CancelledError();  // not reached: a cancelled waiter's task has a cancellation pending
}

std::exception_ptr Waiter::take_cancellation() noexcept {
  if (!task_ || !task_->cancellation_pending()) return nullptr;
  // Woken: leave the woken list, handing the wake-up on. Cancelled: already unlinked.
  // Detached: the cancellation comes first, as in resume().
  if (state_ == State::woken)
    abandon();
  else
    state_ = State::idle;
  return task_->end_wait_taking_cancellation();
}

void Waiter::abandon() noexcept {
  WaitQueue* queue = std::exchange(queue_, nullptr);
  if (state_ == State::waiting) {
    queue->remove_waiting(this);
  } else {
    queue->woken_.remove(this);
    queue->hand_on(reason_);
  }
  state_ = State::idle;
}

void WaitQueue::take_back_last_wake(std::uint8_t reason) noexcept {
  Waiter* w = woken_.tail;
  while (w->reason_ != reason) w = w->prev_;
  woken_.remove(w);
  if (w->task_->cancellation_pending()) {  // its scheduled step raises it
    w->state_ = Waiter::State::cancelled;
    w->task_->make_cancel_final();
    return;
  }
  push(w);
  w->task_->withdraw_step();
}

void WaitQueue::detach_all() noexcept {
  std::size_t count = 0;
  TaskBase* first = waiting_.head ? waiting_.head->task_ : woken_.head->task_;
  auto detach = [&](Waiter* w) {
    w->state_ = Waiter::State::detached;
    w->destroyed_name_ = name_;
    ++count;
  };
  while (Waiter* w = waiting_.head) {
    waiting_.remove(w);
    detach(w);
    w->task_->schedule_step_or_give_back();
  }
  while (Waiter* w = woken_.head) {  // already scheduled
    woken_.remove(w);
    detach(w);
  }
  waiting_count_ = 0;
  const std::string message = std::string(name_) + " was destroyed while " + std::to_string(count) +
                              (count == 1 ? " task was" : " tasks were") + " waiting on it";
  first->loop()->call_exception_handler(
      {message, std::make_exception_ptr(RuntimeError(message)), first->describe()});
}

}  // namespace asyncio::detail
