// Future<T>: state and misuse errors, cancellation, done callbacks (scheduled, ordered,
// removable), many awaiters, value passing, and the report of an unretrieved exception.
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "support/asyncio_test.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio::Future;

namespace {

struct FutureTest : asyncio_test::LoopFixture {};

static_assert(!std::is_base_of_v<std::exception, asyncio::CancelledError>,
              "CancelledError must not be a std::exception");
static_assert(std::is_base_of_v<std::exception, asyncio::InvalidStateError>);
static_assert(std::is_base_of_v<std::exception, asyncio::TimeoutError>);

TEST_F(FutureTest, PendingFutureRefusesResultAndException) {
  auto f = loop->create_future<int>();
  EXPECT_FALSE(f.done());
  EXPECT_FALSE(f.cancelled());
  EXPECT_THROW(f.result(), asyncio::InvalidStateError);
  EXPECT_THROW(f.exception(), asyncio::InvalidStateError);
  EXPECT_EQ(&f.get_loop(), loop.get());
}

TEST_F(FutureTest, ResultAndExceptionOnceDone) {
  auto f = loop->create_future<int>();
  f.set_result(5);
  EXPECT_TRUE(f.done());
  EXPECT_EQ(f.result(), 5);
  EXPECT_EQ(f.exception(), nullptr);

  auto g = loop->create_future<int>();
  g.set_exception(std::runtime_error("boom"));
  EXPECT_THROW(g.result(), std::runtime_error);
  EXPECT_EQ(asyncio_test::what(g.exception()), "boom");
}

TEST_F(FutureTest, SettingADoneFutureIsInvalidState) {
  auto f = loop->create_future<int>();
  f.set_result(1);
  EXPECT_THROW(f.set_result(2), asyncio::InvalidStateError);
  EXPECT_THROW(f.set_exception(std::runtime_error("x")), asyncio::InvalidStateError);
  EXPECT_EQ(f.result(), 1);

  auto c = loop->create_future<int>();
  c.cancel();
  EXPECT_THROW(c.set_result(2), asyncio::InvalidStateError);
}

TEST_F(FutureTest, CancelWithMessage) {
  auto f = loop->create_future<void>();
  EXPECT_TRUE(f.cancel("stop it"));
  EXPECT_TRUE(f.cancelled());
  EXPECT_TRUE(f.done());
  EXPECT_FALSE(f.cancel());
  try {
    f.result();
    FAIL() << "result() of a cancelled future must throw";
  } catch (const asyncio::CancelledError& e) {
    EXPECT_EQ(e.message(), "stop it");
  }
  EXPECT_THROW(f.exception(), asyncio::CancelledError);
}

TEST_F(FutureTest, CancelledErrorEscapesCatchStdException) {
  auto f = loop->create_future<void>();
  f.cancel();
  bool swallowed = false, seen = false;
  try {
    try {
      f.result();
    } catch (const std::exception&) {
      swallowed = true;
    }
  } catch (const asyncio::CancelledError&) {
    seen = true;
  }
  EXPECT_FALSE(swallowed);
  EXPECT_TRUE(seen);
}

TEST_F(FutureTest, DoneCallbacksAreScheduledNotCalledInline) {
  auto f = loop->create_future<int>();
  std::vector<int> seen;
  f.add_done_callback([&](Future<int> done) { seen.push_back(done.result()); });
  f.set_result(3);
  EXPECT_TRUE(seen.empty());
  run_iterations(1);
  EXPECT_EQ(seen, std::vector<int>{3});
}

TEST_F(FutureTest, DoneCallbacksRunInRegistrationOrder) {
  auto f = loop->create_future<void>();
  std::vector<int> order;
  for (int i = 0; i < 5; ++i)
    f.add_done_callback([&order, i](Future<void>) { order.push_back(i); });
  f.set_result();
  run_iterations(1);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST_F(FutureTest, CallbackAddedAfterCompletionIsStillScheduled) {
  auto f = loop->create_future<int>();
  f.set_result(9);
  int got = 0;
  f.add_done_callback([&](Future<int> done) { got = done.result(); });
  EXPECT_EQ(got, 0);
  run_iterations(1);
  EXPECT_EQ(got, 9);
}

TEST_F(FutureTest, RemoveDoneCallback) {
  auto f = loop->create_future<void>();
  int a = 0, b = 0;
  auto id_a = f.add_done_callback([&](Future<void>) { ++a; });
  f.add_done_callback([&](Future<void>) { ++b; });
  EXPECT_EQ(f.remove_done_callback(id_a), 1u);
  EXPECT_EQ(f.remove_done_callback(id_a), 0u);
  f.set_result();
  run_iterations(1);
  EXPECT_EQ(a, 0);
  EXPECT_EQ(b, 1);
}

// Function pointers as callbacks, for remove_done_callback(fn).
std::vector<int> callback_bag;
void add_42(Future<void>) { callback_bag.push_back(42); }
void add_17(Future<void>) { callback_bag.push_back(17); }
void add_100(Future<void>) { callback_bag.push_back(100); }

// CPython's test_futures.py test_callbacks_remove_first_callback, _remove_first_and_second,
// _remove_third_callback and test_remove_done_callback (the count of removed callbacks).
TEST_F(FutureTest, RemoveDoneCallbackByCallableRemovesEveryEqualOneAndCountsThem) {
  struct Case {
    std::vector<void (*)(Future<void>)> removed;
    std::vector<int> bag;
  };
  const std::vector<Case> cases = {
      {{&add_42}, {17, 100}}, {{&add_42, &add_17}, {100}}, {{&add_100}, {42, 17}}};
  for (const Case& c : cases) {
    callback_bag.clear();
    auto f = loop->create_future<void>();
    f.add_done_callback(&add_42);
    f.add_done_callback(&add_17);
    f.add_done_callback(&add_100);
    for (auto* fn : c.removed) {
      EXPECT_EQ(f.remove_done_callback(fn), 1u);
      EXPECT_EQ(f.remove_done_callback(fn), 0u);
    }
    f.set_result();
    run_iterations(1);
    EXPECT_EQ(callback_bag, c.bag);
  }
  callback_bag.clear();
  auto f = loop->create_future<void>();
  f.add_done_callback(add_42);  // a function's name decays to the same pointer
  f.add_done_callback(&add_17);
  f.add_done_callback(&add_42);
  int other = 0;
  f.add_done_callback([&other](Future<void>) { ++other; });
  EXPECT_EQ(f.remove_done_callback(add_42), 2u);
  f.set_result();
  EXPECT_EQ(f.remove_done_callback(&add_17), 0u);  // already scheduled
  run_iterations(1);
  EXPECT_EQ(callback_bag, (std::vector<int>{17}));
  EXPECT_EQ(other, 1);
}

TEST_F(FutureTest, CallbackKeepsTheFutureAliveUntilItRuns) {
  int got = 0;
  {
    auto f = loop->create_future<int>();
    f.add_done_callback([&](Future<int> done) { got = done.result(); });
    f.set_result(4);
  }  // the last handle is gone; the scheduled callback still holds the future
  run_iterations(1);
  EXPECT_EQ(got, 4);
}

TEST_F(FutureTest, ExceptionInDoneCallbackGoesToTheHandler) {
  auto f = loop->create_future<void>();
  int after = 0;
  f.add_done_callback([](Future<void>) { throw std::runtime_error("cb failed"); });
  f.add_done_callback([&](Future<void>) { ++after; });
  f.set_result();
  run_iterations(1);
  EXPECT_EQ(after, 1);
  ASSERT_EQ(reported("Exception in callback"), 1u);  // Python's: a done callback is a Handle
  EXPECT_EQ(asyncio_test::what(reports[0].exception), "cb failed");
}

TEST_F(FutureTest, ManyCoroutinesAwaitOneFuture) {
  auto f = loop->create_future<int>();
  auto waiter = [](Future<int> fut) -> Coro<int> { co_return co_await fut * 2; };
  auto body = [&]() -> Coro<int> {
    std::vector<asyncio::Task<int>> tasks;
    for (int i = 0; i < 10; ++i) tasks.push_back(loop->create_task(waiter(f)));
    co_await asyncio::sleep(0s);
    f.set_result(21);
    int sum = 0;
    for (auto& t : tasks) sum += co_await t;
    co_return sum;
  };
  EXPECT_EQ(loop->run_until_complete(body()), 420);
}

TEST_F(FutureTest, AwaitingAnLvalueSharesTheValueAnRvalueTakesIt) {
  auto body = [&]() -> Coro<void> {
    auto f = loop->create_future<std::vector<int>>();
    f.set_result(std::vector<int>{1, 2, 3});
    std::vector<int>& shared = co_await f;
    EXPECT_EQ(&shared, &f.result());
    auto copy = f;  // a second handle: an rvalue await must copy
    std::vector<int> copied = co_await std::move(copy);
    EXPECT_EQ(f.result().size(), 3u);
    copy = {};
    std::vector<int> taken = co_await std::move(f);  // the only handle: moved out
    EXPECT_EQ(taken, (std::vector<int>{1, 2, 3}));
    EXPECT_TRUE(f.result().empty());
    EXPECT_EQ(copied, taken);
  };
  loop->run_until_complete(body());
}

TEST_F(FutureTest, AwaitingACancelledFutureThrowsCancelledErrorInTheAwaiter) {
  auto f = loop->create_future<int>();
  auto body = [&]() -> Coro<std::string> {
    loop->call_soon([f]() mutable { f.cancel("gone"); });
    try {
      co_await f;
    } catch (const asyncio::CancelledError& e) {
      co_return e.message();
    }
    co_return "";
  };
  EXPECT_EQ(loop->run_until_complete(body()), "gone");
}

TEST_F(FutureTest, UnretrievedExceptionIsReportedOnceWhenDestroyed) {
  {
    auto f = loop->create_future<int>();
    f.set_exception(std::runtime_error("lost"));
  }
  ASSERT_EQ(reported("Future exception was never retrieved"), 1u);
  EXPECT_EQ(asyncio_test::what(reports[0].exception), "lost");
  {
    auto g = loop->create_future<int>();
    g.set_exception(std::runtime_error("seen"));
    EXPECT_NE(g.exception(), nullptr);
  }
  EXPECT_EQ(reports.size(), 1u);
}

TEST_F(FutureTest, AwaitingAFutureOfAnotherLoopIsARuntimeError) {
  auto other = asyncio::new_event_loop();
  auto foreign = other->create_future<int>();
  auto body = [&]() -> Coro<bool> {
    try {
      co_await foreign;
    } catch (const asyncio::RuntimeError&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(loop->run_until_complete(body()));
}

TEST_F(FutureTest, SetResultAfterTheLoopClosedIsARuntimeError) {
  auto f = loop->create_future<int>();
  int calls = 0;
  f.add_done_callback([&](Future<int>) { ++calls; });
  loop->close();
  EXPECT_THROW(f.set_result(1), asyncio::RuntimeError);
  EXPECT_EQ(calls, 0);
  EXPECT_THROW(loop->create_future<int>(), asyncio::RuntimeError);
}

TEST_F(FutureTest, ATaskWaitingOnAFutureKeepsItAliveWhenItsHandleIsReplaced) {
  struct Holder {
    Future<int> fut;
  } holder{loop->create_future<int>()};
  auto waiter = [&]() -> Coro<int> { co_return co_await holder.fut; };
  auto task = loop->create_task(waiter());
  run_iterations(2);                        // the task now waits on the first future
  holder.fut = loop->create_future<int>();  // the only handle to the first one is gone
  task.cancel();                            // reaches the first future through the task
  EXPECT_THROW(loop->run_until_complete(task), asyncio::CancelledError);
  EXPECT_TRUE(task.cancelled());
}

TEST_F(FutureTest, AWaitingTaskHoldsTheOnlyReferenceAndStillGetsTheValue) {
  Future<std::string> fut = loop->create_future<std::string>();
  auto waiter = [&]() -> Coro<std::string> { co_return co_await std::move(fut); };
  auto task = loop->create_task(waiter());
  run_iterations(2);
  Future<std::string> completer = fut;
  fut = {};
  completer.set_result(std::string(100, 'x'));
  completer = {};  // only the waiting task holds it now
  EXPECT_EQ(loop->run_until_complete(task), std::string(100, 'x'));
}

TEST_F(FutureTest, AMoveOnlyValueSharedByTwoHandlesIsNotStolenSilently) {
  auto make = []() -> Coro<std::unique_ptr<int>> { co_return std::make_unique<int>(7); };
  auto t1 = loop->create_task(make());
  asyncio::Task<std::unique_ptr<int>> t2 = t1;
  auto taker = [&]() -> Coro<int> {
    std::unique_ptr<int> value = co_await std::move(t1);
    co_return *value;
  };
  EXPECT_EQ(loop->run_until_complete(taker()), 7);
  // The value could not be copied for t2: asking for it is a clear error, not a null pointer.
  EXPECT_THROW(t2.result(), asyncio::InvalidStateError);
}

TEST_F(FutureTest, ACopyableValueSharedByTwoHandlesIsCopiedForEach) {
  auto make = []() -> Coro<std::string> { co_return std::string(64, 'v'); };
  auto t1 = loop->create_task(make());
  asyncio::Task<std::string> t2 = t1;
  auto taker = [&]() -> Coro<std::string> { co_return co_await std::move(t1); };
  EXPECT_EQ(loop->run_until_complete(taker()), std::string(64, 'v'));
  EXPECT_EQ(t2.result(), std::string(64, 'v'));
}

TEST_F(FutureTest, AMoveOnlyValueOfTheOnlyHandleIsMovedOut) {
  auto f = loop->create_future<std::unique_ptr<int>>();
  f.set_result(std::make_unique<int>(3));
  auto taker = [&]() -> Coro<int> { co_return *co_await std::move(f); };
  EXPECT_EQ(loop->run_until_complete(taker()), 3);
}

}  // namespace
