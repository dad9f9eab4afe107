// The queues of Python's asyncio.queues: Queue<T> (FIFO), PriorityQueue<T, Compare> and
// LifoQueue<T>, with maxsize, put/get that wait, the _nowait forms, task_done/join and
// Python 3.13's shutdown.
//
// Implementation notes. The bookkeeping is non-template (detail::QueueBase); the typed part
// only moves items in and out of its storage. As in Python, an item put stays in the queue until
// a getter takes it: put_nowait wakes one waiting getter per item, but until that task runs,
// get_nowait (or a get that need not wait) may take the item, and the woken getter then waits
// again, at the back (Python's Queue.get finds the queue empty and loops); slots freed for
// woken putters likewise. A woken task is counted as holding an item (`reserved_items_`) or a
// slot (`reserved_slots_`) so that it never runs without one: taking it first takes the wake-up
// back (WaitQueue::take_back_last_wake). A woken task cancelled before it ran passes its item on
// to the next waiter (CPython's bpo-23812: a cancelled get must lose no item). The fast paths, a
// get with an item available and a put with a slot free, neither suspend nor allocate.
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>

#include "asyncio/detail/queue_storage.hpp"
#include "asyncio/detail/wait_queue.hpp"
#include "asyncio/exceptions.hpp"

namespace asyncio {

namespace detail {

/// Everything a queue does that does not depend on its item type.
class QueueBase {
 public:
  QueueBase(const QueueBase&) = delete;
  QueueBase& operator=(const QueueBase&) = delete;

  /// How many items the queue holds at most; 0: no limit.
  std::size_t maxsize() const noexcept { return maxsize_; }
  /// How many items are in the queue (those woken getters will take included).
  std::size_t qsize() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  /// True when the queue holds maxsize items (never with maxsize 0).
  bool full() const noexcept { return maxsize_ != 0 && size_ >= maxsize_; }
  /// How many tasks wait in get() (put()) and have not been woken to take an item (a slot).
  std::size_t waiting_getters() const noexcept { return getters_.waiting_count(); }
  std::size_t waiting_putters() const noexcept { return putters_.waiting_count(); }

  /// Marks one item taken by get() as processed. std::invalid_argument (Python's ValueError)
  /// when called more times than items were put.
  void task_done();
  /// `co_await q.join()` waits until every item put has been marked processed by task_done().
  WakeAwaiter join() noexcept { return WakeAwaiter(joiners_, &all_done_); }

 protected:
  explicit QueueBase(std::size_t maxsize) noexcept : maxsize_(maxsize) {}
  ~QueueBase() = default;

  // Why a waiting getter or putter was woken.
  static constexpr std::uint8_t granted = 0;    // woken to take an item, or a free slot
  static constexpr std::uint8_t shut_down = 1;  // shutdown(): raise QueueShutDown

  // An item (a slot) nobody was woken to take.
  bool can_get() const noexcept { return size_ > reserved_items_; }
  bool can_put() const noexcept { return maxsize_ == 0 || size_ + reserved_slots_ < maxsize_; }

  /// put_nowait's checks: QueueShutDown, then QueueFull. A slot left only for a woken putter
  /// is taken from it.
  void check_put() {
    if (shutdown_ || !can_put()) [[unlikely]]
      check_put_slow();
  }
  /// get_nowait's checks: QueueEmpty, or QueueShutDown once shut down and empty. An item left
  /// only for a woken getter is taken from it.
  void check_get() {
    if (!can_get()) [[unlikely]]
      check_get_slow();
  }
  void item_added() noexcept {
    ++size_;
    ++unfinished_tasks_;
    all_done_ = false;
    if (getters_.has_waiting()) [[unlikely]]
      wake_getters();
  }
  void item_removed() noexcept {
    --size_;
    if (putters_.has_waiting()) [[unlikely]]
      wake_putters();
  }
  /// A getter resumed after waiting: takes the item it was promised, or throws QueueShutDown.
  void claim_item(std::uint8_t reason);
  /// A putter resumed after waiting: takes the slot it was promised, or throws QueueShutDown.
  void claim_slot(std::uint8_t reason);
  /// unfinished_tasks_ reached 0: join() returns.
  void all_finished() noexcept;
  /// Shuts down; with `immediate`, the `dropped` items left were just removed from the storage.
  void shut_down_after(bool immediate, std::size_t dropped) noexcept;

  // Invariants: reserved_items_ <= size_, and while a getter waits, every item is left for a
  // woken getter (size_ == reserved_items_); while a putter waits, every slot is taken or left
  // for a woken putter (size_ + reserved_slots_ >= maxsize_).
  std::size_t maxsize_;
  std::size_t size_ = 0;
  std::size_t reserved_items_ = 0;  // getters woken (told `granted`) that have not run yet
  std::size_t reserved_slots_ = 0;  // putters woken (told `granted`) that have not run yet
  std::size_t unfinished_tasks_ = 0;
  bool all_done_ = true;  // unfinished_tasks_ == 0: what join() reads when it is awaited
  bool shutdown_ = false;
  WaitQueue getters_{"Queue", this, &hand_on_item};
  WaitQueue putters_{"Queue", this, &hand_on_slot};
  WaitQueue joiners_{"Queue"};

