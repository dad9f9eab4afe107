// Lock, Event, Condition, Semaphore, BoundedSemaphore and Barrier: Python's semantics and
// errors, FIFO order of waiters, the RAII forms, the cancellation races CPython fixed (a waiter
// woken, then cancelled before it ran, passes its wake-up on), and destruction with waiters.
#include <algorithm>
#include <memory>
#include <optional>
#include <stdexcept>
#include <vector>

#include "support/asyncio_test.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio::Task;
using asyncio_test::outcome;

namespace {

struct LocksTest : asyncio_test::LoopFixture {};

// Acquires `p`, records `id`, holds it for one loop iteration, releases it.
template <class P>
Coro<void> take_turn(P& p, int id, std::vector<int>& order) {
  co_await p.acquire();
  order.push_back(id);
  co_await asyncio::sleep(0s);
  p.release();
}

// --- Lock ---

TEST_F(LocksTest, LockAcquireReleaseAndErrors) {
  auto body = [&]() -> Coro<void> {
    asyncio::Lock lock;
    EXPECT_FALSE(lock.locked());
    bool got = co_await lock.acquire();
    EXPECT_TRUE(got);
    EXPECT_TRUE(lock.locked());
    lock.release();
    EXPECT_FALSE(lock.locked());
    EXPECT_THROW(lock.release(), asyncio::RuntimeError);
  };
  loop->run_until_complete(body());
}

TEST_F(LocksTest, LockIsGrantedInFifoOrder) {
  auto body = [&]() -> Coro<void> {
    asyncio::Lock lock;
    std::vector<int> order;
    co_await lock.acquire();
    std::vector<Task<void>> tasks;
    for (int i = 0; i < 4; ++i) tasks.push_back(asyncio::create_task(take_turn(lock, i, order)));
    co_await asyncio::sleep(0s);
    lock.release();  // handed to task 0: nobody can take it in between, though, as in Python,
    EXPECT_FALSE(lock.locked());  // it counts as unlocked until task 0 runs
    auto late = asyncio::create_task(take_turn(lock, 99, order));
    co_await asyncio::gather(tasks);
    co_await late;
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 99}));
    EXPECT_FALSE(lock.locked());
  };
  loop->run_until_complete(body());
}

TEST_F(LocksTest, ScopedLockReleasesAtTheEndOfTheScope) {
  auto body = [&]() -> Coro<void> {
    asyncio::Lock lock;
    {
      auto held = co_await lock.scoped();
      EXPECT_TRUE(held.owns());
      EXPECT_TRUE(lock.locked());
    }
    EXPECT_FALSE(lock.locked());
    auto held = co_await lock.scoped();
    held.release();
    EXPECT_FALSE(held.owns());
    EXPECT_FALSE(lock.locked());
  };
  loop->run_until_complete(body());
}

TEST_F(LocksTest, LockWaiterWokenThenCancelledHandsTheLockOn) {
  auto body = [&]() -> Coro<void> {
    asyncio::Lock lock;
    std::vector<int> order;
    co_await lock.acquire();
    auto a = asyncio::create_task(take_turn(lock, 1, order));
    auto b = asyncio::create_task(take_turn(lock, 2, order));
    co_await asyncio::sleep(0s);
    lock.release();  // wakes a with the lock ...
    a.cancel();      // ... cancelled before it runs: the lock goes to b
    co_await b;
    EXPECT_TRUE(a.cancelled());
    EXPECT_EQ(order, std::vector<int>{2});
    EXPECT_FALSE(lock.locked());

    // With nobody else waiting, the lock is simply released.
    co_await lock.acquire();
    auto c = asyncio::create_task(take_turn(lock, 3, order));
    co_await asyncio::sleep(0s);
    lock.release();
    c.cancel();
    co_await asyncio::gather(asyncio::return_exceptions, c);
    EXPECT_TRUE(c.cancelled());
    EXPECT_FALSE(lock.locked());
  };
  loop->run_until_complete(body());
}

