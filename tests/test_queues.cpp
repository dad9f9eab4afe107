// Queue, LifoQueue and PriorityQueue: ordering, maxsize, the _nowait errors, FIFO order of
// waiting getters and putters, task_done/join, shutdown, move-only items, and the cancellation
// races CPython fixed (a getter or putter woken, then cancelled before it ran).
#include <algorithm>
#include <memory>
#include <numeric>
#include <stdexcept>

#include "support/asyncio_test.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio::Queue;
using asyncio::Task;
using asyncio_test::outcome;

namespace {

struct QueuesTest : asyncio_test::LoopFixture {};

template <class Q>
Coro<typename Q::value_type> get_one(Q& q) {
  co_return co_await q.get();
}

template <class Q>
Coro<void> put_one(Q& q, typename Q::value_type item) {
  co_await q.put(std::move(item));
}

TEST_F(QueuesTest, NowaitOrderAndSizes) {
  auto body = [&]() -> Coro<void> {
    Queue<int> fifo(3);
    EXPECT_EQ(fifo.maxsize(), 3u);
    EXPECT_TRUE(fifo.empty());
    for (int i : {1, 2, 3}) fifo.put_nowait(i);
    EXPECT_TRUE(fifo.full());
    EXPECT_EQ(fifo.qsize(), 3u);
    EXPECT_THROW(fifo.put_nowait(4), asyncio::QueueFull);
    EXPECT_EQ(fifo.get_nowait(), 1);
    EXPECT_EQ(fifo.get_nowait(), 2);
    EXPECT_EQ(fifo.get_nowait(), 3);
    EXPECT_THROW(fifo.get_nowait(), asyncio::QueueEmpty);

    asyncio::LifoQueue<int> lifo;
    for (int i : {1, 2, 3}) lifo.put_nowait(i);
    EXPECT_FALSE(lifo.full());  // maxsize 0: never full
    EXPECT_EQ(lifo.get_nowait(), 3);
    EXPECT_EQ(lifo.get_nowait(), 2);

    asyncio::PriorityQueue<std::pair<int, std::string>> prio;
    prio.put_nowait({3, "c"});
    prio.put_nowait({1, "a"});
    prio.put_nowait({2, "b"});
    EXPECT_EQ(prio.get_nowait().second, "a");
    EXPECT_EQ(prio.get_nowait().second, "b");
    EXPECT_EQ(prio.get_nowait().second, "c");

    asyncio::PriorityQueue<int, std::greater<int>> highest_first;
    for (int i : {2, 9, 4}) highest_first.put_nowait(i);
    EXPECT_EQ(highest_first.get_nowait(), 9);
    co_return;
  };
  loop->run_until_complete(body());
}

TEST_F(QueuesTest, RingBufferKeepsFifoOrderAcrossGrowthAndWrapAround) {
  auto body = [&]() -> Coro<void> {
    Queue<int> q;
    int next_in = 0, next_out = 0;
    for (int round = 0; round < 50; ++round) {
      for (int i = 0; i < round % 13 + 1; ++i) q.put_nowait(next_in++);
      for (int i = 0; i < round % 7 + 1 && !q.empty(); ++i) EXPECT_EQ(q.get_nowait(), next_out++);
    }
    while (!q.empty()) EXPECT_EQ(q.get_nowait(), next_out++);
    EXPECT_EQ(next_in, next_out);
    co_return;
  };
  loop->run_until_complete(body());
}

TEST_F(QueuesTest, GettersWaitAndAreServedInFifoOrder) {
  auto body = [&]() -> Coro<void> {
    Queue<int> q;
    std::vector<Task<int>> getters;
    for (int i = 0; i < 3; ++i) getters.push_back(asyncio::create_task(get_one(q)));
    co_await asyncio::sleep(0s);  // all three wait, in creation order
    EXPECT_FALSE(getters[0].done());
    for (int i : {10, 20, 30}) q.put_nowait(i);
    std::vector<int> got = co_await asyncio::gather(getters);
    EXPECT_EQ(got, (std::vector<int>{10, 20, 30}));
  };
  loop->run_until_complete(body());
}

TEST_F(QueuesTest, WaitingGettersAndPuttersAreCountedUntilServed) {
  auto body = [&]() -> Coro<void> {
    Queue<int> q(1);
    std::vector<Task<int>> getters;
    for (int i = 0; i < 3; ++i) getters.push_back(asyncio::create_task(get_one(q)));
    co_await asyncio::sleep(0s);
    EXPECT_EQ(q.waiting_getters(), 3u);
    EXPECT_EQ(q.waiting_putters(), 0u);
    q.put_nowait(1);  // wakes the first getter
    EXPECT_EQ(q.waiting_getters(), 2u);
    getters[2].cancel();
    co_await asyncio::sleep(0s);
    EXPECT_EQ(q.waiting_getters(), 1u);
    q.put_nowait(2);
    co_await asyncio::gather(getters[0], getters[1]);
    EXPECT_EQ(q.waiting_getters(), 0u);

    q.put_nowait(3);  // full
    std::vector<Task<void>> putters;
    for (int i = 0; i < 2; ++i) putters.push_back(asyncio::create_task(put_one(q, i)));
    co_await asyncio::sleep(0s);
    EXPECT_EQ(q.waiting_putters(), 2u);
    EXPECT_EQ(q.get_nowait(), 3);  // wakes the first putter
    EXPECT_EQ(q.waiting_putters(), 1u);
    EXPECT_EQ(co_await q.get(), 0);
    EXPECT_EQ(co_await q.get(), 1);
    co_await asyncio::gather(putters);
    EXPECT_EQ(q.waiting_putters(), 0u);
  };
  loop->run_until_complete(body());
}

TEST_F(QueuesTest, PuttersWaitWhileFullAndAreServedInFifoOrder) {
  auto body = [&]() -> Coro<void> {
    Queue<int> q(1);
    q.put_nowait(0);
    std::vector<Task<void>> putters;
    for (int i = 1; i <= 3; ++i) putters.push_back(asyncio::create_task(put_one(q, i)));
    co_await asyncio::sleep(0s);
    EXPECT_FALSE(putters[0].done());
    std::vector<int> got;
    for (int i = 0; i < 4; ++i) got.push_back(co_await q.get());
    EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3}));
    co_await asyncio::gather(putters);
    EXPECT_TRUE(q.empty());
  };
  loop->run_until_complete(body());
}

