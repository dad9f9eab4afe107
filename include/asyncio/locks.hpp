// The synchronisation primitives of Python's asyncio.locks: Lock, Event, Condition, Semaphore,
// BoundedSemaphore and Barrier, plus Held<P>, the RAII form of `async with` for the first four.
//
// Implementation notes. Each primitive keeps its waiting tasks in a detail::WaitQueue: FIFO,
// intrusive (the waiter lives in the awaiter in the coroutine frame), woken through the ready
// queue. Lock and Semaphore hand the lock or a permit directly to the task they wake, as
// CPython's Semaphore does: nobody can take it in between, and a task woken that way but
// cancelled before it ran passes it on to the next waiter. The fast paths (a free lock, a
// permit available, an event already set) neither suspend nor allocate.
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "asyncio/coro.hpp"
#include "asyncio/detail/wait_queue.hpp"
#include "asyncio/exceptions.hpp"

namespace asyncio {

/// What `co_await x.scoped()` gives: releases `x` when it goes out of scope, as leaving an
/// `async with x:` block does. Move-only; release() releases early.
template <class P>
class [[nodiscard]] Held {
 public:
  explicit Held(P& primitive) noexcept : primitive_(&primitive) {}
  Held(Held&& other) noexcept : primitive_(std::exchange(other.primitive_, nullptr)) {}
  Held& operator=(Held&&) = delete;
  /// Releases; an error doing so (a BoundedSemaphore released too many times) cannot leave a
  /// destructor, and goes to the running loop's exception handler.
  ~Held() {
    if (!primitive_) return;
    try {
      primitive_->release();
    } catch (...) {
      detail::report_callback_error(std::current_exception());
    }
  }

  /// Releases now instead of at the end of the scope.
  void release() { std::exchange(primitive_, nullptr)->release(); }
  /// False once released (or moved from).
  bool owns() const noexcept { return primitive_ != nullptr; }

 private:
  P* primitive_;
};

namespace detail {

/// `co_await x.scoped()`: x's acquire, giving a Held<P>.
template <class P>
class [[nodiscard]] ScopedAcquire {
 public:
  explicit ScopedAcquire(P& primitive) noexcept
      : primitive_(primitive), acquire_(primitive.acquire()) {}

  bool await_ready() noexcept { return acquire_.await_ready(); }
  template <AsyncioPromise Promise>
  void await_suspend(std::coroutine_handle<Promise> frame) {
    acquire_.await_suspend(frame);
  }
  Held<P> await_resume() {
    acquire_.await_resume();
    return Held<P>(primitive_);
  }

 private:
  P& primitive_;
  decltype(std::declval<P&>().acquire()) acquire_;
};

}  // namespace detail

// --- Lock -------------------------------------------------------------------------------------

/// Python's asyncio.Lock: a mutual exclusion lock for tasks, not threads. Not reentrant.
///
///     co_await lock.acquire();  ...  lock.release();
///     { auto held = co_await lock.scoped(); ... }   // async with lock:
///
/// Fair: tasks get the lock in the order they asked for it. release() hands the lock straight
/// to the first waiting task: until that task runs, locked() is false (as Python's, whose woken
/// task takes the lock when it runs), yet an acquire() in between waits behind it.
class Lock {
 public:
  Lock() noexcept : waiters_("Lock", this, &hand_on) {}
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

  /// Whether a task holds the lock; not one it was handed to that has not run yet.
  bool locked() const noexcept { return locked_ && !waiters_.has_woken(); }
  /// How many tasks wait in acquire() and have not been handed the lock yet.
  std::size_t waiters() const noexcept { return waiters_.waiting_count(); }

  class [[nodiscard]] AcquireAwaiter final : public detail::Waiter {
   public:
    explicit AcquireAwaiter(Lock& lock) noexcept : lock_(lock) {}
    bool await_ready() noexcept {
      if (lock_.locked_) return false;
      lock_.locked_ = true;
      return true;
    }
    template <detail::AsyncioPromise P>
    void await_suspend(std::coroutine_handle<P>) {
      suspend(lock_.waiters_);
    }
    bool await_resume() {
      if (suspended()) resume();  // woken by release(): the lock was handed to this task
      return true;
    }

   private:
    Lock& lock_;
  };

  /// `co_await lock.acquire()` waits until the lock is this task's; gives true.
  AcquireAwaiter acquire() noexcept { return AcquireAwaiter(*this); }
  /// `auto held = co_await lock.scoped();` acquires, and releases when `held` is destroyed.
  detail::ScopedAcquire<Lock> scoped() noexcept { return detail::ScopedAcquire<Lock>(*this); }
  /// Releases the lock, handing it to the first waiting task if there is one. RuntimeError
  /// when it is not locked, or was handed to a task that has not run yet (Python's lock is
  /// unlocked then, and raises the same).
  void release() {
    if (!locked_ || waiters_.has_woken()) [[unlikely]]
      throw RuntimeError("Lock is not acquired.");
    pass_on();
  }