TEST_F(LocksTest, ASecondReleaseWhileTheLockIsHandedOverRaisesAndTakesNothing) {
  auto body = [&]() -> Coro<void> {
    asyncio::Lock lock;
    std::vector<int> order;
    co_await lock.acquire();
    auto a = asyncio::create_task(take_turn(lock, 1, order));
    co_await asyncio::sleep(0s);
    lock.release();  // handed to a, which has not run yet: Python's lock is unlocked now
    EXPECT_THROW(lock.release(), asyncio::RuntimeError);
    auto b = asyncio::create_task(take_turn(lock, 2, order));
    co_await a;
    co_await b;
    EXPECT_EQ(order, (std::vector<int>{1, 2}));  // b waited for a: the lock stayed a's
    EXPECT_FALSE(lock.locked());

    // The woken task cancelled after the refused release: the lock is freed, nothing aborts.
    co_await lock.acquire();
    auto c = asyncio::create_task(take_turn(lock, 3, order));
    co_await asyncio::sleep(0s);
    lock.release();
    EXPECT_THROW(lock.release(), asyncio::RuntimeError);
    c.cancel();
    co_await asyncio::gather(asyncio::return_exceptions, c);
    EXPECT_TRUE(c.cancelled());
    EXPECT_FALSE(lock.locked());
  };
  loop->run_until_complete(body());
}

TEST_F(LocksTest, LockWaiterCancelledWhileWaitingLeavesTheLine) {
  auto body = [&]() -> Coro<void> {
    asyncio::Lock lock;
    std::vector<int> order;
    co_await lock.acquire();
    auto a = asyncio::create_task(take_turn(lock, 1, order));
    auto b = asyncio::create_task(take_turn(lock, 2, order));
    co_await asyncio::sleep(0s);
    a.cancel();
    co_await asyncio::sleep(0s);
    EXPECT_TRUE(a.cancelled());
    lock.release();
    co_await b;
    EXPECT_EQ(order, std::vector<int>{2});
  };
  loop->run_until_complete(body());
}

TEST_F(LocksTest, DestroyingALockWithWaitersIsReportedAndTheyRaise) {
  auto body = [&]() -> Coro<void> {
    auto lock = std::make_unique<asyncio::Lock>();
    std::vector<int> order;
    co_await lock->acquire();
    auto a = asyncio::create_task(take_turn(*lock, 1, order));
    auto b = asyncio::create_task(take_turn(*lock, 2, order));
    co_await asyncio::sleep(0s);
    lock.reset();
    co_await asyncio::gather(asyncio::return_exceptions, a, b);
    EXPECT_EQ(outcome(a), "Lock was destroyed while a task waited on it");
    EXPECT_EQ(outcome(b), "Lock was destroyed while a task waited on it");
    EXPECT_TRUE(order.empty());
  };
  loop->run_until_complete(body());
  EXPECT_EQ(reported("Lock was destroyed while 2 tasks were waiting on it"), 1u);
}

// The primitives whose own code runs after the wait (to re-acquire, count, or pass permits
// on) raise too, without touching the destroyed primitive (AddressSanitizer checks).
TEST_F(LocksTest, DestroyingAConditionABarrierOrASemaphoreWithWaitersMakesThemRaise) {
  auto body = [&]() -> Coro<void> {
    auto condition = std::make_unique<asyncio::Condition>();
    auto barrier = std::make_unique<asyncio::Barrier>(2);
    auto semaphore = std::make_unique<asyncio::Semaphore>(0);
    auto released = std::make_unique<asyncio::Semaphore>(0);
    auto in_condition = [&]() -> Coro<void> {
      co_await condition->acquire();
      co_await condition->wait();
    };
    auto at_barrier = [&]() -> Coro<void> { (void)co_await barrier->wait(); };
    auto at_semaphore = [&](asyncio::Semaphore& s) -> Coro<void> { co_await s.acquire(); };
    auto a = asyncio::create_task(in_condition());
    auto b = asyncio::create_task(at_barrier());
    auto c = asyncio::create_task(at_semaphore(*semaphore));
    auto d = asyncio::create_task(at_semaphore(*released));
    co_await asyncio::sleep(0s);
    released->release();  // d is woken, and has not run yet
    condition.reset();
    barrier.reset();
    semaphore.reset();
    released.reset();
    co_await asyncio::gather(asyncio::return_exceptions, a, b, c, d);
    EXPECT_EQ(outcome(a), "Condition was destroyed while a task waited on it");
    EXPECT_EQ(outcome(b), "Barrier was destroyed while a task waited on it");
    EXPECT_EQ(outcome(c), "Semaphore was destroyed while a task waited on it");
    EXPECT_EQ(outcome(d), "Semaphore was destroyed while a task waited on it");
  };
  loop->run_until_complete(body());
  EXPECT_EQ(reported("Semaphore was destroyed while 1 task was waiting on it"), 2u);
}