// Python's Queue.get waits while the queue is empty and then takes an item; a getter woken by
// put_nowait takes nothing until it runs, so the item is anybody's until then.
TEST_F(QueuesTest, AnItemPutForAWokenGetterIsTakenByGetNowaitAndTheGetterWaitsAgain) {
  auto body = [&]() -> Coro<void> {
    Queue<int> q;
    auto waiting = asyncio::create_task(get_one(q));
    co_await asyncio::sleep(0s);
    q.put_nowait(1);  // wakes `waiting`, which has not run yet
    EXPECT_EQ(q.qsize(), 1u);
    EXPECT_EQ(q.waiting_getters(), 0u);
    EXPECT_EQ(q.get_nowait(), 1);
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(q.waiting_getters(), 1u);  // waiting again
    co_await asyncio::sleep(0s);         // its step came and went
    co_await asyncio::sleep(0s);
    EXPECT_FALSE(waiting.done());
    EXPECT_EQ(q.waiting_getters(), 1u);
    q.put_nowait(2);
    const int got = co_await waiting;
    EXPECT_EQ(got, 2);
    EXPECT_TRUE(q.empty());
  };
  loop->run_until_complete(body());
}

TEST_F(QueuesTest, AGetThatNeedNotWaitTakesTheItemBeforeAWokenGetter) {
  auto body = [&]() -> Coro<void> {
    Queue<int> q;
    auto first = asyncio::create_task(get_one(q));
    auto second = asyncio::create_task(get_one(q));
    co_await asyncio::sleep(0s);
    q.put_nowait(1);                    // wakes `first`
    q.put_nowait(2);                    // wakes `second`
    const int mine = co_await q.get();  // the queue is not empty: no wait
    EXPECT_EQ(mine, 1);
    const int firsts = co_await first;  // woken first, so it kept its wake-up
    EXPECT_EQ(firsts, 2);
    EXPECT_FALSE(second.done());  // the wake-up given last was taken back
    EXPECT_EQ(q.waiting_getters(), 1u);
    q.put_nowait(3);
    const int seconds = co_await second;
    EXPECT_EQ(seconds, 3);
  };
  loop->run_until_complete(body());
}

