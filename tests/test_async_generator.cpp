// AsyncGenerator<T>: laziness, order, awaits between values that suspend the consuming task,
// exceptions, cancellation at an await inside the generator, aclose(), early exit, loop close,
// misuse errors, and stack safety of values that need no suspension.
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/asyncio_test.hpp"
#include "support/instances.hpp"

using namespace std::chrono_literals;
using asyncio::AsyncGenerator;
using asyncio::Coro;
using asyncio_test::Instances;

namespace {

struct AsyncGeneratorTest : asyncio_test::LoopFixture {
  AsyncGeneratorTest() { Instances::reset(); }

  /// A task that awaits one value of the generator make() returns, run until it is suspended
  /// inside the generator.
  template <class Make>
  asyncio::Task<void> step_once_in_a_task(Make make) {
    auto consumer = [](Make make) -> Coro<void> {
      AsyncGenerator<int> gen = make();
      co_await gen.next();
    };
    auto task = loop->create_task(consumer(std::move(make)));
    run_iterations(2);
    return task;
  }
};

Coro<int> twice(int x) {
  co_await asyncio::sleep(0s);
  co_return 2 * x;
}

AsyncGenerator<int> ticker(int n) {
  for (int i = 0; i < n; ++i) {
    co_await asyncio::sleep(0s);
    co_yield co_await twice(i);
  }
}

template <class T>
Coro<std::vector<T>> drain(AsyncGenerator<T>& gen) {
  std::vector<T> out;
  while (auto v = co_await gen.next()) out.push_back(std::move(*v));
  co_return out;
}

TEST_F(AsyncGeneratorTest, ValuesArriveInOrderEachExactlyOnceWithAwaitsBetween) {
  auto body = []() -> Coro<std::vector<int>> {
    AsyncGenerator<int> gen = ticker(4);
    co_return co_await drain(gen);
  };
  EXPECT_EQ(loop->run_until_complete(body()), (std::vector<int>{0, 2, 4, 6}));
}

TEST_F(AsyncGeneratorTest, CallingRunsNothingUntilNext) {
  std::vector<std::string> log;
  auto make = [&]() -> AsyncGenerator<int> {
    log.push_back("started");
    co_yield 1;
    log.push_back("resumed");
  };
  auto body = [&]() -> Coro<void> {
    AsyncGenerator<int> gen = make();
    co_await asyncio::sleep(0s);
    log.push_back("first next");
    auto v = co_await gen.next();
    log.push_back("got " + std::to_string(*v));
    auto end = co_await gen.next();
    EXPECT_FALSE(end.has_value());
    auto again = co_await gen.next();  // finished: nullopt again, the body does not rerun
    EXPECT_FALSE(again.has_value());
  };
  loop->run_until_complete(body());
  EXPECT_EQ(log, (std::vector<std::string>{"first next", "started", "got 1", "resumed"}));
}

TEST_F(AsyncGeneratorTest, AnAwaitInsideTheGeneratorSuspendsTheConsumingTask) {
  std::vector<std::string> log;
  auto future = loop->create_future<int>();
  auto make = [&]() -> AsyncGenerator<int> {
    log.push_back("generator waits");
    int v = co_await future;
    co_yield v;
  };
  auto setter = [&]() -> Coro<void> {
    log.push_back("other task runs");
    future.set_result(5);
    co_return;
  };
  auto body = [&]() -> Coro<int> {
    AsyncGenerator<int> gen = make();
    auto other = asyncio::create_task(setter());
    auto v = co_await gen.next();
    log.push_back("consumer resumed");
    co_await other;
    co_return *v;
  };
  EXPECT_EQ(loop->run_until_complete(body()), 5);
  EXPECT_EQ(log,
            (std::vector<std::string>{"generator waits", "other task runs", "consumer resumed"}));
}

TEST_F(AsyncGeneratorTest, MoveOnlyValuesAndCopiedLvalues) {
  auto boxes = []() -> AsyncGenerator<std::unique_ptr<int>> {
    auto kept = std::make_unique<int>(1);
    co_yield std::move(kept);
    co_await asyncio::sleep(0s);
    co_yield std::make_unique<int>(2);
  };
  auto words = []() -> AsyncGenerator<std::string> {
    std::string s = "same";
    co_yield s;
    co_yield s;
  };
  auto body = [&]() -> Coro<std::string> {
    AsyncGenerator<std::unique_ptr<int>> b = boxes();
    int sum = 0;
    while (auto p = co_await b.next()) sum += **p;
    AsyncGenerator<std::string> w = words();
    std::vector<std::string> got = co_await drain(w);
    co_return std::to_string(sum) + got[0] + got[1];
  };
  EXPECT_EQ(loop->run_until_complete(body()), "3samesame");
}

TEST_F(AsyncGeneratorTest, AGeneratorCanConsumeAnotherOne) {
  auto doubled = [](AsyncGenerator<int> in) -> AsyncGenerator<int> {
    while (auto v = co_await in.next()) co_yield *v * 2;
  };
  auto body = [&]() -> Coro<std::vector<int>> {
    AsyncGenerator<int> gen = doubled(ticker(3));
    co_return co_await drain(gen);
  };
  EXPECT_EQ(loop->run_until_complete(body()), (std::vector<int>{0, 4, 8}));
}

TEST_F(AsyncGeneratorTest, StepsMayComeFromDifferentTasks) {
  auto body = [&]() -> Coro<std::vector<int>> {
    AsyncGenerator<int> gen = ticker(3);
    auto step = [&gen]() -> Coro<int> {
      auto v = co_await gen.next();
      co_return *v;
    };
    std::vector<int> out;
    for (int i = 0; i < 3; ++i) out.push_back(co_await asyncio::create_task(step()));
    co_return out;
  };
  EXPECT_EQ(loop->run_until_complete(body()), (std::vector<int>{0, 2, 4}));
}

// --- Exceptions -------------------------------------------------------------------------------

TEST_F(AsyncGeneratorTest, ExceptionCrossesToTheConsumersNext) {
  auto failing = []() -> AsyncGenerator<int> {
    Instances local;
    co_yield 1;
    co_await asyncio::sleep(0s);
    throw std::out_of_range("after one");
  };
  auto body = [&]() -> Coro<std::string> {
    AsyncGenerator<int> gen = failing();
    std::string result;
    auto first = co_await gen.next();
    result += std::to_string(*first);
    try {
      co_await gen.next();
      result += " not thrown";
    } catch (const std::out_of_range& e) {
      result += std::string(" ") + e.what();
    }
    EXPECT_EQ(Instances::alive, 0);  // the body ended: its locals are gone
    auto after = co_await gen.next();
    result += after ? " value" : " end";
    co_return result;
  };
  EXPECT_EQ(loop->run_until_complete(body()), "1 after one end");
  EXPECT_EQ(Instances::destroyed, 1);
}

// --- Cancellation, aclose, early exit ---------------------------------------------------------

TEST_F(AsyncGeneratorTest, CancellingTheConsumerCancelsTheAwaitInsideTheGenerator) {
  bool generator_saw_cancel = false;
  auto slow = [&]() -> AsyncGenerator<int> {
    Instances outer;
    co_yield 1;
    try {
      Instances inner;
      co_await asyncio::sleep(1h);
    } catch (const asyncio::CancelledError& e) {
      generator_saw_cancel = e.message() == "stop";
      throw;
    }
    co_yield 2;
  };
  int got = 0;
  auto consumer = [&]() -> Coro<void> {
    AsyncGenerator<int> gen = slow();
    while (auto v = co_await gen.next()) got += *v;
  };
  auto body = [&]() -> Coro<void> {
    auto task = asyncio::create_task(consumer());
    co_await asyncio::sleep(0s);  // the consumer takes 1, then waits inside the generator
    co_await asyncio::sleep(0s);
    EXPECT_EQ(Instances::alive, 2);
    task.cancel("stop");
    bool cancelled = false;
    try {
      co_await task;
    } catch (const asyncio::CancelledError&) {
      cancelled = true;
    }
    EXPECT_TRUE(cancelled);
  };
  loop->run_until_complete(body());
  EXPECT_TRUE(generator_saw_cancel);
  EXPECT_EQ(got, 1);
  EXPECT_EQ(Instances::alive, 0);
  EXPECT_EQ(Instances::destroyed, 2);
}

TEST_F(AsyncGeneratorTest, CancellingTheConsumerCancelsTheFutureTheGeneratorAwaits) {
  auto future = loop->create_future<int>();
  auto waiting = [&]() -> AsyncGenerator<int> {
    Instances local;
    co_yield co_await future;
  };
  auto task = step_once_in_a_task(waiting);
  EXPECT_EQ(Instances::alive, 1);
  task.cancel();
  EXPECT_THROW(loop->run_until_complete(task), asyncio::CancelledError);
  EXPECT_TRUE(future.cancelled());
  EXPECT_EQ(Instances::alive, 0);
}

TEST_F(AsyncGeneratorTest, AcloseDestroysASuspendedGeneratorAndEndsIt) {
  bool after_yield = false;
  auto make = [&]() -> AsyncGenerator<int> {
    Instances a(1);
    for (int i = 0;; ++i) {
      Instances b(2);
      co_yield i;
      after_yield = true;
    }
  };
  auto body = [&]() -> Coro<void> {
    AsyncGenerator<int> gen = make();
    auto v = co_await gen.next();
    EXPECT_EQ(*v, 0);
    EXPECT_EQ(Instances::alive, 2);
    co_await gen.aclose();
    EXPECT_EQ(Instances::alive, 0);
    auto end = co_await gen.next();
    EXPECT_FALSE(end.has_value());
    co_await gen.aclose();  // closing twice is fine, as in Python
    EXPECT_TRUE(static_cast<bool>(gen));
  };
  loop->run_until_complete(body());
  EXPECT_FALSE(after_yield);  // unlike Python's GeneratorExit, no code after the co_yield runs
  EXPECT_EQ(Instances::destroyed, 2);
}

TEST_F(AsyncGeneratorTest, AcloseBeforeTheFirstStepDestroysItsParameters) {
  auto make = [](Instances owned) -> AsyncGenerator<int> { co_yield owned.id; };
  auto body = [&]() -> Coro<bool> {
    AsyncGenerator<int> gen = make(Instances(3));
    EXPECT_EQ(Instances::alive, 1);
    co_await gen.aclose();
    auto v = co_await gen.next();
    co_return Instances::alive == 0 && !v;
  };
  EXPECT_TRUE(loop->run_until_complete(body()));
}

TEST_F(AsyncGeneratorTest, LeavingTheLoopEarlyDestroysTheGenerator) {
  auto make = []() -> AsyncGenerator<int> {
    Instances local;
    for (int i = 0;; ++i) {
      co_await asyncio::sleep(0s);
      co_yield i;
    }
  };
  auto body = [&]() -> Coro<int> {
    int last = -1;
    AsyncGenerator<int> gen = make();
    while (auto v = co_await gen.next()) {
      last = *v;
      if (last == 3) break;
    }
    co_return last;
  };
  EXPECT_EQ(loop->run_until_complete(body()), 3);
  EXPECT_EQ(Instances::alive, 0);
  EXPECT_EQ(Instances::destroyed, 1);
}

TEST_F(AsyncGeneratorTest, LoopCloseDestroysAGeneratorSuspendedInsideAnAwait) {
  auto make = []() -> AsyncGenerator<int> {
    Instances local;
    co_await asyncio::sleep(1h);
    co_yield 1;
  };
  auto task = step_once_in_a_task(make);
  EXPECT_EQ(Instances::alive, 1);
  loop->close();
  EXPECT_EQ(reported("Task was destroyed but it is pending!"), 1u);
  EXPECT_EQ(Instances::alive, 0);
}

// --- Misuse -----------------------------------------------------------------------------------

TEST_F(AsyncGeneratorTest, NextOnAMovedFromGeneratorIsARuntimeError) {
  auto body = []() -> Coro<bool> {
    AsyncGenerator<int> a = ticker(1);
    AsyncGenerator<int> b = std::move(a);
    bool refused = false;
    try {
      (void)a.next();  // NOLINT(bugprone-use-after-move): the point of the test
    } catch (const asyncio::RuntimeError&) {
      refused = true;
    }
    auto v = co_await b.next();
    co_return refused && !a && v == 0;
  };
  EXPECT_TRUE(loop->run_until_complete(body()));
}

TEST_F(AsyncGeneratorTest, NextOrAcloseWhileAnotherNextRunsItIsARuntimeError) {
  auto body = []() -> Coro<std::string> {
    AsyncGenerator<int> gen = ticker(2);
    auto stepping = [&gen]() -> Coro<void> { co_await gen.next(); };
    auto task = asyncio::create_task(stepping());
    co_await asyncio::sleep(0s);  // the task is now inside the generator's sleep(0)
    std::string errors;
    try {
      (void)gen.next();
    } catch (const asyncio::RuntimeError& e) {
      errors += e.what();
    }
    try {
      (void)gen.aclose();
    } catch (const asyncio::RuntimeError& e) {
      errors += std::string("; ") + e.what();
    }
    co_await task;
    co_return errors;
  };
  EXPECT_EQ(loop->run_until_complete(body()),
            "anext(): asynchronous generator is already running; aclose(): asynchronous generator "
            "is already running");
}

// --- Stack safety -----------------------------------------------------------------------------

TEST(AsyncGeneratorStackSafety, MillionValuesWithoutSuspending) {
  auto count = [](int n) -> AsyncGenerator<int> {
    for (int i = 0; i < n; ++i) co_yield i;
  };
  auto body = [&]() -> Coro<long long> {
    AsyncGenerator<int> gen = count(1'000'000);
    long long sum = 0;
    while (auto v = co_await gen.next()) sum += *v & 1;
    co_return sum;
  };
  EXPECT_EQ(asyncio::run(body()), 500'000);
}

}  // namespace
