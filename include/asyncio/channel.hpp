// asyncio::Channel<T>: a bounded FIFO shared by tasks on any number of loops and by plain
// threads. Tasks `co_await put(item)` / `co_await get()`; threads call put_blocking /
// get_blocking. close() is Python 3.13's Queue.shutdown(): puts raise QueueShutDown at once,
// gets drain what is left and then raise QueueShutDown, and every waiter is woken.
//
// Implementation notes. One mutex guards the items and two FIFO lists of waiters (getters,
// putters); a waiter is a task on some loop or a blocked thread. When an item arrives and a
// getter waits, the item is reserved for that getter and the getter is woken: a task through
// its loop's call_soon_threadsafe, a thread through its own condition variable. Until it runs,
// later items go to the buffer and wake nobody, and when it runs it finds them there without
// waiting: a burst of items costs the consumer's loop one wake-up, not one per item (and a
// loop's wake-ups coalesce into one eventfd write). A waiter that was woken and then cancelled
// (or timed out, or destroyed) before it ran gives its reservation back and wakes the next
// waiter, so no wake-up is lost. Putters work the same way with reserved room.
#pragma once

#include <cassert>
#include <chrono>
#include <condition_variable>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "asyncio/coro.hpp"
#include "asyncio/detail/deadline.hpp"
#include "asyncio/detail/future_state.hpp"
#include "asyncio/detail/intrusive_list.hpp"
#include "asyncio/detail/task_base.hpp"
#include "asyncio/exceptions.hpp"

namespace asyncio {

class EventLoop;

namespace detail {

class ChannelCore;

/// One put or get that waits: a task (ChannelTaskWaiter) or a blocked thread.
class ChannelWaiter : public ListHook {
 public:
  /// Why it was woken: room or an item was reserved for it, or the channel closed.
  enum class Reason : std::uint8_t { none, reserved, closed };

  ChannelWaiter() noexcept = default;

 protected:
  ~ChannelWaiter() = default;

  Reason reason_ = Reason::none;  // guarded by the channel's mutex

 private:
  friend class ChannelCore;
  /// The channel's mutex is held; `reason_` is already set and the waiter unlinked.
  virtual void wake() noexcept = 0;
};

/// Which list a waiter waits in.
enum class ChannelSide : std::uint8_t { get, put };

/// A channel's untyped part: the mutex, the waiter lists, the counts and reservations.
class ChannelCore {
 public:
  using Clock = std::chrono::steady_clock;
  using Reason = ChannelWaiter::Reason;

  /// `maxsize` 0: no bound.
  explicit ChannelCore(std::size_t maxsize) noexcept : maxsize_(maxsize) {}
  ChannelCore(const ChannelCore&) = delete;
  ChannelCore& operator=(const ChannelCore&) = delete;

  std::size_t maxsize() const noexcept { return maxsize_; }
  std::size_t size() const;
  bool closed() const;
  /// The lock of everything below.
  std::mutex& mutex() const noexcept { return mutex_; }
  /// Python's shutdown(immediate=False): wakes every waiter; later puts raise QueueShutDown.
  void close();

 protected:
  // Everything below runs with mutex_ held.

  /// An item may be taken now (one not reserved for a woken getter).
  bool can_get() const noexcept { return count_ > reserved_gets_; }
  /// An item may be added now (room not reserved for a woken putter).
  bool can_put() const noexcept { return maxsize_ == 0 || count_ + reserved_puts_ < maxsize_; }
  bool is_closed() const noexcept { return closed_; }
  /// The typed part added an item: wakes a getter, reserving the item for it.
  void added() noexcept;
  /// The typed part took an item: wakes a putter, reserving the room for it.
  void taken() noexcept;
  /// A woken waiter runs: it takes what was reserved for it (the caller then adds or takes).
  void claim(ChannelSide side) noexcept;
  /// A woken waiter will not run (cancelled, timed out, gone): its reservation passes on.
  void hand_on(ChannelSide side, Reason reason) noexcept;
  /// Links `w` at the back of `side`'s list.
  void push_waiter(ChannelSide side, ChannelWaiter& w) noexcept;
  /// A blocked thread's wait for a reason (`deadline`: at most until then). TimeoutError when
  /// the deadline passes first; RuntimeError when this thread runs an event loop.
  Reason wait_blocking(std::unique_lock<std::mutex>& lock, ChannelSide side,
                       std::optional<Clock::time_point> deadline, const char* caller);