TEST_F(QueuesTest, ASlotFreedForAWokenPutterIsTakenByPutNowaitAndThePutterWaitsAgain) {
  auto body = [&]() -> Coro<void> {
    Queue<int> q(1);
    q.put_nowait(0);
    auto putter = asyncio::create_task(put_one(q, 1));
    co_await asyncio::sleep(0s);
    EXPECT_EQ(q.get_nowait(), 0);  // wakes `putter`, which has not run yet
    EXPECT_FALSE(q.full());
    q.put_nowait(9);  // Python's: the queue is not full, so the put is taken
    EXPECT_TRUE(q.full());
    EXPECT_THROW(q.put_nowait(10), asyncio::QueueFull);
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(0s);
    EXPECT_FALSE(putter.done());
    EXPECT_EQ(q.waiting_putters(), 1u);
    EXPECT_EQ(q.get_nowait(), 9);
    co_await putter;
    EXPECT_EQ(q.get_nowait(), 1);
  };
  loop->run_until_complete(body());
}

TEST_F(QueuesTest, AWokenGetterCancelledBeforeItsItemWasTakenRaisesCancelledError) {
  auto body = [&]() -> Coro<void> {
    Queue<int> q;
    auto woken = asyncio::create_task(get_one(q));
    co_await asyncio::sleep(0s);
    q.put_nowait(1);
    woken.cancel("first");
    EXPECT_EQ(q.get_nowait(), 1);
    EXPECT_EQ(woken.uncancel(), 0u);  // too late to withdraw: its wait was given up
    co_await asyncio::gather(asyncio::return_exceptions, woken);
    EXPECT_TRUE(woken.cancelled());
    EXPECT_EQ(q.waiting_getters(), 0u);
    q.put_nowait(2);  // nobody to wake: the item stays
    EXPECT_EQ(q.get_nowait(), 2);
  };
  loop->run_until_complete(body());
}

TEST_F(QueuesTest, AGetterWaitingAgainIsCancelledBeforeItsWithdrawnStepCame) {
  auto body = [&]() -> Coro<void> {
    Queue<int> q;
    auto getter = asyncio::create_task(get_one(q));
    co_await asyncio::sleep(0s);
    q.put_nowait(1);
    EXPECT_EQ(q.get_nowait(), 1);  // `getter` waits again; its step is still on the ready queue
    getter.cancel();
    co_await asyncio::gather(asyncio::return_exceptions, getter);
    EXPECT_TRUE(getter.cancelled());
    EXPECT_EQ(q.waiting_getters(), 0u);
    q.put_nowait(2);
    EXPECT_EQ(q.get_nowait(), 2);
  };
  loop->run_until_complete(body());
}

TEST_F(QueuesTest, MoveOnlyItemsThroughWaitingPutsAndGets) {
  auto body = [&]() -> Coro<void> {
    Queue<std::unique_ptr<int>> q(1);
    auto consumer = asyncio::create_task(get_one(q));
    co_await asyncio::sleep(0s);
    co_await q.put(std::make_unique<int>(1));  // the getter waits: slot free, no suspension
    co_await q.put(std::make_unique<int>(2));  // full until the consumer ran: waits
    std::unique_ptr<int> a = co_await std::move(consumer);
    std::unique_ptr<int> b = co_await q.get();
    EXPECT_EQ(*a, 1);
    EXPECT_EQ(*b, 2);
    q.put_nowait(std::make_unique<int>(3));  // destroyed with the queue
  };
  loop->run_until_complete(body());
}