 private:
  /// The lock goes to the first waiting task, or is unlocked.
  void pass_on() noexcept {
    if (waiters_.has_waiting()) [[unlikely]] {
      waiters_.wake_first();
      return;
    }
    locked_ = false;
  }
  /// A task handed the lock was cancelled before it ran (it has left the woken list).
  static void hand_on(void* self, std::uint8_t) noexcept { static_cast<Lock*>(self)->pass_on(); }

  // Invariant: while a task waits (not yet woken), the lock is locked; release() with a task
  // waiting hands the lock to it instead of unlocking.
  detail::WaitQueue waiters_;
  bool locked_ = false;
};

// --- Event ------------------------------------------------------------------------------------

/// Python's asyncio.Event: set() wakes every task waiting in wait(), and later waits return at
/// once until clear().
class Event {
 public:
  Event() noexcept = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  bool is_set() const noexcept { return value_; }
  /// How many tasks wait in wait() and have not been woken yet.
  std::size_t waiters() const noexcept { return waiters_.waiting_count(); }
  /// Sets the flag and wakes every waiting task (in the order they started waiting).
  void set() noexcept {
    if (value_) return;
    value_ = true;
    waiters_.wake_all();
  }
  /// Clears the flag; tasks already woken still return from wait().
  void clear() noexcept { value_ = false; }
  /// `co_await event.wait()` returns (true) once the flag is set.
  detail::WakeAwaiter wait() noexcept { return detail::WakeAwaiter(waiters_, &value_); }

 private:
  detail::WaitQueue waiters_{"Event"};
  bool value_ = false;
};

// --- Condition --------------------------------------------------------------------------------

/// Python's asyncio.Condition: tasks wait, with its lock held, until another task notifies
/// them. It uses its own Lock, or one given to the constructor (which must outlive it).
class Condition {
 public:
  Condition() noexcept : lock_(&own_lock_) {}
  explicit Condition(Lock& lock) noexcept : lock_(&lock) {}
  Condition(const Condition&) = delete;
  Condition& operator=(const Condition&) = delete;

  bool locked() const noexcept { return lock_->locked(); }
  /// How many tasks wait in wait() and have not been notified yet.
  std::size_t waiters() const noexcept { return waiters_.waiting_count(); }
  Lock::AcquireAwaiter acquire() noexcept { return lock_->acquire(); }
  detail::ScopedAcquire<Condition> scoped() noexcept {
    return detail::ScopedAcquire<Condition>(*this);
  }
  void release() { lock_->release(); }

  /// Releases the lock, waits until notified, and acquires the lock again before returning
  /// (true) or throwing, even when cancelled. RuntimeError when the lock is not held. As in
  /// Python 3.13, when it throws (it was cancelled) it notifies another waiter, since this task
  /// may have been notified already: at worst that waiter wakes up spuriously.
  Coro<bool> wait();
  /// Waits until `predicate()` is true (checked first, and after each wake-up, with the lock
  /// held); returns its last value. What it returns must work with `!` (a bool, a pointer, an
  /// optional); Python's takes any value, truthy as a non-empty container is: return
  /// `!items.empty()`, not `items`.
  template <class Predicate>
  Coro<std::invoke_result_t<Predicate&>> wait_for(Predicate predicate) {
    auto result = predicate();
    while (!result) {
      co_await wait();
      result = predicate();
    }
    co_return result;
  }
  /// Wakes up to `n` waiting tasks, longest waiting first (none when `n` <= 0, as Python's).
  /// RuntimeError when the lock is not held.
  void notify(std::int64_t n = 1);
  /// Wakes every waiting task.
  void notify_all();

 private:
  void wake(std::size_t n) noexcept {
    for (std::size_t i = 0; i < n && waiters_.wake_first(); ++i) {
    }
  }

  Lock own_lock_;
  Lock* lock_;
  // No hand-on: a notified task that is cancelled before it runs notifies another one from
  // wait() itself, as any task leaving wait() by an exception does.
  detail::WaitQueue waiters_{"Condition"};
};

// --- Semaphore --------------------------------------------------------------------------------

/// Python's asyncio.Semaphore: a counter that acquire() decrements, waiting while it is zero,
/// and release() increments. Fair: permits go to waiting tasks in FIFO order, handed over
/// directly by release(); and, as in Python 3.13, a task does not take a permit ahead of tasks
/// that were woken but have not run yet (locked() counts them).
class Semaphore {
 public:
  /// std::invalid_argument when `value` is negative.
  explicit Semaphore(std::int64_t value = 1);
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  /// True when acquire() would wait: no permit, or tasks waiting or woken ahead of it.
  bool locked() const noexcept {
    return value_ == 0 || waiters_.has_waiting() || waiters_.has_woken();
  }
  /// How many tasks wait in acquire() and have not been handed a permit yet.
  std::size_t waiters() const noexcept { return waiters_.waiting_count(); }