// --- Event ---

TEST_F(LocksTest, EventWakesEveryWaiterInOrder) {
  auto body = [&]() -> Coro<void> {
    asyncio::Event event;
    std::vector<int> order;
    auto waiter = [&](int id) -> Coro<void> {
      bool value = co_await event.wait();
      EXPECT_TRUE(value);
      order.push_back(id);
    };
    std::vector<Task<void>> tasks;
    for (int i = 0; i < 3; ++i) tasks.push_back(asyncio::create_task(waiter(i)));
    co_await asyncio::sleep(0s);
    EXPECT_TRUE(order.empty());
    EXPECT_FALSE(event.is_set());
    event.set();
    event.clear();  // tasks already woken still return
    co_await asyncio::gather(tasks);
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
    event.set();
    co_await event.wait();  // set: no wait
    EXPECT_TRUE(event.is_set());
  };
  loop->run_until_complete(body());
}

// Python's Event.wait() is a coroutine: whether it waits is decided when it runs, not when it
// is called; gather() and ensure_future() run it later, in a task of their own.
TEST_F(LocksTest, EventWaitDecidesWhenAwaitedNotWhenMade) {
  auto body = [&]() -> Coro<void> {
    asyncio::Event event;
    auto made_before_set = event.wait();
    event.set();
    EXPECT_TRUE(co_await asyncio::wait_for(std::move(made_before_set), 5s));

    event.clear();
    auto in_gather = asyncio::gather(event.wait());  // its task runs after set()
    event.set();
    co_await asyncio::wait_for(std::move(in_gather), 5s);

    auto made_while_set = event.wait();
    event.clear();
    EXPECT_THROW(co_await asyncio::wait_for(std::move(made_while_set), 10ms),
                 asyncio::TimeoutError);
  };
  loop->run_until_complete(body());
}

TEST_F(LocksTest, EventWaiterCancelledAfterSetRaisesCancelledError) {
  auto body = [&]() -> Coro<void> {
    asyncio::Event event;
    auto wait = [&]() -> Coro<void> { co_await event.wait(); };
    auto a = asyncio::create_task(wait());
    co_await asyncio::sleep(0s);
    event.set();
    a.cancel();
    co_await asyncio::gather(asyncio::return_exceptions, a);
    EXPECT_TRUE(a.cancelled());
  };
  loop->run_until_complete(body());
}

// --- Condition ---

TEST_F(LocksTest, ConditionNotifyWakesInFifoOrderAndReacquiresTheLock) {
  auto body = [&]() -> Coro<void> {
    asyncio::Condition cond;
    std::vector<int> order;
    auto waiter = [&](int id) -> Coro<void> {
      auto held = co_await cond.scoped();
      co_await cond.wait();
      EXPECT_TRUE(cond.locked());
      order.push_back(id);
    };
    std::vector<Task<void>> tasks;
    for (int i = 0; i < 3; ++i) tasks.push_back(asyncio::create_task(waiter(i)));
    co_await asyncio::sleep(0s);
    EXPECT_FALSE(cond.locked());  // every waiter released it
    EXPECT_THROW(cond.notify(), asyncio::RuntimeError);
    co_await cond.acquire();
    cond.notify(-1);  // wakes nobody, as Python's notify(-1)
    cond.notify(0);
    EXPECT_EQ(cond.waiters(), 3u);
    cond.notify(2);
    EXPECT_EQ(cond.waiters(), 1u);
    cond.release();
    co_await asyncio::sleep(10ms);
    EXPECT_EQ(order, (std::vector<int>{0, 1}));
    co_await cond.acquire();
    cond.notify_all();
    cond.release();
    co_await asyncio::gather(tasks);
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
    EXPECT_THROW(co_await cond.wait(), asyncio::RuntimeError);  // lock not held
  };
  loop->run_until_complete(body());
}

TEST_F(LocksTest, ConditionWaitForChecksThePredicate) {
  auto body = [&]() -> Coro<void> {
    asyncio::Lock lock;
    asyncio::Condition cond(lock);
    int value = 0;
    auto waiter = [&]() -> Coro<int> {
      auto held = co_await cond.scoped();
      co_return co_await cond.wait_for([&] { return value >= 2 ? value : 0; });
    };
    auto t = asyncio::create_task(waiter());
    for (int i = 0; i < 3; ++i) {
      co_await asyncio::sleep(0s);
      auto held = co_await cond.scoped();
      ++value;
      cond.notify();
    }
    int got = co_await t;
    EXPECT_EQ(got, 2);
  };
  loop->run_until_complete(body());
}