TEST_F(QueuesTest, TaskDoneAndJoin) {
  auto body = [&]() -> Coro<void> {
    Queue<int> q;
    EXPECT_THROW(q.task_done(), std::invalid_argument);
    co_await q.join();  // nothing unfinished: returns at once
    q.put_nowait(1);
    q.put_nowait(2);
    bool joined = false;
    auto join_then_flag = [&]() -> Coro<void> {
      co_await q.join();
      joined = true;
    };
    auto joiner = asyncio::create_task(join_then_flag());
    co_await asyncio::sleep(0s);
    q.get_nowait();
    q.task_done();
    co_await asyncio::sleep(0s);
    EXPECT_FALSE(joined);
    q.get_nowait();
    q.task_done();
    co_await joiner;
    EXPECT_TRUE(joined);
    EXPECT_THROW(q.task_done(), std::invalid_argument);
  };
  loop->run_until_complete(body());
}

// Python's Queue.join() is a coroutine: whether it waits is decided when it runs.
TEST_F(QueuesTest, JoinDecidesWhenAwaitedNotWhenMade) {
  auto body = [&]() -> Coro<void> {
    Queue<int> q;
    q.put_nowait(1);
    auto in_gather = asyncio::gather(q.join());  // its task runs after the task_done()
    q.get_nowait();
    q.task_done();
    co_await asyncio::wait_for(std::move(in_gather), 5s);

    auto made_when_done = q.join();
    q.put_nowait(2);
    EXPECT_THROW(co_await asyncio::wait_for(std::move(made_when_done), 10ms),
                 asyncio::TimeoutError);
    q.get_nowait();
    q.task_done();
  };
  loop->run_until_complete(body());
}

// --- cancellation races (CPython bpo-23812 and its putter twin) ---

TEST_F(QueuesTest, GetterWokenThenCancelledBeforeRunningPassesTheItemOn) {
  auto body = [&]() -> Coro<void> {
    Queue<int> q;
    auto a = asyncio::create_task(get_one(q));
    auto b = asyncio::create_task(get_one(q));
    co_await asyncio::sleep(0s);
    q.put_nowait(7);  // wakes a ...
    a.cancel();       // ... which is cancelled before it runs
    int got = co_await b;
    EXPECT_EQ(got, 7);
    EXPECT_TRUE(a.cancelled());
    EXPECT_TRUE(q.empty());
  };
  loop->run_until_complete(body());
}

TEST_F(QueuesTest, GetterWokenThenCancelledWithNobodyElseLeavesTheItemInTheQueue) {
  auto body = [&]() -> Coro<void> {
    Queue<int> q;
    auto a = asyncio::create_task(get_one(q));
    co_await asyncio::sleep(0s);
    q.put_nowait(7);
    a.cancel();
    co_await asyncio::gather(asyncio::return_exceptions, a);
    EXPECT_TRUE(a.cancelled());
    EXPECT_EQ(q.qsize(), 1u);
    EXPECT_EQ(q.get_nowait(), 7);
  };
  loop->run_until_complete(body());
}

TEST_F(QueuesTest, PutterWokenThenCancelledBeforeRunningPassesTheSlotOn) {
  auto body = [&]() -> Coro<void> {
    Queue<int> q(1);
    q.put_nowait(0);
    auto a = asyncio::create_task(put_one(q, 1));
    auto b = asyncio::create_task(put_one(q, 2));
    co_await asyncio::sleep(0s);
    EXPECT_EQ(q.get_nowait(), 0);  // wakes a with the free slot ...
    a.cancel();                    // ... cancelled before it ran
    co_await b;
    EXPECT_TRUE(a.cancelled());
    EXPECT_EQ(q.get_nowait(), 2);
  };
  loop->run_until_complete(body());
}