  class [[nodiscard]] AcquireAwaiter final : public detail::Waiter {
   public:
    explicit AcquireAwaiter(Semaphore& sem) noexcept : sem_(sem) {}
    bool await_ready() noexcept {
      if (sem_.locked()) return false;
      --sem_.value_;
      return true;
    }
    template <detail::AsyncioPromise P>
    void await_suspend(std::coroutine_handle<P>) {
      suspend(sem_.waiters_);
    }
    bool await_resume() {
      if (suspended()) {
        // Woken by release(), which handed this task a permit; or cancelled. Either way,
        // permits released meanwhile for tasks that queued behind it go to them now.
        try {
          resume();
        } catch (const detail::PrimitiveDestroyed&) {
          throw;
        } catch (...) {
          sem_.wake_for_spare_permits();
          throw;
        }
        sem_.wake_for_spare_permits();
      }
      return true;
    }

   private:
    Semaphore& sem_;
  };

  AcquireAwaiter acquire() noexcept { return AcquireAwaiter(*this); }
  detail::ScopedAcquire<Semaphore> scoped() noexcept {
    return detail::ScopedAcquire<Semaphore>(*this);
  }
  /// Returns a permit: to the first waiting task, or to the counter. For a BoundedSemaphore,
  /// std::invalid_argument (Python's ValueError) when the counter is at its bound, whichever
  /// type it is released through.
  void release() {
    if (value_ >= bound_) [[unlikely]]
      throw std::invalid_argument("BoundedSemaphore released too many times");
    give_permit();
  }

 protected:
  /// A BoundedSemaphore's: release() beyond `bound` is an error.
  Semaphore(std::int64_t value, std::int64_t bound) : Semaphore(value) { bound_ = bound; }

 private:
  /// The permit goes to the first waiting task, or to the counter.
  void give_permit() noexcept {
    if (waiters_.has_waiting()) [[unlikely]] {
      waiters_.wake_first();
      return;
    }
    ++value_;
  }
  /// A task handed a permit was cancelled before it ran: the permit goes on.
  static void hand_on(void* self, std::uint8_t) noexcept {
    static_cast<Semaphore*>(self)->give_permit();
  }
  /// CPython's "wake up as many as are allowed": permits that were released while the tasks
  /// waiting for them had to let woken tasks go first.
  void wake_for_spare_permits() noexcept {
    while (value_ > 0 && waiters_.has_waiting()) {
      --value_;
      waiters_.wake_first();
    }
  }

  // Permits handed to woken tasks are not counted in value_. value_ may be above 0 while tasks
  // wait, until the woken tasks ahead of them have run (wake_for_spare_permits).
  std::int64_t value_;
  std::int64_t bound_ = INT64_MAX;  // a BoundedSemaphore's initial value; no bound otherwise
  detail::WaitQueue waiters_;
};

/// Python's asyncio.BoundedSemaphore: release() beyond the initial value is an error
/// (std::invalid_argument, Python's ValueError).
class BoundedSemaphore : public Semaphore {
 public:
  explicit BoundedSemaphore(std::int64_t value = 1) : Semaphore(value, value) {}

  detail::ScopedAcquire<BoundedSemaphore> scoped() noexcept {
    return detail::ScopedAcquire<BoundedSemaphore>(*this);
  }
};

// --- Barrier ----------------------------------------------------------------------------------

/// Python's asyncio.Barrier (3.11): `parties` tasks meet at wait(), and all go on once the last
/// arrives. wait() gives each a distinct index from 0 to parties - 1. A barrier that is reset or
/// aborted while tasks wait makes them raise BrokenBarrierError.
class Barrier {
 public:
  /// std::invalid_argument (Python's ValueError) when `parties` is below 1.
  explicit Barrier(std::int64_t parties);
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;

  /// Waits until `parties` tasks are waiting; gives this task's arrival index.
  Coro<std::size_t> wait();
  /// Returns the barrier to its empty state; tasks waiting raise BrokenBarrierError. Done at
  /// once; the result may be awaited, as Python's `await barrier.reset()`, or dropped.
  std::suspend_never reset() noexcept;
  /// Breaks the barrier: waiting tasks and later wait() calls raise BrokenBarrierError. Done at
  /// once; awaitable as reset() is.
  std::suspend_never abort() noexcept;

  std::size_t parties() const noexcept { return parties_; }
  /// How many tasks wait for the barrier to fill.
  std::size_t n_waiting() const noexcept { return state_ == State::filling ? count_ : 0; }
  bool broken() const noexcept { return state_ == State::broken; }

 private:
  enum class State : std::uint8_t { filling, draining, resetting, broken };
  void leave() noexcept;

  std::size_t parties_;
  std::size_t count_ = 0;  // tasks inside wait() past the entry check
  State state_ = State::filling;
  detail::WaitQueue changed_{"Barrier"};  // woken at every change of state
};

}  // namespace asyncio
