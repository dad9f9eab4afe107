// RemoteQueue: posting under the lock, waking the loop once per batch, and taking the batch.
#include "threads/remote_queue.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>
#include <utility>

#include "asyncio/detail/scheduler.hpp"

namespace asyncio::detail {

RemoteQueue::RemoteQueue() : wakeup_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (wakeup_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
}

RemoteQueue::~RemoteQueue() { close_wakeup_fd(); }

bool RemoteQueue::post(Callback* call) noexcept {
  std::lock_guard lock(mutex_);
  if (closed_) return false;
  call->next_ = nullptr;
  if (tail_) tail_->next_ = call; else head_ = call;
  tail_ = call;
  // Still under the lock: the loop closes the eventfd only after close(), so the write cannot
  // meet a closed (or reused) fd number.
  if (!wakeup_pending_.exchange(true, std::memory_order_acq_rel)) {
    const std::uint64_t one = 1;
    // EAGAIN (the counter is full) still leaves the loop woken; nothing else can fail here.
    [[maybe_unused]] ssize_t n = ::write(wakeup_fd_, &one, sizeof one);
  }
  return true;
}

void RemoteQueue::take_into(Scheduler& scheduler) noexcept {
  std::uint64_t count;
  [[maybe_unused]] ssize_t n = ::read(wakeup_fd_, &count, sizeof count);
  // Cleared before taking the queue: a call queued after this point writes the eventfd again.
  wakeup_pending_.store(false, std::memory_order_release);
  for (Callback* call = take_all(); call;) scheduler.push_ready(std::exchange(call, call->next_));
}

Callback* RemoteQueue::take_all() noexcept {
  std::lock_guard lock(mutex_);
  tail_ = nullptr;
  return std::exchange(head_, nullptr);
}

void RemoteQueue::close() noexcept {
  std::lock_guard lock(mutex_);
  closed_ = true;
}

void RemoteQueue::close_wakeup_fd() noexcept {
  if (wakeup_fd_ >= 0) ::close(std::exchange(wakeup_fd_, -1));
}

bool RemoteQueue::discard_queued() noexcept {
  Callback* call = take_all();
  const bool any = call != nullptr;
  while (call) std::exchange(call, call->next_)->invoke(Callback::Action::discard);
  return any;
}

}  // namespace asyncio::detail
