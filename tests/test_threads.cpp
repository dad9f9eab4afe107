// Threads and the loop: call_soon_threadsafe (exactly once and in order from many threads,
// waking a loop blocked in its selector, after close, move-only callables), run_in_executor and
// to_thread, the default executor joined by close(), wrap_future of a ConcurrentFuture and of a
// std::future, and run_coroutine_threadsafe from a foreign thread (result, exception, cancel).
#include <atomic>
#include <fstream>
#include <future>
#include <latch>
#include <memory>
#include <semaphore>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/asyncio_test.hpp"
#include "support/busy_worker.hpp"
#include "support/loop_thread.hpp"

using namespace std::chrono_literals;
using asyncio::ConcurrentFuture;
using asyncio::Coro;
using asyncio::Future;
using asyncio::ThreadPoolExecutor;

namespace {

struct CallSoonThreadsafeTest : asyncio_test::LoopFixture {};
struct ThreadsTest : asyncio_test::LoopFixture {
  /// Runs the loop until the calls this thread posted with call_soon_threadsafe have run (the
  /// stop call comes after them).
  void run_posted_calls() {
    loop->call_soon_threadsafe([this] { loop->stop(); });
    loop->run_forever();
  }
};

using asyncio_test::LoopThread;

// --- call_soon_threadsafe ----------------------------------------------------------------------

TEST_F(CallSoonThreadsafeTest, EightThreadsTimesHundredThousandCallsRunExactlyOnceInOrder) {
  constexpr int threads = 8, calls = 100'000;
  // Touched only on the loop's thread, by the callbacks.
  std::vector<int> count(threads, 0), next(threads, 0);
  int total = 0, out_of_order = 0;
  Future<void> all_ran = loop->create_future<void>();
  std::vector<std::thread> posters;
  for (int t = 0; t < threads; ++t) {
    posters.emplace_back([&, t] {
      for (int i = 0; i < calls; ++i) {
        loop->call_soon_threadsafe([&, t, i] {
          ++count[t];
          if (next[t] != i) ++out_of_order;
          next[t] = i + 1;
          if (++total == threads * calls) all_ran.set_result();
        });
      }
    });
  }
  run(all_ran);
  for (std::thread& p : posters) p.join();
  EXPECT_EQ(total, threads * calls);
  for (int t = 0; t < threads; ++t) EXPECT_EQ(count[t], calls) << "thread " << t;
  EXPECT_EQ(out_of_order, 0);
  run_iterations(2);  // nothing more arrives
  EXPECT_EQ(total, threads * calls);
}

// CPython's test_call_soon_threadsafe and test_call_soon_threadsafe_same_thread: before the loop
// runs, calls posted from any thread and call_soon keep the order they were made in (Python has
// one ready queue); so do call_soon_threadsafe and call_soon on the loop's thread while it runs.
TEST_F(CallSoonThreadsafeTest, KeepsItsOrderWithCallSoonBeforeTheLoopRunsAndOnItsThread) {
  std::vector<std::string> results;
  auto callback = [&](std::string what) {
    results.push_back(std::move(what));
    if (results.size() == 2) loop->stop();
  };
  std::thread other([&] { loop->call_soon_threadsafe(callback, "hello"); });
  other.join();
  loop->call_soon(callback, "world");
  loop->run_forever();
  EXPECT_EQ(results, (std::vector<std::string>{"hello", "world"}));

  results.clear();
  loop->call_soon_threadsafe(callback, "hello");  // the same thread
  loop->call_soon(callback, "world");
  loop->run_forever();
  EXPECT_EQ(results, (std::vector<std::string>{"hello", "world"}));

  results.clear();
  loop->call_soon(callback, "first");
  loop->call_soon_threadsafe(callback, "second");
  loop->run_forever();
  EXPECT_EQ(results, (std::vector<std::string>{"first", "second"}));

  results.clear();
  loop->call_soon([&] {
    loop->call_soon_threadsafe(callback, "hello");
    loop->call_soon(callback, "world");
  });
  loop->run_forever();
  EXPECT_EQ(results, (std::vector<std::string>{"hello", "world"}));
}

// Python appends a call from another thread to the ready queue: it runs on the loop's next
// iteration even while other callbacks keep the loop busy (here a task that yields at each
// turn), not only once the loop next polls.
TEST_F(CallSoonThreadsafeTest, RunsOnTheNextIterationOfABusyLoop) {
  int turns = 0, turns_when_ran = -1;
  auto busy = [&]() -> Coro<void> {
    for (int i = 0; i < 1000 && turns_when_ran < 0; ++i) {
      ++turns;
      co_await asyncio::sleep(0s);
    }
  };
  auto body = [&]() -> Coro<void> {
    auto task = asyncio::create_task(busy());
    co_await asyncio::sleep(0s);
    std::thread other([&] { loop->call_soon_threadsafe([&] { turns_when_ran = turns; }); });
    other.join();  // posted, while this callback runs
    const int turns_at_post = turns;
    co_await task;
    EXPECT_GE(turns_when_ran, 0);
    EXPECT_LE(turns_when_ran - turns_at_post, 1);
  };
  run(body());
}

asyncio::ContextVar<std::string> posted_test_var("posted_test_var");

// Python's Handle: the callback runs in a copy of the context of the thread that posted it; so
// does the task run_coroutine_threadsafe starts (Python's ensure_future inside that callback).
TEST_F(CallSoonThreadsafeTest, RunsInACopyOfThePostingThreadsContext) {
  std::string seen_by_call, seen_by_task;
  std::thread poster([&] {
    posted_test_var.set("from the poster");
    loop->call_soon_threadsafe([&] {
      seen_by_call = posted_test_var.get("none");
      posted_test_var.set("changed on the loop");  // the copy's
    });
    auto task_body = [](std::string* seen) -> Coro<void> {
      *seen = posted_test_var.get("none");
      co_return;
    };
    (void)asyncio::run_coroutine_threadsafe(task_body(&seen_by_task), *loop);
    EXPECT_EQ(posted_test_var.get(), "from the poster");
  });
  poster.join();
  run_iterations(3);
  EXPECT_EQ(seen_by_call, "from the poster");
  EXPECT_EQ(seen_by_task, "from the poster");
}

TEST_F(CallSoonThreadsafeTest, WakesALoopBlockedInItsSelector) {
  // Nothing ready and no timer due before run()'s limit: the loop sleeps in the selector until
  // the other thread's call.
  Future<int> f = loop->create_future<int>();
  Future<int>* target = &f;  // a Future handle must not be copied on another thread
  std::latch loop_running(1);
  loop->call_soon([&] { loop_running.count_down(); });
  std::thread other([&] {
    loop_running.wait();
    loop->call_soon_threadsafe([target] { target->set_result(7); });
  });
  EXPECT_EQ(run(f), 7);
  other.join();
}

TEST_F(CallSoonThreadsafeTest, ThrowsRuntimeErrorAfterClose) {
  loop->close();
  auto held = std::make_shared<int>(0);
  EXPECT_THROW(loop->call_soon_threadsafe([held] {}), asyncio::RuntimeError);
  std::thread other(
      [&] { EXPECT_THROW(loop->call_soon_threadsafe([held] {}), asyncio::RuntimeError); });
  other.join();
  EXPECT_EQ(held.use_count(), 1);  // the refused callables were destroyed
}

TEST_F(CallSoonThreadsafeTest, PendingCallsAreDroppedUnrunByClose) {
  auto held = std::make_shared<int>(0);
  bool ran = false;
  std::thread other([&] { loop->call_soon_threadsafe([held, &ran] { ran = true; }); });
  other.join();
  loop->close();
  EXPECT_FALSE(ran);
  EXPECT_EQ(held.use_count(), 1);
}

TEST_F(CallSoonThreadsafeTest, MoveOnlyCallablesAndArguments) {
  int got = 0, got_arg = 0;
  Future<void> done = loop->create_future<void>();
  Future<void>* target = &done;  // a Future handle must not be copied on another thread
  std::thread other([&] {
    loop->call_soon_threadsafe([p = std::make_unique<int>(5), &got] { got = *p; });
    loop->call_soon_threadsafe([&got_arg](std::unique_ptr<int>& q) { got_arg = *q; },
                               std::make_unique<int>(6));
    loop->call_soon_threadsafe([target] { target->set_result(); });
  });
  run(done);
  other.join();
  EXPECT_EQ(got, 5);
  EXPECT_EQ(got_arg, 6);
}

TEST_F(CallSoonThreadsafeTest, CallsRacingCloseRunOrThrow) {
  // Every call either runs, is dropped by close, or throws; none is lost half-way.
  std::atomic<bool> refused{false};
  std::latch posting(1);
  std::thread other([&] {
    for (int i = 0; !refused; ++i) {
      try {
        loop->call_soon_threadsafe([] {});
      } catch (const asyncio::RuntimeError&) {
        refused = true;
      }
      if (i == 10) posting.count_down();
    }
  });
  posting.wait();
  loop->call_soon_threadsafe([this] { loop->stop(); });
  loop->run_forever();  // drains the wake-up: the other thread's next call writes the eventfd
  loop->close();
  other.join();
  EXPECT_TRUE(refused);
}

// Python programs ask is_running()/is_closed() from a worker thread before posting: no data
// race (ThreadSanitizer checks) while the loop runs, stops and closes meanwhile.
TEST_F(CallSoonThreadsafeTest, IsRunningAndIsClosedMayBeAskedFromAnotherThread) {
  std::atomic<bool> seen_running{false};
  std::latch asked(1);
  std::thread other([&] {
    while (!loop->is_closed()) {
      if (loop->is_running() && !seen_running.exchange(true)) asked.count_down();
    }
  });
  loop->call_soon([&] {
    asked.wait();  // the other thread saw the loop running
    loop->stop();
  });
  loop->run_forever();
  EXPECT_FALSE(loop->is_running());
  loop->close();
  other.join();
  EXPECT_TRUE(seen_running);
}

// --- run_in_executor and to_thread -------------------------------------------------------------

TEST_F(ThreadsTest, RunInExecutorGivesTheResult) {
  Future<int> f = loop->run_in_executor(
      nullptr, [](int a, int b) { return a * b; }, 6, 7);
  EXPECT_EQ(run(f), 42);
  auto where = loop->run_in_executor(nullptr, [] { return std::this_thread::get_id(); });
  EXPECT_NE(run(where), std::this_thread::get_id());
}

TEST_F(ThreadsTest, RunInExecutorGivesTheException) {
  Future<void> f = loop->run_in_executor(nullptr, [] { throw std::runtime_error("in the pool"); });
  EXPECT_THROW(run(f), std::runtime_error);
}

TEST_F(ThreadsTest, RunInExecutorOnAGivenExecutor) {
  ThreadPoolExecutor pool(1);
  const std::thread::id pool_thread =
      pool.submit([] { return std::this_thread::get_id(); }).result();
  auto f = loop->run_in_executor(&pool, [] { return std::this_thread::get_id(); });
  EXPECT_EQ(run(f), pool_thread);
  loop->close();
}

TEST_F(ThreadsTest, RunInExecutorMovesMoveOnlyResults) {
  auto f = loop->run_in_executor(
      nullptr, [](std::unique_ptr<int> p) { return p; }, std::make_unique<int>(3));
  std::unique_ptr<int> p = run(std::move(f));
  EXPECT_EQ(*p, 3);
}

TEST_F(ThreadsTest, SetDefaultExecutor) {
  auto pool = std::make_unique<ThreadPoolExecutor>(1);
  const std::thread::id pool_thread =
      pool->submit([] { return std::this_thread::get_id(); }).result();
  loop->set_default_executor(std::move(pool));
  auto f = loop->run_in_executor(nullptr, [] { return std::this_thread::get_id(); });
  EXPECT_EQ(run(f), pool_thread);
  loop->set_default_executor(
      std::make_unique<ThreadPoolExecutor>(2));  // the old one is joined at close
  EXPECT_EQ(run(loop->run_in_executor(nullptr, [] { return 1; })), 1);
}

TEST_F(ThreadsTest, CancellingTheFutureCancelsACallThatHasNotStarted) {
  ThreadPoolExecutor pool(1);
  asyncio_test::BusyWorker busy(pool);
  bool ran = false;
  Future<void> f = loop->run_in_executor(&pool, [&ran] { ran = true; });
  EXPECT_TRUE(f.cancel());
  run_iterations(1);  // the done callback cancels the pool's future
  busy.release();
  pool.shutdown(true);
  EXPECT_FALSE(ran);
  run_iterations(2);
  EXPECT_TRUE(f.cancelled());
}

TEST_F(ThreadsTest, ManyCallsCrossBack) {
  auto body = [&]() -> Coro<long> {
    std::vector<Future<long>> futures;
    for (long i = 0; i < 200; ++i)
      futures.push_back(asyncio::to_thread([](long x) { return x * x; }, i));
    std::vector<long> squares = co_await asyncio::gather(futures);
    long sum = 0;
    for (long s : squares) sum += s;
    co_return sum;
  };
  EXPECT_EQ(run(body()), 199L * 200 * 399 / 6);
}

TEST_F(ThreadsTest, ToThreadRunsOnTheDefaultExecutor) {
  auto body = []() -> Coro<std::string> {
    std::thread::id loop_thread = std::this_thread::get_id();
    std::thread::id worker = co_await asyncio::to_thread([] { return std::this_thread::get_id(); });
    EXPECT_NE(worker, loop_thread);
    std::string text = co_await asyncio::to_thread(
        [](std::string s, int n) { return s + std::to_string(n); }, std::string("n="), 3);
    co_return text;
  };
  EXPECT_EQ(run(body()), "n=3");
}

TEST_F(ThreadsTest, ToThreadExceptionReachesTheAwaiter) {
  auto body = []() -> Coro<std::string> {
    std::string what;
    try {
      co_await asyncio::to_thread([] { throw std::runtime_error("worker failed"); });
    } catch (const std::runtime_error& e) {
      what = e.what();
    }
    co_return what;
  };
  EXPECT_EQ(run(body()), "worker failed");
}

// CPython's test_to_thread_contextvars: the function runs in a copy of the caller's context.
asyncio::ContextVar<std::string> thread_test_var("thread_test_var");

TEST_F(ThreadsTest, ToThreadRunsTheFunctionInACopyOfTheCallersContext) {
  auto body = []() -> Coro<std::string> {
    thread_test_var.set("parrot");
    std::string seen = co_await asyncio::to_thread([] {
      std::string value = thread_test_var.get();
      thread_test_var.set("changed in the thread");  // the copy's, not the caller's
      return value + " " + thread_test_var.get();
    });
    co_return seen + ", caller: " + thread_test_var.get();
  };
  EXPECT_EQ(run(body()), "parrot changed in the thread, caller: parrot");
}

TEST_F(ThreadsTest, ToThreadOfACallerWithoutValuesSeesNone) {
  auto body = []() -> Coro<bool> {
    co_return co_await asyncio::to_thread([] { return thread_test_var.get("none") == "none"; });
  };
  EXPECT_TRUE(run(body()));
}

TEST_F(ThreadsTest, ToThreadNeedsARunningLoop) {
  EXPECT_THROW(asyncio::to_thread([] {}), asyncio::RuntimeError);
}

TEST_F(ThreadsTest, CloseJoinsTheDefaultExecutorsThreads) {
  std::binary_semaphore started{0};
  std::latch release(1);
  std::atomic<bool> finished{false};
  Future<int> f = loop->run_in_executor(nullptr, [&] {
    started.release();
    release.wait();
    finished = true;
    return 1;
  });
  EXPECT_TRUE(started.try_acquire_for(10s)) << "gave up after 10 s waiting for the call to start";
  std::thread releaser([&] { release.count_down(); });
  loop->close();  // waits for the running call
  EXPECT_TRUE(finished);
  releaser.join();
  EXPECT_FALSE(f.done());  // its outcome arrived after the loop stopped running: dropped
  EXPECT_THROW(loop->run_in_executor(nullptr, [] {}), asyncio::RuntimeError);
}

TEST_F(ThreadsTest, WorkFinishingAfterTheLoopIsGoneIsDropped) {
  ThreadPoolExecutor pool(1);
  std::binary_semaphore started{0};
  std::latch release(1);
  {
    auto other = asyncio::new_event_loop();
    Future<int> f = other->run_in_executor(&pool, [&] {
      started.release();
      release.wait();
      return 1;
    });
    EXPECT_TRUE(started.try_acquire_for(10s)) << "gave up after 10 s waiting for the call to start";
    other->close();
  }  // the loop is destroyed while its call still runs
  release.count_down();
  pool.shutdown(true);
}

// --- wrap_future ---------------------------------------------------------------------------------

TEST_F(ThreadsTest, WrapFutureOfAnAsyncioFutureGivesItBack) {  // Python: if isfuture(f): return f
  asyncio::Future<int> future = loop->create_future<int>();
  asyncio::Future<int> same = asyncio::wrap_future(future);
  same.set_result(3);
  EXPECT_TRUE(future.done());
  EXPECT_EQ(future.result(), 3);
  auto task = loop->create_task([]() -> Coro<int> { co_return 4; }());
  asyncio::Future<int> of_task = asyncio::wrap_future(task);
  EXPECT_EQ(run(of_task), 4);
}

TEST_F(ThreadsTest, WrapConcurrentFuture) {
  ConcurrentFuture<std::string> source;
  Future<std::string> f = asyncio::wrap_future(source, *loop);
  std::thread producer([source]() mutable { source.set_result("from a thread"); });
  EXPECT_EQ(run(f), "from a thread");
  producer.join();
  EXPECT_EQ(source.result(), "from a thread");  // copied, not moved out
}

TEST_F(ThreadsTest, WrapConcurrentFutureException) {
  ConcurrentFuture<int> source;
  Future<int> f = asyncio::wrap_future(source, *loop);
  std::thread producer([source]() mutable { source.set_exception(std::runtime_error("bad")); });
  EXPECT_THROW(run(f), std::runtime_error);
  producer.join();
}

TEST_F(ThreadsTest, WrapConcurrentFutureCancelledElsewhere) {
  ConcurrentFuture<int> source;
  Future<int> f = asyncio::wrap_future(source, *loop);
  std::thread canceller([source]() mutable { source.cancel(); });
  EXPECT_THROW(run(f), asyncio::CancelledError);
  canceller.join();
  EXPECT_TRUE(f.cancelled());
}

TEST_F(ThreadsTest, CancellingTheWrapperCancelsTheConcurrentFuture) {
  ConcurrentFuture<int> source;
  Future<int> f = asyncio::wrap_future(source, *loop);
  f.cancel();
  run_iterations(1);
  EXPECT_TRUE(source.cancelled());
}

TEST_F(ThreadsTest, WrapUsesTheRunningLoop) {
  ConcurrentFuture<int> source;
  source.set_result(9);
  auto body = [source]() -> Coro<int> {
    int v = co_await asyncio::wrap_future(source);
    co_return v;
  };
  EXPECT_EQ(run(body()), 9);
}

TEST_F(ThreadsTest, WrapStdFuture) {
  std::promise<std::string> promise;
  Future<std::string> f = asyncio::wrap_future(promise.get_future(), *loop);
  std::thread producer([&promise] { promise.set_value("promised"); });
  EXPECT_EQ(run(f), "promised");
  producer.join();

  std::promise<void> done;
  Future<void> g = asyncio::wrap_future(done.get_future(), *loop);
  std::thread failer(
      [&done] { done.set_exception(std::make_exception_ptr(std::runtime_error("broken"))); });
  EXPECT_THROW(run(g), std::runtime_error);
  failer.join();

  auto h = asyncio::wrap_future(std::async(std::launch::async, [] { return 5; }), *loop);
  EXPECT_EQ(run(h), 5);
}

// --- run_coroutine_threadsafe --------------------------------------------------------------------

Coro<int> add_one_later(int x) {
  co_await asyncio::sleep(1ms);
  co_return x + 1;
}

Coro<int> fail_later() {
  co_await asyncio::sleep(0s);
  throw std::runtime_error("coroutine failed");
}

TEST_F(ThreadsTest, RunCoroutineThreadsafeFromAForeignThread) {
  LoopThread running(*loop);
  ConcurrentFuture<int> f = asyncio::run_coroutine_threadsafe(add_one_later(41), *loop);
  EXPECT_EQ(f.result(10s), 42);
  ConcurrentFuture<int> g = asyncio::run_coroutine_threadsafe(fail_later(), *loop);
  EXPECT_THROW(g.result(10s), std::runtime_error);
}

TEST_F(ThreadsTest, RunCoroutineThreadsafeManyThreads) {
  LoopThread running(*loop);
  std::vector<std::thread> callers;
  std::atomic<int> sum{0}, timed_out{0};
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        try {
          sum += asyncio::run_coroutine_threadsafe(add_one_later(t), *loop).result(10s);
        } catch (const asyncio::TimeoutError&) {
          ++timed_out;
        }
      }
    });
  }
  for (std::thread& c : callers) c.join();
  EXPECT_EQ(timed_out, 0) << "results not there 10 s after their coroutines were submitted";
  EXPECT_EQ(sum, 50 * (1 + 2 + 3 + 4));
}

