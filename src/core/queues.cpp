// QueueBase: the item-type independent bookkeeping of the queues (getters and putters woken
// and taken back, shutdown, task_done); see queues.hpp.
#include "asyncio/queues.hpp"

#include <algorithm>
#include <stdexcept>

namespace asyncio::detail {

void QueueBase::check_put_slow() {
  if (shutdown_) throw QueueShutDown();
  if (full()) throw QueueFull();
  putters_.take_back_last_wake(granted);
  --reserved_slots_;
}

void QueueBase::check_get_slow() {
  if (empty()) {
    if (shutdown_) throw QueueShutDown();
    throw QueueEmpty();
  }
  getters_.take_back_last_wake(granted);
  --reserved_items_;
}

void QueueBase::wake_getters() noexcept {
  while (can_get() && getters_.wake_first(granted)) ++reserved_items_;
}

void QueueBase::wake_putters() noexcept {
  while (can_put() && putters_.wake_first(granted)) ++reserved_slots_;
}

void QueueBase::claim_item(std::uint8_t reason) {
  // Woken by shutdown(), or promised an item that shutdown(true) then dropped.
  if (reason == shut_down || reserved_items_ == 0) throw QueueShutDown();
  --reserved_items_;
}

void QueueBase::claim_slot(std::uint8_t reason) {
  if (reason == shut_down) throw QueueShutDown();
  --reserved_slots_;
  if (shutdown_) throw QueueShutDown();
}

void QueueBase::hand_on_item(void* self, std::uint8_t reason) noexcept {
  auto* q = static_cast<QueueBase*>(self);
  if (reason != granted || q->reserved_items_ == 0)
    return;  // nothing was promised, or it was dropped
  --q->reserved_items_;
  q->wake_getters();
}

void QueueBase::hand_on_slot(void* self, std::uint8_t reason) noexcept {
  auto* q = static_cast<QueueBase*>(self);
  if (reason != granted) return;
  --q->reserved_slots_;
  q->wake_putters();
}

void QueueBase::shut_down_after(bool immediate, std::size_t dropped) noexcept {
  shutdown_ = true;
  if (immediate) {
    unfinished_tasks_ -= std::min(dropped, unfinished_tasks_);
    size_ -= dropped;
    reserved_items_ = 0;
    if (unfinished_tasks_ == 0) all_finished();
  }
  getters_.wake_all(shut_down);
  putters_.wake_all(shut_down);
}

void QueueBase::task_done() {
  if (unfinished_tasks_ == 0) throw std::invalid_argument("task_done() called too many times");
  if (--unfinished_tasks_ == 0) all_finished();
}

void QueueBase::all_finished() noexcept {
  all_done_ = true;
  joiners_.wake_all();
}

}  // namespace asyncio::detail