  [[noreturn]] static void throw_shut_down();

 private:
  friend class ChannelTaskWaiter;
  IntrusiveList& list(ChannelSide side) noexcept {
    return side == ChannelSide::get ? getters_ : putters_;
  }
  std::size_t& reserved(ChannelSide side) noexcept {
    return side == ChannelSide::get ? reserved_gets_ : reserved_puts_;
  }
  /// Wakes the first waiter of `side` with `reason`; false when none waits.
  bool wake_first(ChannelSide side, Reason reason) noexcept;

  // All guarded by mutex_. Invariants: count_ is the typed part's item count;
  // reserved_gets_ <= count_ (items promised to woken getters); count_ + reserved_puts_ <=
  // maxsize_ when bounded (room promised to woken putters); a waiter is linked in a list only
  // while its reason is none.
  mutable std::mutex mutex_;
  const std::size_t maxsize_;
  std::size_t count_ = 0;
  std::size_t reserved_gets_ = 0;
  std::size_t reserved_puts_ = 0;
  bool closed_ = false;
  IntrusiveList getters_;
  IntrusiveList putters_;
};

/// A task waiting on a channel; the get and put awaiters derive from it. It is the task's
/// WaitTarget: Task::cancel reaches it on the loop's thread.
class ChannelTaskWaiter : public ChannelWaiter, public WaitTarget {
 public:
  ChannelTaskWaiter(ChannelCore& core, ChannelSide side) noexcept : core_(core), side_(side) {}
  /// Until it is awaited a waiter may be moved, as a plain awaiter may (wait_for, gather and
  /// shield take it by value: `wait_for(channel.get(), t)`).
  ChannelTaskWaiter(ChannelTaskWaiter&& other) noexcept : core_(other.core_), side_(other.side_) {
    assert(!other.task_);
  }
  ChannelTaskWaiter& operator=(ChannelTaskWaiter&&) = delete;

 protected:
  /// A frame destroyed while it waits leaves the list, or hands on what it was given.
  ~ChannelTaskWaiter() {
    if (task_) abandon();
  }
  /// await_suspend, with the channel's lock held (`lock`): links this waiter, unlocks, and
  /// suspends the running task on it. Returns true.
  bool suspend(std::unique_lock<std::mutex>& lock);
  /// True when await_suspend made the task wait.
  bool suspended() const noexcept { return task_ != nullptr; }
  /// First thing await_resume does after a wait: the reason it was woken. Throws the task's
  /// CancelledError, after handing on a reservation it had been given.
  Reason resume();

 private:
  /// What a posted wake-up finds: the task to step, or null once it need not be.
  struct Wake {
    TaskBase* task = nullptr;  // the loop's thread only
  };
  void wake() noexcept override;
  CancelOutcome cancel_wait(TaskBase* task, const std::exception_ptr& error) override;
  void abandon() noexcept;

  ChannelCore& core_;
  ChannelSide side_;
  TaskBase* task_ = nullptr;  // set while suspended
  EventLoop* loop_ = nullptr;
  std::shared_ptr<Wake> wake_;
};

/// The typed state shared by a channel's handles.
template <class T>
class ChannelState final : public ChannelCore {
 public:
  using ChannelCore::ChannelCore;