TEST_F(ThreadsTest, CancellingTheConcurrentFutureCancelsTheTask) {
  std::binary_semaphore started{0}, task_cancelled{0};
  auto sleeper = [&]() -> Coro<int> {
    started.release();
    try {
      co_await asyncio::sleep(1h);
    } catch (const asyncio::CancelledError&) {
      task_cancelled.release();
      throw;
    }
    co_return 0;
  };
  LoopThread running(*loop);
  ConcurrentFuture<int> f = asyncio::run_coroutine_threadsafe(sleeper(), *loop);
  EXPECT_TRUE(started.try_acquire_for(10s)) << "gave up after 10 s waiting for the task to start";
  EXPECT_TRUE(f.cancel());
  EXPECT_TRUE(task_cancelled.try_acquire_for(10s))
      << "gave up after 10 s waiting for the task to see CancelledError at its await";
  EXPECT_THROW(f.result(), asyncio::CancelledError);
}

TEST_F(ThreadsTest, CancelledBeforeTheLoopStartsItTheCoroutineNeverRuns) {
  bool ran = false;
  auto body = [&]() -> Coro<void> {
    ran = true;
    co_return;
  };
  ConcurrentFuture<void> f = asyncio::run_coroutine_threadsafe(body(), *loop);
  EXPECT_TRUE(f.cancel());
  run_posted_calls();
  run_iterations(2);
  EXPECT_FALSE(ran);
  EXPECT_TRUE(asyncio::all_tasks(*loop).empty());
}

