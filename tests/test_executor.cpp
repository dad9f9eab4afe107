// ThreadPoolExecutor: results and exceptions in the futures, the bound on threads running at
// once, lazily started and reused threads, shutdown (wait, cancel_futures, refusal of new calls).
#include <gtest/gtest.h>
#include <asyncio/exceptions.hpp>
#include <asyncio/executor.hpp>

#include "support/busy_worker.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <latch>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using asyncio::ConcurrentFuture;
using asyncio::ThreadPoolExecutor;

namespace {

TEST(ExecutorTest, SubmitReturnsTheResult) {
  ThreadPoolExecutor pool(2);
  ConcurrentFuture<int> sum = pool.submit([](int a, int b) { return a + b; }, 2, 3);
  ConcurrentFuture<std::string> text =
      pool.submit([](std::string s) { return s + "!"; }, std::string("hi"));
  bool ran = false;
  ConcurrentFuture<void> nothing = pool.submit([&ran] { ran = true; });
  EXPECT_EQ(sum.result(), 5);
  EXPECT_EQ(text.result(), "hi!");
  nothing.result();
  EXPECT_TRUE(ran);
}

TEST(ExecutorTest, RunsOnAnotherThread) {
  ThreadPoolExecutor pool(1);
  EXPECT_NE(pool.submit([] { return std::this_thread::get_id(); }).result(),
            std::this_thread::get_id());
}

TEST(ExecutorTest, ExceptionsAreStoredInTheFuture) {
  ThreadPoolExecutor pool(1);
  auto failed = pool.submit([]() -> int { throw std::runtime_error("boom"); });
  EXPECT_THROW(failed.result(), std::runtime_error);
  auto cancelled = pool.submit([] { throw asyncio::CancelledError("from the call"); });
  EXPECT_THROW(cancelled.result(), asyncio::CancelledError);
  EXPECT_FALSE(cancelled.cancelled());  // it finished with that exception; nobody cancelled it
  EXPECT_EQ(pool.submit([] { return 1; }).result(), 1);  // the worker survived
}

TEST(ExecutorTest, MoveOnlyCallableAndArguments) {
  ThreadPoolExecutor pool(1);
  auto p = std::make_unique<int>(4);
  auto f = pool.submit([q = std::move(p)](std::unique_ptr<int> r) { return *q + *r; },
                       std::make_unique<int>(5));
  EXPECT_EQ(f.result(), 9);
}

TEST(ExecutorTest, AtMostMaxWorkersRunAtOnce) {
  ThreadPoolExecutor pool(2);
  std::mutex mutex;
  std::condition_variable changed;
  int running = 0, most = 0;
  std::latch release(1);
  auto job = [&] {
    {
      std::lock_guard lock(mutex);
      most = std::max(most, ++running);
    }
    changed.notify_all();
    release.wait();
    std::lock_guard lock(mutex);
    --running;
  };
  std::vector<ConcurrentFuture<void>> jobs;
  for (int i = 0; i < 3; ++i) jobs.push_back(pool.submit(job));
  {
    std::unique_lock lock(mutex);
    EXPECT_TRUE(changed.wait_for(lock, std::chrono::seconds(10), [&] { return running == 2; }))
        << "gave up after 10 s waiting for two calls to run at once";
  }
  // Two run and block; the third cannot start until one of them ends.
  EXPECT_TRUE(jobs[0].running());
  EXPECT_TRUE(jobs[1].running());
  EXPECT_FALSE(jobs[2].running());
  EXPECT_FALSE(jobs[2].done());
  release.count_down();
  for (auto& j : jobs) j.result();
  EXPECT_EQ(most, 2);
}

TEST(ExecutorTest, ThreadsStartLazilyAndIdleOnesAreReused) {
  ThreadPoolExecutor pool(4);
  std::set<std::thread::id> threads;
  for (int i = 0; i < 5; ++i)
    threads.insert(pool.submit([] { return std::this_thread::get_id(); }).result());
  EXPECT_EQ(threads.size(), 1u);  // one call at a time: the idle thread takes each
}

TEST(ExecutorTest, DefaultMaxWorkersIsPythons) {
  const std::size_t cpus = std::thread::hardware_concurrency();
  EXPECT_EQ(ThreadPoolExecutor::default_max_workers(), std::min<std::size_t>(32, cpus + 4));
  EXPECT_EQ(ThreadPoolExecutor().max_workers(), ThreadPoolExecutor::default_max_workers());
  EXPECT_THROW(ThreadPoolExecutor(0), std::invalid_argument);
}

TEST(ExecutorTest, SubmitAfterShutdownIsRefused) {
  ThreadPoolExecutor pool(1);
  pool.shutdown();
  try {
    pool.submit([] {});
    FAIL() << "submit after shutdown must throw";
  } catch (const asyncio::RuntimeError& e) {
    EXPECT_STREQ(e.what(), "cannot schedule new futures after shutdown");
  }
  pool.shutdown();  // a second shutdown does nothing
}

TEST(ExecutorTest, ShutdownWaitRunsTheQueuedCalls) {
  ThreadPoolExecutor pool(1);
  std::atomic<int> ran{0};
  std::vector<ConcurrentFuture<void>> jobs;
  for (int i = 0; i < 10; ++i) jobs.push_back(pool.submit([&ran] { ++ran; }));
  pool.shutdown(true);
  EXPECT_EQ(ran, 10);
  for (auto& j : jobs) EXPECT_TRUE(j.done());
}

TEST(ExecutorTest, ShutdownCancelFuturesCancelsTheQueuedCalls) {
  ThreadPoolExecutor pool(1);
  asyncio_test::BusyWorker busy(pool);
  std::atomic<int> ran{0};
  auto second = pool.submit([&ran] { ++ran; });
  auto third = pool.submit([&ran] { ++ran; });
  pool.shutdown(false, true);
  EXPECT_TRUE(second.cancelled());
  EXPECT_TRUE(third.cancelled());
  EXPECT_FALSE(busy.call().cancelled());  // a running call is not cancelled
  busy.release();
  busy.call().result();
  pool.shutdown(true);
  EXPECT_EQ(ran, 0);
}

TEST(ExecutorTest, CancelledBeforeItStartsNeverRuns) {
  ThreadPoolExecutor pool(1);
  asyncio_test::BusyWorker busy(pool);
  bool ran = false;
  auto queued = pool.submit([&ran] { ran = true; });
  EXPECT_TRUE(queued.cancel());
  EXPECT_FALSE(busy.call().cancel());  // running
  busy.release();
  pool.shutdown(true);
  EXPECT_FALSE(ran);
  EXPECT_THROW(queued.result(), asyncio::CancelledError);
}

TEST(ExecutorTest, DestructorJoinsAfterRunningEverything) {
  std::atomic<int> ran{0};
  {
    ThreadPoolExecutor pool(3);
    for (int i = 0; i < 20; ++i) pool.submit([&ran] { ++ran; });
  }
  EXPECT_EQ(ran, 20);
}

TEST(ExecutorTest, ShutdownWithWaitFromAWorkerIsRefused) {
  ThreadPoolExecutor pool(1);
  auto f = pool.submit([&pool] { pool.shutdown(true); });
  EXPECT_THROW(f.result(), asyncio::RuntimeError);
}

TEST(ExecutorTest, SubmitFromManyThreads) {
  ThreadPoolExecutor pool(3);
  std::atomic<int> sum{0};
  std::vector<std::thread> submitters;
  std::vector<std::vector<ConcurrentFuture<void>>> futures(4);
  for (int t = 0; t < 4; ++t) {
    submitters.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) futures[t].push_back(pool.submit([&sum] { ++sum; }));
    });
  }
  for (std::thread& t : submitters) t.join();
  for (auto& list : futures)
    for (auto& f : list) f.result();
  EXPECT_EQ(sum, 4000);
}

TEST(ExecutorTest, DestroyedByOneOfItsOwnCallsItFinishesTheQueueOnItsOwn) {
  // The executor cannot wait for its own thread: its threads are left to run what is queued.
  auto* executor = new ThreadPoolExecutor(1);
  std::promise<void> destroyed;
  std::latch submitted(1);
  executor->submit([executor, &destroyed, &submitted] {
    submitted.wait();
    delete executor;
    destroyed.set_value();
  });
  ConcurrentFuture<int> queued = executor->submit([] { return 7; });  // runs after the delete
  submitted.count_down();
  ASSERT_EQ(destroyed.get_future().wait_for(30s), std::future_status::ready);
  EXPECT_EQ(queued.result(30s), 7);
}

}  // namespace