TEST_F(QueuesTest, CancelledWaitingGetterLeavesTheLineAndIsNotWokenLater) {
  auto body = [&]() -> Coro<void> {
    Queue<int> q;
    auto a = asyncio::create_task(get_one(q));
    auto b = asyncio::create_task(get_one(q));
    co_await asyncio::sleep(0s);
    a.cancel();
    a.cancel();  // a second cancel wakes nobody twice
    co_await asyncio::sleep(0s);
    EXPECT_TRUE(a.cancelled());
    q.put_nowait(5);
    int got = co_await b;
    EXPECT_EQ(got, 5);
  };
  loop->run_until_complete(body());
}

TEST_F(QueuesTest, EveryItemReachesExactlyOneGetterUnderRandomCancellations) {
  auto body = [&]() -> Coro<void> {
    Queue<int> q;
    std::vector<Task<int>> getters;
    for (int i = 0; i < 40; ++i) getters.push_back(asyncio::create_task(get_one(q)));
    co_await asyncio::sleep(0s);
    for (int i = 0; i < 30; ++i) {
      q.put_nowait(i);
      if (i % 3 == 0) getters[i].cancel();  // some woken, some still waiting
      if (i % 4 == 1) getters[39 - i].cancel();
    }
    auto outcomes = co_await asyncio::gather(asyncio::return_exceptions, getters);
    std::vector<int> received;
    for (auto& o : outcomes) {
      if (o.has_value()) received.push_back(o.value());
    }
    while (!q.empty()) received.push_back(q.get_nowait());
    std::sort(received.begin(), received.end());
    std::vector<int> expected(30);
    std::iota(expected.begin(), expected.end(), 0);
    EXPECT_EQ(received, expected);
    for (auto& t : getters) {
      if (!t.done()) t.cancel();
    }
  };
  loop->run_until_complete(body());
}

TEST_F(QueuesTest, EveryItemReachesExactlyOneTakerUnderCancellationsAndItemsTakenFirst) {
  auto body = [&]() -> Coro<void> {
    Queue<int> q;
    std::vector<Task<int>> getters;
    for (int i = 0; i < 40; ++i) getters.push_back(asyncio::create_task(get_one(q)));
    co_await asyncio::sleep(0s);
    std::vector<int> received;
    for (int i = 0; i < 60; ++i) {
      q.put_nowait(i);
      if (i % 3 == 0) getters[i % 40].cancel();
      if (i % 5 == 2) received.push_back(q.get_nowait());
      if (i % 7 == 3) co_await asyncio::sleep(0s);  // some woken getters run, some do not
    }
    while (!q.empty()) received.push_back(q.get_nowait());
    for (auto& t : getters) {
      if (!t.done()) t.cancel();
    }
    auto outcomes = co_await asyncio::gather(asyncio::return_exceptions, getters);
    for (auto& o : outcomes) {
      if (o.has_value()) received.push_back(o.value());
    }
    while (!q.empty()) received.push_back(q.get_nowait());
    std::sort(received.begin(), received.end());
    std::vector<int> expected(60);
    std::iota(expected.begin(), expected.end(), 0);
    EXPECT_EQ(received, expected);
  };
  loop->run_until_complete(body());
}

// --- shutdown (Python 3.13) ---

TEST_F(QueuesTest, ShutdownLetsGettersDrainThenRaises) {
  auto body = [&]() -> Coro<void> {
    Queue<int> q(1);
    q.put_nowait(1);
    auto blocked_putter = asyncio::create_task(put_one(q, 2));
    co_await asyncio::sleep(0s);
    q.shutdown();
    co_await asyncio::gather(asyncio::return_exceptions, blocked_putter);
    EXPECT_EQ(outcome(blocked_putter), "QueueShutDown");
    EXPECT_THROW(q.put_nowait(3), asyncio::QueueShutDown);
    int got = co_await q.get();  // what was put before shutdown is still delivered
    EXPECT_EQ(got, 1);
    EXPECT_THROW(q.get_nowait(), asyncio::QueueShutDown);
    auto late_getter = asyncio::create_task(get_one(q));
    co_await asyncio::gather(asyncio::return_exceptions, late_getter);
    EXPECT_EQ(outcome(late_getter), "QueueShutDown");
  };
  loop->run_until_complete(body());
}