 private:
  void check_put_slow();
  void check_get_slow();
  void wake_getters() noexcept;
  void wake_putters() noexcept;
  static void hand_on_item(void* self, std::uint8_t reason) noexcept;
  static void hand_on_slot(void* self, std::uint8_t reason) noexcept;
};

}  // namespace detail

/// A queue of T for coordinating tasks, over the storage `Storage` (FIFO, LIFO or heap).
/// Use Queue, LifoQueue or PriorityQueue.
template <class T, class Storage>
class BasicQueue : public detail::QueueBase {
 public:
  using value_type = T;

  /// A queue of at most `maxsize` items; 0 (the default) for no limit.
  explicit BasicQueue(std::size_t maxsize = 0) noexcept : QueueBase(maxsize) {}

  class [[nodiscard]] GetAwaiter final : public detail::Waiter {
   public:
    explicit GetAwaiter(BasicQueue& queue) noexcept : q_(queue) {}
    bool await_ready() const noexcept { return !q_.empty() || q_.shutdown_; }
    template <detail::AsyncioPromise P>
    void await_suspend(std::coroutine_handle<P>) {
      suspend(q_.getters_);
    }
    T await_resume() {
      if (suspended()) {
        q_.claim_item(resume());
        return q_.take();
      }
      return q_.get_nowait();  // QueueShutDown when shut down and nothing is left
    }

   private:
    BasicQueue& q_;
  };

  class [[nodiscard]] PutAwaiter final : public detail::Waiter {
   public:
    PutAwaiter(BasicQueue& queue, T&& item) : q_(queue), item_(std::move(item)) {}
    bool await_ready() const noexcept { return !q_.full() || q_.shutdown_; }
    template <detail::AsyncioPromise P>
    void await_suspend(std::coroutine_handle<P>) {
      suspend(q_.putters_);
    }
    void await_resume() {
      if (suspended()) q_.claim_slot(resume());
      q_.put_nowait(std::move(item_));
    }

   private:
    BasicQueue& q_;
    T item_;
  };

  /// `T item = co_await q.get();` waits while no item is available. QueueShutDown once the
  /// queue is shut down and empty (at once after shutdown(true)).
  GetAwaiter get() noexcept { return GetAwaiter(*this); }
  /// `co_await q.put(std::move(item));` waits while the queue is full. QueueShutDown once shut
  /// down.
  PutAwaiter put(T item) { return PutAwaiter(*this, std::move(item)); }

  /// Takes an item at once: QueueEmpty when the queue is empty, QueueShutDown when shut down and
  /// empty. A getter woken for the item and not run yet waits again.
  T get_nowait() {
    check_get();
    return take();
  }
  /// Puts an item at once: QueueFull when the queue is full, QueueShutDown when shut down. A
  /// putter woken for the slot and not run yet waits again.
  void put_nowait(T item) {
    check_put();
    storage_.push(std::move(item));
    item_added();
  }

  /// Python 3.13's Queue.shutdown: put and put_nowait raise QueueShutDown from now on, and so do
  /// get and get_nowait once the queue is empty; every waiting putter and getter is woken to
  /// raise it. With `immediate`, the items left are dropped (and counted as processed for
  /// join()), so getters raise at once.
  void shutdown(bool immediate = false) noexcept {
    std::size_t dropped = 0;
    if (immediate) {
      dropped = storage_.size();
      storage_.clear();
    }
    shut_down_after(immediate, dropped);
  }

 private:
  T take() {
    T item = storage_.pop();
    item_removed();
    return item;
  }

  Storage storage_;
};

/// Python's asyncio.Queue: first in, first out.
template <class T>
class Queue : public BasicQueue<T, detail::RingBuffer<T>> {
 public:
  using BasicQueue<T, detail::RingBuffer<T>>::BasicQueue;
};

/// Python's asyncio.LifoQueue: the most recently put item first.
template <class T>
class LifoQueue : public BasicQueue<T, detail::Stack<T>> {
 public:
  using BasicQueue<T, detail::Stack<T>>::BasicQueue;
};

/// Python's asyncio.PriorityQueue: the smallest item by `Compare` first (with std::less, the
/// lowest, as Python's heapq); equal items come out in no particular order.
template <class T, class Compare = std::less<T>>
class PriorityQueue : public BasicQueue<T, detail::Heap<T, Compare>> {
 public:
  using BasicQueue<T, detail::Heap<T, Compare>>::BasicQueue;
};

}  // namespace asyncio
