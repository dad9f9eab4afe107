// Coro<T>: laziness, values and exceptions across awaits, move-only results, single await, and
// stack safety of long and deep chains of awaits.
#include <memory>
#include <stdexcept>

#include "support/asyncio_test.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;

namespace {

Coro<int> answer(int* calls) {
  ++*calls;
  co_return 42;
}

TEST(Coro, CallingRunsNothingUntilAwaited) {
  int calls = 0;
  auto body = [&]() -> Coro<int> {
    Coro<int> lazy = answer(&calls);
    EXPECT_EQ(calls, 0);
    int value = co_await std::move(lazy);
    EXPECT_EQ(calls, 1);
    co_return value;
  };
  EXPECT_EQ(asyncio::run(body()), 42);
}

TEST(Coro, DroppingAnUnawaitedCoroRunsNothingAndLeaksNothing) {
  int calls = 0;
  { Coro<int> never = answer(&calls); }
  EXPECT_EQ(calls, 0);
}

Coro<int> thrower() {
  co_await asyncio::sleep(0s);
  throw std::out_of_range("deep");
}
Coro<int> middle() { co_return 1 + co_await thrower(); }

TEST(Coro, ExceptionsCrossAwaitsToTheAwaiter) {
  auto body = []() -> Coro<std::string> {
    try {
      co_await middle();
    } catch (const std::out_of_range& e) {
      co_return e.what();
    }
    co_return "not thrown";
  };
  EXPECT_EQ(asyncio::run(body()), "deep");
}

TEST(Coro, ExceptionEscapingTheMainCoroutineReachesTheCallerOfRun) {
  EXPECT_THROW(asyncio::run(middle()), std::out_of_range);
}

TEST(Coro, MoveOnlyResults) {
  auto make = []() -> Coro<std::unique_ptr<int>> { co_return std::make_unique<int>(7); };
  auto body = [&]() -> Coro<int> {
    std::unique_ptr<int> p = co_await make();
    auto task = asyncio::create_task(make());
    std::unique_ptr<int> q = co_await std::move(task);
    co_return *p + *q;
  };
  EXPECT_EQ(asyncio::run(body()), 14);
}

TEST(Coro, SecondAwaitIsARuntimeError) {
  auto body = []() -> Coro<int> {
    int calls = 0;
    Coro<int> once = answer(&calls);
    co_await once;
    try {
      co_await once;
    } catch (const asyncio::RuntimeError& e) {
      EXPECT_STREQ(e.what(), "cannot reuse already awaited coroutine");
      co_return calls;
    }
    co_return -1;
  };
  EXPECT_EQ(asyncio::run(body()), 1);
}

TEST(Coro, AwaitingAMovedFromCoroIsARuntimeError) {
  auto body = []() -> Coro<bool> {
    int calls = 0;
    Coro<int> a = answer(&calls);
    Coro<int> b = std::move(a);
    bool refused = false;
    try {
      co_await a;  // NOLINT(bugprone-use-after-move): the point of the test
    } catch (const asyncio::RuntimeError&) {
      refused = true;
    }
    co_return refused && co_await b == 42;
  };
  EXPECT_TRUE(asyncio::run(body()));
}

TEST(Coro, AwaitingACoroHandedToATaskIsARuntimeError) {
  auto body = []() -> Coro<bool> {
    int calls = 0;
    Coro<int> c = answer(&calls);
    auto task = asyncio::create_task(std::move(c));
    co_await task;
    try {
      co_await c;  // NOLINT(bugprone-use-after-move)
    } catch (const asyncio::RuntimeError&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(asyncio::run(body()));
}

// --- Stack safety: must hold in every build, g++ -O0 and ASan included ------------------------

Coro<int> immediate(int i) { co_return i; }

TEST(CoroStackSafety, TenMillionSynchronousAwaitsInALoop) {
  auto body = []() -> Coro<long long> {
    long long sum = 0;
    for (int i = 0; i < 10'000'000; ++i) sum += co_await immediate(i & 1);
    co_return sum;
  };
  EXPECT_EQ(asyncio::run(body()), 5'000'000);
}

Coro<int> nested(int depth) {
  if (depth == 0) co_return 0;
  co_return 1 + co_await nested(depth - 1);
}

TEST(CoroStackSafety, ChainOfOneHundredThousandNestedAwaits) {
  EXPECT_EQ(asyncio::run(nested(100'000)), 100'000);
}

Coro<int> nested_suspending(int depth) {
  if (depth == 0) {
    co_await asyncio::sleep(0s);
    co_return 0;
  }
  co_return 1 + co_await nested_suspending(depth - 1);
}

TEST(CoroStackSafety, DeepChainThatSuspendsAtTheBottom) {
  EXPECT_EQ(asyncio::run(nested_suspending(100'000)), 100'000);
}

}  // namespace