TEST_F(QueuesTest, ShutdownWakesWaitingGetters) {
  auto body = [&]() -> Coro<void> {
    Queue<int> q;
    auto a = asyncio::create_task(get_one(q));
    auto b = asyncio::create_task(get_one(q));
    co_await asyncio::sleep(0s);
    q.shutdown();
    co_await asyncio::gather(asyncio::return_exceptions, a, b);
    EXPECT_EQ(outcome(a), "QueueShutDown");
    EXPECT_EQ(outcome(b), "QueueShutDown");
  };
  loop->run_until_complete(body());
}

TEST_F(QueuesTest, ImmediateShutdownDropsItemsAndReleasesJoin) {
  auto body = [&]() -> Coro<void> {
    Queue<int> q;
    q.put_nowait(1);
    q.put_nowait(2);
    auto join = [&]() -> Coro<void> { co_await q.join(); };
    auto joiner = asyncio::create_task(join());
    co_await asyncio::sleep(0s);
    EXPECT_FALSE(joiner.done());
    q.shutdown(true);
    EXPECT_TRUE(q.empty());
    co_await joiner;  // the dropped items count as processed
    EXPECT_THROW(q.get_nowait(), asyncio::QueueShutDown);
    EXPECT_THROW(q.task_done(), std::invalid_argument);
  };
  loop->run_until_complete(body());
}

TEST_F(QueuesTest, ImmediateShutdownVoidsTheItemPromisedToAWokenGetter) {
  auto body = [&]() -> Coro<void> {
    Queue<int> q;
    auto woken = asyncio::create_task(get_one(q));
    co_await asyncio::sleep(0s);
    q.put_nowait(1);  // wakes `woken`, which has not run yet
    q.shutdown(true);
    co_await asyncio::gather(asyncio::return_exceptions, woken);
    EXPECT_EQ(outcome(woken), "QueueShutDown");
  };
  loop->run_until_complete(body());
}

// --- destroying a queue that tasks wait on ---

TEST_F(QueuesTest, DestroyingAQueueWithWaitersIsReportedAndTheyRaise) {
  auto body = [&]() -> Coro<void> {
    auto q = std::make_unique<Queue<int>>();
    auto a = asyncio::create_task(get_one(*q));
    co_await asyncio::sleep(0s);
    q.reset();
    co_await asyncio::gather(asyncio::return_exceptions, a);
    EXPECT_EQ(outcome(a), "Queue was destroyed while a task waited on it");
  };
  loop->run_until_complete(body());
  EXPECT_EQ(reported("Queue was destroyed while 1 task was waiting on it"), 1u);
}

TEST_F(QueuesTest, ProducersAndConsumersHandEveryItemOverOnce) {
  constexpr int producers = 3, consumers = 4, per_producer = 500;
  std::vector<int> seen(producers * per_producer, 0);
  auto body = [&]() -> Coro<void> {
    Queue<int> q(8);
    auto producer = [&](int id) -> Coro<void> {
      for (int i = 0; i < per_producer; ++i) {
        co_await q.put(id * per_producer + i);
        if (i % 7 == 0) co_await asyncio::sleep(0s);
      }
    };
    auto consumer = [&]() -> Coro<void> {
      for (;;) {
        int item = co_await q.get();
        ++seen[item];
        q.task_done();
      }
    };
    std::vector<Task<void>> workers;
    for (int i = 0; i < consumers; ++i) workers.push_back(asyncio::create_task(consumer()));
    std::vector<Coro<void>> ps;
    for (int i = 0; i < producers; ++i) ps.push_back(producer(i));
    co_await asyncio::gather(ps);
    co_await q.join();
    for (auto& w : workers) w.cancel();
    co_await asyncio::gather(asyncio::return_exceptions, workers);
  };
  loop->run_until_complete(body());
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), producers * per_producer);
}

}  // namespace
