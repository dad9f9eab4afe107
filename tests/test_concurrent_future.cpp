// ConcurrentFuture<T>: Python's concurrent.futures.Future states (pending, running, cancelled,
// finished), blocking result() with and without a timeout, done callbacks and the thread that
// runs them, void and move-only values.
#include <gtest/gtest.h>
#include <asyncio/concurrent_future.hpp>
#include <asyncio/exceptions.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using asyncio::ConcurrentFuture;

namespace {

TEST(ConcurrentFutureTest, ResultSetByAnotherThread) {
  ConcurrentFuture<std::string> f;
  EXPECT_FALSE(f.done());
  EXPECT_FALSE(f.running());
  std::thread producer([f]() mutable { f.set_result("forty-two"); });
  EXPECT_EQ(f.result(), "forty-two");  // blocks until set
  producer.join();
  EXPECT_TRUE(f.done());
  EXPECT_FALSE(f.cancelled());
  EXPECT_EQ(f.exception(), nullptr);
}

TEST(ConcurrentFutureTest, ManyThreadsWaitOnOneResult) {
  ConcurrentFuture<int> f;
  std::atomic<int> seen{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 4; ++i) waiters.emplace_back([f, &seen] { seen += f.result(); });
  f.set_result(10);
  for (std::thread& t : waiters) t.join();
  EXPECT_EQ(seen, 40);
}

TEST(ConcurrentFutureTest, ResultWithTimeoutThrowsTimeoutError) {
  ConcurrentFuture<int> f;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(f.result(20ms), asyncio::TimeoutError);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
  EXPECT_THROW(f.exception(1ms), asyncio::TimeoutError);
  EXPECT_FALSE(f.done());
  f.set_result(3);
  EXPECT_EQ(f.result(1h), 3);  // done: no wait
}

TEST(ConcurrentFutureTest, ExceptionIsStoredAndRethrown) {
  ConcurrentFuture<int> f;
  f.set_exception(std::runtime_error("boom"));
  EXPECT_TRUE(f.done());
  EXPECT_THROW(f.result(), std::runtime_error);
  std::exception_ptr error = f.exception();
  ASSERT_NE(error, nullptr);
  EXPECT_THROW(std::rethrow_exception(error), std::runtime_error);
  EXPECT_THROW(f.set_result(1), asyncio::InvalidStateError);
  EXPECT_THROW(f.set_exception(std::runtime_error("again")), asyncio::InvalidStateError);
}

TEST(ConcurrentFutureTest, CancelWhilePending) {
  ConcurrentFuture<int> f;
  EXPECT_TRUE(f.cancel());
  EXPECT_TRUE(f.cancelled());
  EXPECT_TRUE(f.done());
  EXPECT_TRUE(f.cancel());  // already cancelled: still true, as in Python
  EXPECT_THROW(f.result(), asyncio::CancelledError);
  EXPECT_THROW(f.exception(), asyncio::CancelledError);
  EXPECT_THROW(f.set_result(1), asyncio::InvalidStateError);
  EXPECT_FALSE(f.set_running_or_notify_cancel());
}

TEST(ConcurrentFutureTest, RunningAndFinishedFuturesCannotBeCancelled) {
  ConcurrentFuture<int> f;
  EXPECT_TRUE(f.set_running_or_notify_cancel());
  EXPECT_TRUE(f.running());
  EXPECT_FALSE(f.cancel());
  EXPECT_THROW(f.set_running_or_notify_cancel(), asyncio::RuntimeError);
  f.set_result(1);
  EXPECT_FALSE(f.running());
  EXPECT_FALSE(f.cancel());
  EXPECT_FALSE(f.cancelled());
  EXPECT_EQ(f.result(), 1);
}

TEST(ConcurrentFutureTest, CancelWakesWaiters) {
  ConcurrentFuture<void> f;
  std::thread waiter([f] { EXPECT_THROW(f.result(), asyncio::CancelledError); });
  EXPECT_TRUE(f.cancel());
  waiter.join();
}

TEST(ConcurrentFutureTest, VoidFuture) {
  ConcurrentFuture<> f;
  std::thread producer([f]() mutable { f.set_result(); });
  f.result();
  producer.join();
  EXPECT_TRUE(f.done());
}

TEST(ConcurrentFutureTest, MoveOnlyValue) {
  ConcurrentFuture<std::unique_ptr<int>> f;
  f.set_result(std::make_unique<int>(7));
  std::unique_ptr<int> taken = std::move(f.result());
  EXPECT_EQ(*taken, 7);
}

TEST(ConcurrentFutureTest, CallbacksRunInTheCompletingThreadInOrder) {
  ConcurrentFuture<int> f;
  std::vector<int> order;
  std::thread::id ran_on;
  f.add_done_callback([&](ConcurrentFuture<int> done) {
    ran_on = std::this_thread::get_id();
    order.push_back(done.result());
  });
  f.add_done_callback([&](ConcurrentFuture<int>) { order.push_back(2); });
  std::thread::id producer_id;
  std::thread producer([f, &producer_id]() mutable {
    producer_id = std::this_thread::get_id();
    f.set_result(1);
  });
  producer.join();
  EXPECT_EQ(ran_on, producer_id);
  EXPECT_EQ(order, (std::vector<int>{1, 2}));

  // Added once done: runs at once, in the adding thread.
  f.add_done_callback([&](ConcurrentFuture<int>) { order.push_back(3); });
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(ConcurrentFutureTest, CallbackThatThrowsDoesNotStopTheOthers) {
  ConcurrentFuture<int> f;
  bool second = false;
  f.add_done_callback([](ConcurrentFuture<int>) { throw std::runtime_error("callback error"); });
  f.add_done_callback([&](ConcurrentFuture<int>) { second = true; });
  f.set_result(1);
  EXPECT_TRUE(second);
}

TEST(ConcurrentFutureTest, CallbackRunsOnCancel) {
  ConcurrentFuture<int> f;
  bool saw_cancelled = false;
  f.add_done_callback([&](ConcurrentFuture<int> done) { saw_cancelled = done.cancelled(); });
  f.cancel();
  EXPECT_TRUE(saw_cancelled);
}

TEST(ConcurrentFutureTest, CopiesShareTheState) {
  ConcurrentFuture<int> a;
  ConcurrentFuture<int> b = a;
  EXPECT_TRUE(a == b);
  EXPECT_FALSE(a == ConcurrentFuture<int>());
  b.set_result(5);
  EXPECT_EQ(a.result(), 5);
}

TEST(ConcurrentFutureTest, ATimeoutTooLongForTheClockMeansNoTimeout) {
  ConcurrentFuture<int> f;
  // The producer lets the consumer start waiting first (so that a deadline computed in the past
  // would show); the result is the same whichever comes first.
  std::thread producer([f]() mutable {
    std::this_thread::sleep_for(50ms);
    f.set_result(7);
  });
  EXPECT_EQ(f.result(std::chrono::hours::max()), 7);
  EXPECT_EQ(f.exception(std::chrono::nanoseconds::max()), nullptr);
  producer.join();
}

}  // namespace