TEST_F(ThreadsTest, ClosingTheLoopCancelsTheFutureOfAnUnfinishedTask) {
  ConcurrentFuture<int> f = asyncio::run_coroutine_threadsafe(add_one_later(0), *loop);
  run_posted_calls();  // the task is created
  run_iterations(1);   // and starts, and sleeps
  loop->close();
  EXPECT_TRUE(f.cancelled());
  EXPECT_EQ(reported("Task was destroyed but it is pending!"), 1u);
}

TEST_F(ThreadsTest, ClosingTheLoopBeforeItStartedTheTaskCancelsTheFuture) {
  ConcurrentFuture<int> f = asyncio::run_coroutine_threadsafe(add_one_later(0), *loop);
  loop->close();  // the call that would have created the task is dropped
  EXPECT_TRUE(f.cancelled());
  EXPECT_EQ(reported("Task was destroyed but it is pending!"), 0u);
}

TEST_F(ThreadsTest, RunCoroutineThreadsafeOnAClosedLoop) {
  loop->close();
  EXPECT_THROW(asyncio::run_coroutine_threadsafe(add_one_later(0), *loop), asyncio::RuntimeError);
}

long resident_bytes() {
  std::ifstream status("/proc/self/status");
  std::string key;
  long kib = 0;
  while (status >> key) {
    if (key == "VmRSS:" && status >> kib) return kib * 1024;
    status.ignore(1 << 20, '\n');
  }
  return 0;
}