  // --- with the lock held ---
  /// A get would not wait: an item is there, or the channel is closed.
  bool get_ready_locked() const noexcept { return can_get() || is_closed(); }
  /// A put would not wait: there is room, or the channel is closed.
  bool put_ready_locked() const noexcept { return can_put() || is_closed(); }
  /// Takes the front item; QueueEmpty or QueueShutDown when there is none to take.
  T take_locked() {
    if (!can_get()) {
      if (is_closed()) throw_shut_down();
      throw QueueEmpty();
    }
    return pop();
  }
  /// Adds an item; QueueShutDown once closed, QueueFull when full.
  void add_locked(T&& item) {
    if (is_closed()) throw_shut_down();
    if (!can_put()) throw QueueFull();
    push(std::move(item));
  }
  /// Adds items[from...] while there is room (none once closed); how many it added.
  std::size_t add_some(std::vector<T>& items, std::size_t from) {
    std::size_t added = 0;
    for (; from + added < items.size() && !is_closed() && can_put(); ++added) {
      push(std::move(items[from + added]));
    }
    return added;
  }
  /// Moves up to `max` items that may be taken now to the back of `out`.
  void take_some(std::vector<T>& out, std::size_t max) {
    for (; max > 0 && can_get(); --max) out.push_back(pop());
  }
  /// A woken getter takes its item; after a close it drains what is left, or raises.
  T take_after_wait(Reason reason) {
    if (reason == Reason::reserved) {
      claim(ChannelSide::get);
      return pop();
    }
    return take_locked();
  }
  /// A woken putter adds its item into its reserved room, or raises when closed.
  void add_after_wait(Reason reason, T&& item) {
    if (reason != Reason::reserved) throw_shut_down();
    claim(ChannelSide::put);
    push(std::move(item));
  }

  T get_blocking(std::optional<Clock::time_point> deadline) {
    std::unique_lock lock(mutex());
    if (get_ready_locked()) return take_locked();
    return take_after_wait(wait_blocking(lock, ChannelSide::get, deadline, "get_blocking"));
  }
  void put_blocking(T&& item, std::optional<Clock::time_point> deadline) {
    std::unique_lock lock(mutex());
    if (put_ready_locked()) return add_locked(std::move(item));
    add_after_wait(wait_blocking(lock, ChannelSide::put, deadline, "put_blocking"),
                   std::move(item));
  }

 private:
  T pop() {
    T item = std::move(items_.front());
    items_.pop_front();
    taken();
    return item;
  }
  void push(T&& item) {
    items_.push_back(std::move(item));
    added();
  }

  std::deque<T> items_;  // guarded by mutex_
};

}  // namespace detail

/// A FIFO of T between loops and threads (Python has none: its asyncio.Queue serves one loop).
/// A cheap handle: copies share the channel, which lives while any handle does. Every member
/// is safe from any thread. Items keep the order in which each producer put them.
///
/// In a task: `co_await ch.put(item)` waits while the channel is full, `co_await ch.get()`
/// while it is empty; cancelling the task ends the wait (the item is then neither taken nor
/// added). On a plain thread: put_blocking / get_blocking, optionally with a timeout
/// (TimeoutError); on a thread that runs a loop they raise RuntimeError instead of blocking it.
template <class T>
class Channel {
 public:
  using value_type = T;

  /// A channel of at most `maxsize` items; 0 for no bound.
  explicit Channel(std::size_t maxsize)
      : state_(std::make_shared<detail::ChannelState<T>>(maxsize)) {}

  class [[nodiscard]] GetAwaiter final : public detail::ChannelTaskWaiter {
   public:
    explicit GetAwaiter(detail::ChannelState<T>& state) noexcept
        : ChannelTaskWaiter(state, detail::ChannelSide::get), state_(state) {}
    /// The fast path: an item is there (or the channel is closed and drained: QueueShutDown).
    bool await_ready() {
      std::lock_guard lock(state_.mutex());
      if (!state_.get_ready_locked()) return false;
      item_.emplace(state_.take_locked());
      return true;
    }
    template <detail::AsyncioPromise P>
    bool await_suspend(std::coroutine_handle<P>) {
      std::unique_lock lock(state_.mutex());
      if (!state_.get_ready_locked()) return suspend(lock);
      try {
        item_.emplace(state_.take_locked());
      } catch (...) {
        error_ = std::current_exception();  // raised by await_resume, not from here
      }
      return false;
    }
    T await_resume() {
      if (item_) return std::move(*item_);
      if (error_) std::rethrow_exception(error_);
      const Reason reason = resume();
      std::lock_guard lock(state_.mutex());
      return state_.take_after_wait(reason);
    }

   private:
    detail::ChannelState<T>& state_;
    std::optional<T> item_;
    std::exception_ptr error_;
  };