TEST_F(LocksTest, ConditionWaiterNotifiedThenCancelledPassesTheNotificationOn) {
  auto body = [&]() -> Coro<void> {
    asyncio::Condition cond;
    std::vector<int> woke;
    auto waiter = [&](int id) -> Coro<void> {
      auto held = co_await cond.scoped();
      co_await cond.wait();
      woke.push_back(id);
    };
    auto a = asyncio::create_task(waiter(1));
    auto b = asyncio::create_task(waiter(2));
    co_await asyncio::sleep(0s);
    co_await cond.acquire();
    cond.notify(1);  // wakes a ...
    a.cancel();      // ... cancelled before it runs: b gets the notification
    cond.release();
    co_await b;
    co_await asyncio::gather(asyncio::return_exceptions, a);
    EXPECT_TRUE(a.cancelled());
    EXPECT_EQ(woke, std::vector<int>{2});
    EXPECT_FALSE(cond.locked());  // a re-acquired the lock before raising, and released it
  };
  loop->run_until_complete(body());
}

TEST_F(LocksTest, ConditionWaitCancelledHoldsTheLockWhenItRaises) {
  auto body = [&]() -> Coro<void> {
    asyncio::Condition cond;
    bool locked_when_raised = false;
    auto waiter = [&]() -> Coro<void> {
      co_await cond.acquire();
      try {
        co_await cond.wait();
      } catch (const asyncio::CancelledError&) {
        locked_when_raised = cond.locked();
      }
      cond.release();
    };
    co_await cond.acquire();  // hold the lock so the cancelled waiter must wait for it
    auto t = asyncio::create_task(waiter());
    cond.release();
    co_await asyncio::sleep(0s);
    co_await cond.acquire();
    t.cancel();
    co_await asyncio::sleep(0s);
    EXPECT_FALSE(t.done());  // waiting for the lock again
    cond.release();
    co_await t;
    EXPECT_TRUE(locked_when_raised);
  };
  loop->run_until_complete(body());
}

// --- Semaphore ---

TEST_F(LocksTest, SemaphoreCountsAndServesWaitersInFifoOrder) {
  auto body = [&]() -> Coro<void> {
    EXPECT_THROW(asyncio::Semaphore(-1), std::invalid_argument);
    asyncio::Semaphore sem(2);
    std::vector<int> order;
    co_await sem.acquire();
    EXPECT_FALSE(sem.locked());
    co_await sem.acquire();
    EXPECT_TRUE(sem.locked());
    std::vector<Task<void>> tasks;
    for (int i = 0; i < 3; ++i) tasks.push_back(asyncio::create_task(take_turn(sem, i, order)));
    co_await asyncio::sleep(0s);
    sem.release();
    sem.release();
    co_await asyncio::gather(tasks);
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
    EXPECT_FALSE(sem.locked());
    {
      auto a = co_await sem.scoped();
      auto b = co_await sem.scoped();
      EXPECT_TRUE(sem.locked());
    }
    EXPECT_FALSE(sem.locked());
  };
  loop->run_until_complete(body());
}

TEST_F(LocksTest, SemaphoreWaiterWokenThenCancelledKeepsTheCount) {
  auto body = [&]() -> Coro<void> {
    asyncio::Semaphore sem(1);
    std::vector<int> order;
    co_await sem.acquire();
    auto a = asyncio::create_task(take_turn(sem, 1, order));
    co_await asyncio::sleep(0s);
    sem.release();  // the permit goes to a ...
    a.cancel();     // ... cancelled before it runs: the permit comes back
    co_await asyncio::gather(asyncio::return_exceptions, a);
    EXPECT_TRUE(a.cancelled());
    EXPECT_FALSE(sem.locked());
    co_await sem.acquire();
    EXPECT_TRUE(sem.locked());
    sem.release();
  };
  loop->run_until_complete(body());
}

