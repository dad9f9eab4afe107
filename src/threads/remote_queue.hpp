// RemoteQueue: how other threads hand calls to a loop (call_soon_threadsafe) and wake it. Calls
// queue under a mutex, in the order they were posted, until the loop's thread moves them to its
// ready queue; an eventfd, watched by the loop, wakes a loop that waits in its poll. A loop that
// busy-polls (EventLoop::set_busy_poll) watches the pending flag instead, and posts skip the
// eventfd's write (a system call) while it does.
#pragma once

#include <atomic>
#include <mutex>

#include "asyncio/detail/callback.hpp"

namespace asyncio::detail {

class Scheduler;

class RemoteQueue {
 public:
  /// Opens the eventfd (std::system_error when it cannot).
  RemoteQueue();
  /// Closes the eventfd if close_wakeup_fd() did not.
  ~RemoteQueue();
  RemoteQueue(const RemoteQueue&) = delete;
  RemoteQueue& operator=(const RemoteQueue&) = delete;

  /// The eventfd the loop watches; readable while calls wait.
  int wakeup_fd() const noexcept { return wakeup_fd_; }

  /// Any thread: queues `call` and wakes the loop. Returns false, leaving `call` to the caller,
  /// once the queue is closed.
  bool post(Callback* call) noexcept;
  /// Whether a post has written the eventfd since the last take_into: lets a loop that would
  /// not wait skip the system call of a poll.
  bool wakeup_pending() const noexcept { return wakeup_pending_.load(std::memory_order_acquire); }
  /// The loop's thread: moves the queued calls, in order, onto `scheduler`'s ready queue.
  void take_into(Scheduler& scheduler) noexcept;
  /// The loop's thread, around a busy-poll spin: while polling, posts set the pending flag
  /// without writing the eventfd. stop_polling() returns whether a call is pending; when it is,
  /// the loop must take it (take_into) rather than wait for the eventfd.
  void start_polling() noexcept { polling_.store(true, std::memory_order_seq_cst); }
  bool stop_polling() noexcept {
    polling_.store(false, std::memory_order_seq_cst);
    return wakeup_pending_.load(std::memory_order_seq_cst);
  }

  /// From now on post() refuses calls.
  void close() noexcept;
  /// After close(), once the loop's backend no longer watches it: closes the eventfd.
  void close_wakeup_fd() noexcept;
  /// Discards the calls still queued, unrun; returns whether there were any. (A call's
  /// destructor is user code: it runs outside the lock, and may post again.)
  bool discard_queued() noexcept;

 private:
  ReadyQueue take_all() noexcept;

  // Invariant: a call queued while !wakeup_pending_ is followed by a write to the eventfd,
  // unless the loop is polling (then it sees the flag: the store to polling_ and the load of
  // wakeup_pending_ in stop_polling, and the exchange and load in post, are sequentially
  // consistent, so one side always sees the other's); other threads skip the write while it
  // is set.
  std::mutex mutex_;
  ReadyQueue queue_;         // guarded by mutex_: the posted calls, in order
  bool closed_ = false;      // guarded by mutex_
  bool fd_written_ = false;  // guarded by mutex_: the eventfd holds a count to read
  std::atomic<bool> wakeup_pending_{false};
  std::atomic<bool> polling_{false};  // the loop busy-polls: no eventfd write needed
  int wakeup_fd_ = -1;
};

}  // namespace asyncio::detail
