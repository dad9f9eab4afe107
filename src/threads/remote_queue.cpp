// RemoteQueue: posting under the lock, waking the loop once per batch, and taking the batch.
#include "threads/remote_queue.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>
#include <utility>

#include "asyncio/detail/scheduler.hpp"
#include "asyncio/detail/syscall.hpp"

namespace asyncio::detail {

RemoteQueue::RemoteQueue() : wakeup_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (wakeup_fd_ < 0) throw_errno(errno, "eventfd");
}

RemoteQueue::~RemoteQueue() { close_wakeup_fd(); }

bool RemoteQueue::post(Callback* call) noexcept {
  std::lock_guard lock(mutex_);
  if (closed_) return false;
  queue_.push(call);
  // Still under the lock: the loop closes the eventfd only after close(), so the write cannot
  // meet a closed (or reused) fd number.
  if (!wakeup_pending_.exchange(true, std::memory_order_seq_cst) &&
      !polling_.load(std::memory_order_seq_cst)) {
    const std::uint64_t one = 1;
    // EAGAIN (the counter is full) still leaves the loop woken; nothing else can fail here.
    [[maybe_unused]] ssize_t n = ::write(wakeup_fd_, &one, sizeof one);
    fd_written_ = true;
  }
  return true;
}

void RemoteQueue::take_into(Scheduler& scheduler) noexcept {
  ReadyQueue batch;
  {
    // All under the lock, which posts hold too: a call queued after it writes the eventfd
    // again (or finds the loop polling), and no count written for a later call is read here.
    std::lock_guard lock(mutex_);
    if (std::exchange(fd_written_, false)) {
      std::uint64_t count;
      [[maybe_unused]] ssize_t n = ::read(wakeup_fd_, &count, sizeof count);
    }
    wakeup_pending_.store(false, std::memory_order_seq_cst);
    batch.splice(queue_);
  }
  scheduler.push_ready(batch);
}

ReadyQueue RemoteQueue::take_all() noexcept {
  ReadyQueue batch;
  std::lock_guard lock(mutex_);
  batch.splice(queue_);
  return batch;
}

void RemoteQueue::close() noexcept {
  std::lock_guard lock(mutex_);
  closed_ = true;
}

void RemoteQueue::close_wakeup_fd() noexcept {
  if (wakeup_fd_ >= 0) ::close(std::exchange(wakeup_fd_, -1));
}

bool RemoteQueue::discard_queued() noexcept {
  ReadyQueue batch = take_all();
  const bool any = !batch.empty();
  while (!batch.empty()) batch.pop()->invoke(Callback::Action::discard);
  return any;
}

}  // namespace asyncio::detail