  class [[nodiscard]] PutAwaiter final : public detail::ChannelTaskWaiter {
   public:
    PutAwaiter(detail::ChannelState<T>& state, T&& item)
        : ChannelTaskWaiter(state, detail::ChannelSide::put),
          state_(state),
          item_(std::move(item)) {}
    /// The fast path: there is room (or the channel is closed: QueueShutDown).
    bool await_ready() {
      std::lock_guard lock(state_.mutex());
      if (!state_.put_ready_locked()) return false;
      state_.add_locked(std::move(item_));
      return true;
    }
    template <detail::AsyncioPromise P>
    bool await_suspend(std::coroutine_handle<P>) {
      std::unique_lock lock(state_.mutex());
      if (!state_.put_ready_locked()) return suspend(lock);
      try {
        state_.add_locked(std::move(item_));
      } catch (...) {
        error_ = std::current_exception();
      }
      return false;
    }
    void await_resume() {
      if (!suspended()) {
        if (error_) std::rethrow_exception(error_);
        return;
      }
      const Reason reason = resume();
      std::lock_guard lock(state_.mutex());
      state_.add_after_wait(reason, std::move(item_));
    }

   private:
    detail::ChannelState<T>& state_;
    T item_;
    std::exception_ptr error_;
  };

  GetAwaiter get() noexcept { return GetAwaiter(*state_); }
  PutAwaiter put(T item) { return PutAwaiter(*state_, std::move(item)); }

  /// Puts every item, in order, taking the lock once for as many as there is room for (a
  /// burst costs about one put); waits for room as put() does. When the channel closes midway,
  /// the items before the one that raised QueueShutDown were put.
  Coro<void> put_many(std::vector<T> items) { return put_many_into(*this, std::move(items)); }
  /// Waits while the channel is empty, then takes up to `max` (at least 1) items at once:
  /// Tokio's recv_many. QueueShutDown once closed and drained.
  Coro<std::vector<T>> get_many(std::size_t max) { return get_many_from(*this, max); }

  /// Takes an item without waiting: QueueEmpty when there is none, QueueShutDown once closed
  /// and drained.
  T get_nowait() {
    std::lock_guard lock(state_->mutex());
    return state_->take_locked();
  }
  /// Adds an item without waiting: QueueFull when full, QueueShutDown once closed.
  void put_nowait(T item) {
    std::lock_guard lock(state_->mutex());
    state_->add_locked(std::move(item));
  }

  /// A plain thread's get: blocks until an item comes (or the channel closes and is drained:
  /// QueueShutDown).
  T get_blocking() { return state_->get_blocking(std::nullopt); }
  template <class Rep, class Period>
  T get_blocking(std::chrono::duration<Rep, Period> timeout) {
    return state_->get_blocking(detail::deadline_after(detail::ChannelCore::Clock::now(), timeout));
  }
  /// A plain thread's put: blocks while the channel is full (QueueShutDown once closed).
  void put_blocking(T item) { state_->put_blocking(std::move(item), std::nullopt); }
  template <class Rep, class Period>
  void put_blocking(T item, std::chrono::duration<Rep, Period> timeout) {
    state_->put_blocking(std::move(item),
                         detail::deadline_after(detail::ChannelCore::Clock::now(), timeout));
  }

  /// Ends the channel (Python's Queue.shutdown()): every waiting put and every later one raise
  /// QueueShutDown; gets take what is left, then raise QueueShutDown. Idempotent.
  void close() { state_->close(); }
  bool closed() const { return state_->closed(); }
  /// How many items it holds now.
  std::size_t qsize() const { return state_->size(); }
  bool empty() const { return qsize() == 0; }
  /// The bound given at construction (0: none).
  std::size_t maxsize() const noexcept { return state_->maxsize(); }

 private:
  // (They hold a handle of their own: the coroutine may outlive the handle it was called on.)
  static Coro<void> put_many_into(Channel self, std::vector<T> items) {
    for (std::size_t next = 0; next < items.size();) {
      {
        std::lock_guard lock(self.state_->mutex());
        next += self.state_->add_some(items, next);
      }
      if (next == items.size()) break;
      const std::size_t waiting = next++;
      co_await self.put(std::move(items[waiting]));  // full: waits for room
    }
  }
  static Coro<std::vector<T>> get_many_from(Channel self, std::size_t max) {
    std::vector<T> items;
    items.push_back(co_await self.get());
    std::lock_guard lock(self.state_->mutex());
    self.state_->take_some(items, max > 1 ? max - 1 : 0);
    co_return items;
  }

  std::shared_ptr<detail::ChannelState<T>> state_;
};

}  // namespace asyncio