Coro<int> same(int n) { co_return n; }

TEST_F(ThreadsTest, CoroutinesMadeOnAProducerThreadDoNotGrowMemoryWithoutBound) {
  // Each coroutine's frame is made on the producer's thread and freed on the loop's: the
  // freed frames must come back to the producer (through the frame pool's global batches)
  // instead of piling up on the loop's thread. Measured in resident memory, in builds that use
  // the pool.
  if (!asyncio::detail::pooled_frames) GTEST_SKIP() << "this build does not use the frame pool";
  LoopThread running(*loop);
  long at_start = 0, at_end = 0;
  int timed_out = 0;
  for (int batch = 0; batch < 1000; ++batch) {
    std::vector<ConcurrentFuture<int>> results;
    for (int i = 0; i < 1000; ++i)
      results.push_back(asyncio::run_coroutine_threadsafe(same(i), *loop));
    for (auto& result : results) {
      try {
        result.result(10s);
      } catch (const asyncio::TimeoutError&) {
        ++timed_out;
      }
    }
    if (batch == 99) at_start = resident_bytes();  // after 100,000 calls: every pool warm
  }
  at_end = resident_bytes();
  EXPECT_EQ(timed_out, 0);
  // 900,000 more calls: 64 bytes each would be 57 MB; what stays must be far below that.
  EXPECT_LT(at_end - at_start, 4L << 20) << (at_end - at_start) / 900'000.0 << " bytes per call";
}

}  // namespace