TEST_F(LocksTest, SemaphorePermitsAreConservedUnderCancellations) {
  auto body = [&]() -> Coro<void> {
    asyncio::Semaphore sem(3);
    int inside = 0, max_inside = 0, finished = 0;
    auto worker = [&]() -> Coro<void> {
      auto held = co_await sem.scoped();
      max_inside = std::max(max_inside, ++inside);
      struct Leave {
        int& inside;
        ~Leave() { --inside; }
      } leave{inside};  // also when cancelled in the sleep
      co_await asyncio::sleep(0s);
      ++finished;
    };
    std::vector<Task<void>> tasks;
    for (int i = 0; i < 30; ++i) tasks.push_back(asyncio::create_task(worker()));
    for (int round = 0; round < 6; ++round) {
      co_await asyncio::sleep(0s);
      for (int i = round; i < 30; i += 7) tasks[i].cancel();
    }
    co_await asyncio::gather(asyncio::return_exceptions, tasks);
    int cancelled = 0;
    for (auto& t : tasks) cancelled += t.cancelled();
    EXPECT_EQ(finished + cancelled, 30);
    EXPECT_LE(max_inside, 3);
    for (int i = 0; i < 3; ++i) co_await sem.acquire();  // all three permits are back
    EXPECT_TRUE(sem.locked());
  };
  loop->run_until_complete(body());
}

TEST_F(LocksTest, BoundedSemaphoreRejectsAnExtraRelease) {
  auto body = [&]() -> Coro<void> {
    asyncio::BoundedSemaphore sem(1);
    EXPECT_THROW(sem.release(), std::invalid_argument);
    asyncio::Semaphore& as_semaphore = sem;  // the bound holds through the base class too
    EXPECT_THROW(as_semaphore.release(), std::invalid_argument);
    {
      auto held = co_await sem.scoped();
      EXPECT_TRUE(sem.locked());
    }
    EXPECT_FALSE(sem.locked());
  };
  loop->run_until_complete(body());
}

// --- Barrier ---

TEST_F(LocksTest, BarrierReleasesEveryPartyTogetherAndIsReusable) {
  EXPECT_THROW(asyncio::Barrier(0), std::invalid_argument);
  EXPECT_THROW(asyncio::Barrier(-4), std::invalid_argument);
  auto body = [&]() -> Coro<void> {
    asyncio::Barrier barrier(3);
    std::vector<std::size_t> indices;
    int passed = 0;
    auto party = [&]() -> Coro<void> {
      for (int round = 0; round < 2; ++round) {
        std::size_t index = co_await barrier.wait();
        indices.push_back(index);
        ++passed;
      }
    };
    auto a = asyncio::create_task(party());
    auto b = asyncio::create_task(party());
    co_await asyncio::sleep(0s);
    EXPECT_EQ(barrier.n_waiting(), 2u);
    EXPECT_EQ(passed, 0);
    auto c = asyncio::create_task(party());
    co_await asyncio::gather(a, b, c);
    EXPECT_EQ(passed, 6);
    std::sort(indices.begin(), indices.end());
    EXPECT_EQ(indices, (std::vector<std::size_t>{0, 0, 1, 1, 2, 2}));
    EXPECT_EQ(barrier.n_waiting(), 0u);
    EXPECT_FALSE(barrier.broken());
  };
  loop->run_until_complete(body());
}

TEST_F(LocksTest, BarrierAbortAndReset) {
  auto body = [&]() -> Coro<void> {
    asyncio::Barrier barrier(3);
    auto wait = [&]() -> Coro<std::size_t> { co_return co_await barrier.wait(); };
    auto a = asyncio::create_task(wait());
    co_await asyncio::sleep(0s);
    barrier.reset();
    co_await asyncio::gather(asyncio::return_exceptions, a);
    EXPECT_EQ(outcome(a), "Barrier aborted");
    EXPECT_FALSE(barrier.broken());

    auto b = asyncio::create_task(wait());
    co_await asyncio::sleep(0s);
    co_await barrier.abort();  // Python's `await barrier.abort()`
    co_await asyncio::gather(asyncio::return_exceptions, b);
    EXPECT_EQ(outcome(b), "Barrier aborted");
    EXPECT_TRUE(barrier.broken());
    EXPECT_THROW(co_await barrier.wait(), asyncio::BrokenBarrierError);
    co_await barrier.reset();
    EXPECT_FALSE(barrier.broken());
  };
  loop->run_until_complete(body());
}

