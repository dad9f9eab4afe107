// Channel<T>: the nowait calls, tasks waiting for items and room, blocked threads, close()
// waking every waiter, a woken getter's reservation handed on when it is cancelled, a burst
// drained after one wake-up, misuse, and many loops and threads passing 10^6 items with none
// lost or duplicated and each producer's order kept.
#include <atomic>
#include <latch>
#include <thread>
#include <vector>

#include "support/asyncio_test.hpp"
#include "support/loop_thread.hpp"

using namespace std::chrono_literals;
using asyncio::Channel;
using asyncio::Coro;

namespace {

struct ChannelTest : asyncio_test::LoopFixture {};

using asyncio_test::LoopThread;

Coro<int> get_one(Channel<int> ch) { co_return co_await ch.get(); }

Coro<void> put_all(Channel<int> ch, std::vector<int> items) {
  for (int item : items) co_await ch.put(item);
}

TEST_F(ChannelTest, NowaitCallsKeepOrderAndRaiseQueueFullAndQueueEmpty) {
  Channel<int> ch(2);
  EXPECT_EQ(ch.maxsize(), 2u);
  EXPECT_TRUE(ch.empty());
  EXPECT_THROW(ch.get_nowait(), asyncio::QueueEmpty);
  ch.put_nowait(1);
  ch.put_nowait(2);
  EXPECT_THROW(ch.put_nowait(3), asyncio::QueueFull);
  EXPECT_EQ(ch.qsize(), 2u);
  EXPECT_EQ(ch.get_nowait(), 1);
  EXPECT_EQ(ch.get_nowait(), 2);
  Channel<int> unbounded(0);
  for (int i = 0; i < 1000; ++i) unbounded.put_nowait(i);
  EXPECT_EQ(unbounded.qsize(), 1000u);
}

TEST_F(ChannelTest, TaskWaitsForAnItemFromAPlainThread) {
  Channel<int> ch(1);
  auto getter = loop->create_task(get_one(ch));
  run_iterations(2);
  ASSERT_FALSE(getter.done());
  std::thread producer([ch]() mutable { ch.put_blocking(42); });
  producer.join();
  EXPECT_EQ(run(asyncio::Future<int>(getter)), 42);
}

// wait_for takes a channel's get() and put() as it takes a Queue's: a deadline that passes
// raises TimeoutError and loses nothing; one that does not gives the item.
TEST_F(ChannelTest, GetAndPutMayBeAwaitedWithADeadline) {
  Channel<int> ch(1);
  auto body = [&]() -> Coro<void> {
    bool get_timed_out = false;
    try {
      co_await asyncio::wait_for(ch.get(), 10ms);
    } catch (const asyncio::TimeoutError&) {
      get_timed_out = true;
    }
    EXPECT_TRUE(get_timed_out);
    co_await asyncio::wait_for(ch.put(1), 10s);
    bool put_timed_out = false;
    try {
      co_await asyncio::wait_for(ch.put(2), 10ms);  // full
    } catch (const asyncio::TimeoutError&) {
      put_timed_out = true;
    }
    EXPECT_TRUE(put_timed_out);
    const int got = co_await asyncio::wait_for(ch.get(), 10s);
    EXPECT_EQ(got, 1);
    EXPECT_TRUE(ch.empty());
  };
  run(body());
}

TEST_F(ChannelTest, TaskWaitsForRoomThatAPlainThreadMakes) {
  Channel<int> ch(1);
  auto putter = loop->create_task(put_all(ch, {1, 2, 3}));
  run_iterations(2);
  ASSERT_FALSE(putter.done());
  EXPECT_EQ(ch.qsize(), 1u);
  std::vector<int> got;
  std::thread consumer([ch, &got]() mutable {
    for (int i = 0; i < 3; ++i) got.push_back(ch.get_blocking(30s));
  });
  LoopThread running(*loop);
  consumer.join();
  EXPECT_EQ(got, (std::vector<int>{1, 2, 3}));
}

TEST_F(ChannelTest, CloseWakesEveryWaitingTaskAndThreadWithQueueShutDown) {
  Channel<int> empty(1);
  Channel<int> full(1);
  full.put_nowait(0);
  auto expect_shut_down = [](auto awaitable) -> Coro<std::string> {
    try {
      co_await std::move(awaitable);
    } catch (const asyncio::QueueShutDown& e) {
      co_return e.what();
    }
    co_return "no error";
  };
  std::vector<asyncio::Task<std::string>> tasks;
  for (int i = 0; i < 3; ++i) tasks.push_back(loop->create_task(expect_shut_down(get_one(empty))));
  for (int i = 0; i < 2; ++i)
    tasks.push_back(loop->create_task(expect_shut_down(put_all(full, {i}))));
  run_iterations(2);
  std::atomic<int> threads_woken{0};
  std::latch blocked(2);
  std::thread getter([&, empty]() mutable {
    blocked.count_down();
    try {
      empty.get_blocking(30s);
    } catch (const asyncio::QueueShutDown&) {
      ++threads_woken;
    }
  });
  std::thread putter([&, full]() mutable {
    blocked.count_down();
    try {
      full.put_blocking(9, 30s);
    } catch (const asyncio::QueueShutDown&) {
      ++threads_woken;
    }
  });
  blocked.wait();
  // The threads may not wait yet; they raise QueueShutDown either way.
  empty.close();
  full.close();
  getter.join();
  putter.join();
  EXPECT_EQ(threads_woken, 2);
  for (auto& task : tasks) EXPECT_EQ(run(asyncio::Future<std::string>(task)), "Channel is closed");
  // What was in it is still got, then QueueShutDown.
  EXPECT_EQ(full.get_nowait(), 0);
  EXPECT_THROW(full.get_nowait(), asyncio::QueueShutDown);
  EXPECT_THROW(full.put_nowait(1), asyncio::QueueShutDown);
  EXPECT_TRUE(full.closed());
}

TEST_F(ChannelTest, WokenGetterCancelledBeforeItRunsHandsTheItemOn) {
  Channel<int> ch(4);
  auto first = loop->create_task(get_one(ch));
  auto second = loop->create_task(get_one(ch));
  run_iterations(2);
  ch.put_nowait(7);  // reserved for `first`, whose wake-up is posted
  first.cancel();
  EXPECT_EQ(run(asyncio::Future<int>(second)), 7);
  EXPECT_TRUE(first.cancelled());
  EXPECT_TRUE(ch.empty());
}

TEST_F(ChannelTest, WokenPutterCancelledBeforeItRunsHandsTheRoomOn) {
  Channel<int> ch(1);
  ch.put_nowait(0);
  auto first = loop->create_task(put_all(ch, {1}));
  auto second = loop->create_task(put_all(ch, {2}));
  run_iterations(2);
  EXPECT_EQ(ch.get_nowait(), 0);  // room reserved for `first`
  first.cancel();
  run(asyncio::Future<void>(second));
  EXPECT_TRUE(first.cancelled());
  EXPECT_EQ(ch.get_nowait(), 2);
  EXPECT_TRUE(ch.empty());
}

TEST_F(ChannelTest, FrameDestroyedWhileWokenHandsTheItemOn) {
  Channel<int> ch(4);
  std::unique_ptr<asyncio::EventLoop> other = asyncio::new_event_loop();
  auto lost = other->create_task(get_one(ch));
  other->call_soon([&] { other->stop(); });
  other->run_forever();
  auto kept = loop->create_task(get_one(ch));
  run_iterations(2);
  ch.put_nowait(5);  // reserved for `lost`, on the other loop, which never runs again
  other->close();    // destroys its frame: the reservation passes to `kept`
  EXPECT_EQ(run(asyncio::Future<int>(kept)), 5);
}

TEST_F(ChannelTest, BurstPutWhileTheConsumerWaitsIsDrainedAfterOneWakeUp) {
  Channel<int> ch(64);
  int waits = 0;  // gets that found the channel empty and had to be woken
  auto consumer = [&]() -> Coro<void> {
    for (int i = 0; i < 64; ++i) {
      waits += ch.empty();
      const int item = co_await ch.get();  // (no co_await inside GoogleTest's macros)
      if (item != i) ADD_FAILURE() << "item " << item << " came as number " << i;
    }
  };
  auto task = loop->create_task(consumer());
  run_iterations(2);
  std::thread producer([ch]() mutable {
    for (int i = 0; i < 64; ++i) ch.put_blocking(i);
  });
  producer.join();
  run(asyncio::Future<void>(task));
  // The first item woke the consumer; the other 63 waited for it in the channel.
  EXPECT_EQ(waits, 1);
}

TEST_F(ChannelTest, PutManyWaitsForRoomAndGetManyTakesWhatIsThere) {
  Channel<int> ch(4);
  std::vector<int> got;
  auto consumer = [&]() -> Coro<void> {
    while (got.size() < 10) {
      std::vector<int> batch = co_await ch.get_many(3);
      if (batch.empty() || batch.size() > 3) ADD_FAILURE() << "a batch of " << batch.size();
      got.insert(got.end(), batch.begin(), batch.end());
    }
  };
  auto putting = loop->create_task(ch.put_many({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  run_iterations(2);
  EXPECT_EQ(ch.qsize(), 4u);  // full: the rest waits for room
  EXPECT_FALSE(putting.done());
  run(consumer());
  run(asyncio::Future<void>(putting));
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  ch.close();
  auto after_close = [&]() -> Coro<std::string> {
    try {
      co_await ch.get_many(5);
    } catch (const asyncio::QueueShutDown&) {
      co_return "QueueShutDown";
    }
    co_return "items";
  };
  EXPECT_EQ(run(after_close()), "QueueShutDown");
}

TEST_F(ChannelTest, BlockingCallsOnALoopThreadRaiseRuntimeError) {
  Channel<int> ch(1);
  auto misuse = [&]() -> Coro<std::string> {
    try {
      ch.get_blocking();
    } catch (const asyncio::RuntimeError& e) {
      co_return e.what();
    }
    co_return "blocked";
  };
  EXPECT_NE(run(misuse()).find("would block the event loop"), std::string::npos);
}

TEST_F(ChannelTest, BlockingGetTimesOutAndLosesNothing) {
  Channel<int> ch(1);
  EXPECT_THROW(ch.get_blocking(20ms), asyncio::TimeoutError);
  ch.put_blocking(3, 1s);
  EXPECT_THROW(ch.put_blocking(4, 20ms), asyncio::TimeoutError);
  EXPECT_EQ(ch.get_blocking(1s), 3);
  EXPECT_TRUE(ch.empty());
}

// A loop that busy-polls for 1 us and then sleeps, ping-ponged with a plain thread 20,000
// times: it keeps passing between spinning (posts skip the eventfd) and sleeping (posts must
// write it); a wake-up lost at a passage shows as a 10 s TimeoutError, not a hang.
TEST_F(ChannelTest, BusyPollingLoopLosesNoWakeUpFromAnotherThread) {
  constexpr int rounds = 20'000;
  loop->set_busy_poll(std::chrono::microseconds(1));
  EXPECT_EQ(loop->busy_poll(), std::chrono::microseconds(1));
  Channel<int> there(1), back(1);
  auto echo = [&]() -> Coro<void> {
    for (int i = 0; i < rounds; ++i) co_await back.put(co_await there.get());
  };
  auto task = loop->create_task(echo());
  int answered = 0;
  {
    LoopThread running(*loop);
    for (int i = 0; i < rounds; ++i) {
      there.put_blocking(i, 10s);
      answered += back.get_blocking(10s) == i;
    }
  }
  EXPECT_EQ(answered, rounds);
  EXPECT_TRUE(task.done());
}

// Producers and consumers on 4 loops (2 and 2) and 4 plain threads (2 and 2): 10^6 items, each
// (producer, sequence) got exactly once, and each consumer sees each producer's items in order.
TEST(ChannelThreads, FourLoopsAndFourThreadsPassAMillionItems) {
  constexpr int producers = 4, consumers = 4;
  constexpr int per_producer = 250'000;
  constexpr int total = producers * per_producer;
  Channel<std::int64_t> ch(256);
  std::vector<std::vector<char>> seen(producers, std::vector<char>(per_producer, 0));
  std::atomic<int> duplicates{0}, out_of_order{0}, received{0};
  std::mutex seen_mutex;
  auto record = [&](std::vector<int>& last, std::int64_t item) {
    const int producer = static_cast<int>(item >> 32), seq = static_cast<int>(item & 0xFFFFFFFF);
    if (seq <= last[producer]) ++out_of_order;
    last[producer] = seq;
    std::lock_guard lock(seen_mutex);
    if (seen[producer][seq]++) ++duplicates;
  };
  auto item_of = [](int producer, int seq) {
    return (static_cast<std::int64_t>(producer) << 32) | seq;
  };
  // Consumers stop at a sentinel (-1), one per consumer, put after every producer finished.
  std::atomic<int> producers_left{producers};
  auto producer_done = [&] {
    if (--producers_left == 0) {
      for (int i = 0; i < consumers; ++i) ch.put_blocking(-1);
    }
  };
  asyncio::Shards shards(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {  // plain producers 2 and 3
      for (int seq = 0; seq < per_producer; ++seq) ch.put_blocking(item_of(2 + t, seq));
      producer_done();
    });
    threads.emplace_back([&] {  // plain consumers
      std::vector<int> last(producers, -1);
      for (std::int64_t item; (item = ch.get_blocking()) != -1;) {
        record(last, item);
        ++received;
      }
    });
  }
  shards.run([&](std::size_t shard) -> Coro<void> {
    if (shard < 2) {  // producers 0 and 1, on loops
      const int producer = static_cast<int>(shard);
      for (int seq = 0; seq < per_producer; ++seq) co_await ch.put(item_of(producer, seq));
      // The sentinels are put from a thread: the last producer may be a task.
      co_await asyncio::to_thread(producer_done);
    } else {  // consumers, on loops
      std::vector<int> last(producers, -1);
      for (std::int64_t item; (item = co_await ch.get()) != -1;) {
        record(last, item);
        ++received;
      }
    }
  });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(received, total);
  EXPECT_EQ(duplicates, 0);
  EXPECT_EQ(out_of_order, 0);
  int missing = 0;
  for (auto& flags : seen) {
    for (char f : flags) missing += f == 0;
  }
  EXPECT_EQ(missing, 0);
}

}  // namespace