TEST_F(LocksTest, BarrierPartyCancelledWhileWaitingLeavesWithoutBreakingIt) {
  auto body = [&]() -> Coro<void> {
    asyncio::Barrier barrier(2);
    auto wait = [&]() -> Coro<std::size_t> { co_return co_await barrier.wait(); };
    auto a = asyncio::create_task(wait());
    co_await asyncio::sleep(0s);
    a.cancel();
    co_await asyncio::gather(asyncio::return_exceptions, a);
    EXPECT_TRUE(a.cancelled());
    EXPECT_EQ(barrier.n_waiting(), 0u);
    auto b = asyncio::create_task(wait());
    auto c = asyncio::create_task(wait());
    auto [i, j] = co_await asyncio::gather(b, c);
    EXPECT_EQ(i + j, 1u);
  };
  loop->run_until_complete(body());
}

// --- CPython 3.13's own cases (test_locks.py), ported ---

TEST_F(LocksTest, ConditionNotifiedTaskCancelledWhileReacquiringPassesTheNotificationOn) {
  // CPython's test_cancelled_wakeup_relock: the notified task is cancelled while it waits for
  // the lock again; its notification must reach the other consumer.
  auto body = [&]() -> Coro<void> {
    asyncio::Condition condition;
    int state = 0;
    auto consumer = [&]() -> Coro<void> {
      auto held = co_await condition.scoped();
      for (;;) {
        co_await condition.wait_for([&] { return state != 0; });
        if (state < 0) co_return;
        state -= 1;
      }
    };
    auto c0 = asyncio::create_task(consumer());
    auto c1 = asyncio::create_task(consumer());
    co_await asyncio::sleep(0s);
    {
      auto held = co_await condition.scoped();
      state += 1;
      condition.notify(1);
      co_await asyncio::sleep(0s);  // c0 wakes up and waits for the lock again
      c0.cancel();
      try {
        co_await asyncio::timeout(10ms, condition.wait_for([&] { return state == 0; }));
      } catch (const asyncio::TimeoutError&) {
      }
      EXPECT_EQ(state, 0);  // c1 consumed the item
      state = -1;
      condition.notify_all();
    }
    co_await c1;
    co_await asyncio::gather(asyncio::return_exceptions, c0);
    EXPECT_TRUE(c0.cancelled());
  };
  loop->run_until_complete(body());
}

TEST_F(LocksTest, SemaphoreReleaseThenReacquireDoesNotJumpAheadOfWokenTasks) {
  // CPython's test_acquire_fifo_order_2.
  auto body = [&]() -> Coro<std::vector<int>> {
    asyncio::Semaphore sem(1);
    std::vector<int> result;
    auto c1 = [&]() -> Coro<void> {
      co_await sem.acquire();
      result.push_back(1);
    };
    auto c2 = [&]() -> Coro<void> {
      co_await sem.acquire();
      result.push_back(2);
      sem.release();
      co_await sem.acquire();
      result.push_back(4);
    };
    auto c3 = [&]() -> Coro<void> {
      co_await sem.acquire();
      result.push_back(3);
    };
    auto t1 = asyncio::create_task(c1());
    auto t2 = asyncio::create_task(c2());
    auto t3 = asyncio::create_task(c3());
    co_await asyncio::sleep(0s);
    sem.release();
    sem.release();
    co_await asyncio::gather(t1, t2, t3);
    co_return result;
  };
  EXPECT_EQ(loop->run_until_complete(body()), (std::vector<int>{1, 2, 3, 4}));
}

TEST_F(LocksTest, SemaphoreCancelledWaiterIsSkipped) {
  // CPython's test_acquire_fifo_order_3.
  auto body = [&]() -> Coro<std::vector<int>> {
    asyncio::Semaphore sem(0);
    std::vector<int> result;
    auto c = [&](int id) -> Coro<void> {
      co_await sem.acquire();
      result.push_back(id);
    };
    auto t1 = asyncio::create_task(c(1));
    auto t2 = asyncio::create_task(c(2));
    auto t3 = asyncio::create_task(c(3));
    co_await asyncio::sleep(0s);
    t1.cancel();
    co_await asyncio::sleep(0s);
    sem.release();
    sem.release();
    co_await asyncio::gather(asyncio::return_exceptions, t1, t2, t3);
    co_return result;
  };
  EXPECT_EQ(loop->run_until_complete(body()), (std::vector<int>{2, 3}));
}

TEST_F(LocksTest, SemaphoreAcquireWakesTheTasksThatQueuedBehindWokenOnes) {
  // CPython's test_acquire_fifo_order_4.
  auto body = [&]() -> Coro<std::vector<int>> {
    asyncio::Semaphore sem(0);
    std::vector<int> result;
    std::optional<Task<void>> t4;
    auto c4 = [&]() -> Coro<void> {
      result.push_back(4);
      co_return;
    };
    auto c1 = [&]() -> Coro<void> {
      co_await sem.acquire();
      t4 = asyncio::create_task(c4());  // runs after c3, not c2
      result.push_back(1);
    };
    auto c2 = [&]() -> Coro<void> {
      sem.release();
      sem.release();
      sem.release();
      EXPECT_TRUE(sem.locked());  // c1 has not run yet
      co_await sem.acquire();
      result.push_back(2);
    };
    auto c3 = [&]() -> Coro<void> {
      co_await sem.acquire();
      EXPECT_TRUE(sem.locked());
      result.push_back(3);
    };
    auto t1 = asyncio::create_task(c1());
    auto t2 = asyncio::create_task(c2());
    auto t3 = asyncio::create_task(c3());
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(0s);
    co_await asyncio::gather(t1, t2, t3);
    co_await *t4;
    co_return result;
  };
  EXPECT_EQ(loop->run_until_complete(body()), (std::vector<int>{1, 2, 3, 4}));
}

TEST_F(LocksTest, SemaphoreWaiterCancelledBeforeTheReleaseDoesNotHang) {
  // CPython's test_acquire_hang and test_acquire_cancel_before_awoken.
  auto body = [&]() -> Coro<void> {
    asyncio::Semaphore sem(0);
    auto acquire = [&]() -> Coro<void> { co_await sem.acquire(); };
    auto t1 = asyncio::create_task(acquire());
    auto t2 = asyncio::create_task(acquire());
    auto t3 = asyncio::create_task(acquire());
    co_await asyncio::sleep(0s);
    t1.cancel();
    sem.release();
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(0s);
    EXPECT_TRUE(sem.locked());
    EXPECT_TRUE(t2.done());
    EXPECT_FALSE(t3.done());
    t3.cancel();
    co_await asyncio::gather(asyncio::return_exceptions, t1, t2, t3);
  };
  loop->run_until_complete(body());
}

}  // namespace

namespace {

// --- waiters(): how many tasks wait and have not been woken yet ---

TEST_F(LocksTest, WaiterCountsFollowWaitingWakingAndCancelling) {
  auto body = [&]() -> Coro<void> {
    asyncio::Lock lock;
    asyncio::Semaphore sem(0);
    asyncio::Event event;
    asyncio::Condition cond;
    co_await lock.acquire();
    auto acquire = [](auto& p) -> Coro<void> {
      co_await p.acquire();
      p.release();
    };
    auto wait_event = [&]() -> Coro<void> { co_await event.wait(); };
    auto wait_cond = [&]() -> Coro<void> {
      auto held = co_await cond.scoped();
      co_await cond.wait();
    };
    std::vector<Task<void>> tasks;
    for (int i = 0; i < 3; ++i) {
      tasks.push_back(asyncio::create_task(acquire(lock)));
      tasks.push_back(asyncio::create_task(acquire(sem)));
      tasks.push_back(asyncio::create_task(wait_event()));
      tasks.push_back(asyncio::create_task(wait_cond()));
    }
    EXPECT_EQ(lock.waiters(), 0u);  // the tasks have not run yet
    co_await asyncio::sleep(0s);
    EXPECT_EQ(lock.waiters(), 3u);
    EXPECT_EQ(sem.waiters(), 3u);
    EXPECT_EQ(event.waiters(), 3u);
    EXPECT_EQ(cond.waiters(), 3u);

    lock.release();  // handed to the first waiter: it no longer counts
    EXPECT_EQ(lock.waiters(), 2u);
    sem.release();
    EXPECT_EQ(sem.waiters(), 2u);
    tasks[4 * 2 + 1].cancel();  // the third semaphore waiter leaves at once
    EXPECT_EQ(sem.waiters(), 1u);
    {
      auto held = co_await cond.scoped();
      cond.notify(2);
      EXPECT_EQ(cond.waiters(), 1u);
      cond.notify_all();
      EXPECT_EQ(cond.waiters(), 0u);
    }
    event.set();
    EXPECT_EQ(event.waiters(), 0u);
    sem.release();
    sem.release();
    co_await asyncio::gather(asyncio::return_exceptions, tasks);
    EXPECT_EQ(lock.waiters(), 0u);
    EXPECT_EQ(sem.waiters(), 0u);
  };
  run(body());
}

}  // namespace
