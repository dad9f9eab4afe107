// Coro<T>: laziness, values and exceptions across awaits, move-only results, single await, and
// stack safety of long and deep chains of awaits.
#include <coroutine>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

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
    co_return refused&& co_await b == 42;
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

// --- Awaitables that are not the library's own ------------------------------------------------

Coro<int> seven() { co_return 7; }

TEST(ForeignAwaitables, SuspendAlwaysGivesTheLoopOneTurnLikePythonsBareYield) {
  std::vector<std::string> order;
  auto other = [&]() -> Coro<void> {
    order.push_back("other");
    co_return;
  };
  auto body = [&]() -> Coro<int> {
    auto t = asyncio::create_task(other());
    order.push_back("before");
    co_await std::suspend_always{};
    order.push_back("after");
    co_await t;
    co_return co_await seven();
  };
  EXPECT_EQ(asyncio::run(body()), 7);
  EXPECT_EQ(order, (std::vector<std::string>{"before", "other", "after"}));
}

// Resumes its coroutine from a call_soon callback of the running loop.
struct ResumedFromCallSoon {
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) const {
    asyncio::get_running_loop().call_soon([h] { h.resume(); });
  }
  int await_resume() const noexcept { return 5; }
};

TEST(ForeignAwaitables, AnAwaiterResumingFromACallbackResumesTheTaskOnTheLoop) {
  auto body = [&]() -> Coro<int> {
    int a = co_await ResumedFromCallSoon{};
    int b = co_await seven();  // the task is stepped as usual afterwards
    co_await asyncio::sleep(1ms);
    co_return a + b + (asyncio::current_task().valid() ? 100 : 0);
  };
  EXPECT_EQ(asyncio::run(body()), 112);
}

// Resumes its coroutine from a thread of its own, as a thread pool of another library would.
struct ResumedFromAnotherThread {
  std::thread* worker;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) const {
    *worker = std::thread([h] { h.resume(); });
  }
  std::thread::id await_resume() const noexcept { return std::this_thread::get_id(); }
};

TEST(ForeignAwaitables, AnAwaiterResumingFromAnotherThreadResumesTheTaskOnTheLoopsThread) {
  std::thread worker;
  auto body = [&]() -> Coro<bool> {
    const auto loop_thread = std::this_thread::get_id();
    bool all_on_loop = true;
    for (int i = 0; i < 50; ++i) {
      const std::thread::id resumed_on = co_await ResumedFromAnotherThread{&worker};
      worker.join();
      all_on_loop = all_on_loop && resumed_on == loop_thread;
      co_await seven();
    }
    co_return all_on_loop;
  };
  EXPECT_TRUE(asyncio::run(body()));
}

// Completes without suspending, in each of the ways await_suspend can say so.
struct DeclinesToSuspend {
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<>) const noexcept { return false; }
  int await_resume() const noexcept { return 1; }
};
struct TransfersBackAtOnce {
  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> h) const noexcept { return h; }
  int await_resume() const noexcept { return 2; }
};
struct ResumesInsideAwaitSuspend {
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) const { h.resume(); }
  int await_resume() const noexcept { return 3; }
};

// A coroutine type of another library: awaiting it starts it by symmetric transfer, and it
// resumes its awaiter when it finishes.
struct ForeignTask {
  struct promise_type {
    std::coroutine_handle<> continuation;
    int value = 0;
    ForeignTask get_return_object() {
      return {std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    auto final_suspend() noexcept {
      struct Back {
        bool await_ready() noexcept { return false; }
        std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) noexcept {
          return h.promise().continuation;
        }
        void await_resume() noexcept {}
      };
      return Back{};
    }
    void return_value(int v) { value = v; }
    void unhandled_exception() { std::terminate(); }
  };
  std::coroutine_handle<promise_type> frame;
  ForeignTask(std::coroutine_handle<promise_type> f) : frame(f) {}
  ForeignTask(ForeignTask&& other) noexcept : frame(std::exchange(other.frame, {})) {}
  ~ForeignTask() {
    if (frame) frame.destroy();
  }
  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiter) noexcept {
    frame.promise().continuation = awaiter;
    return frame;
  }
  int await_resume() const noexcept { return frame.promise().value; }
};

ForeignTask foreign_four() { co_return 4; }

TEST(ForeignAwaitables, SynchronousCompletionsInEveryFormGoOnAtOnce) {
  auto body = [&]() -> Coro<int> {
    int sum = co_await DeclinesToSuspend{};
    sum += co_await TransfersBackAtOnce{};
    sum += co_await ResumesInsideAwaitSuspend{};
    sum += co_await foreign_four();
    sum += co_await seven();
    co_return sum;
  };
  EXPECT_EQ(asyncio::run(body()), 1 + 2 + 3 + 4 + 7);
}

TEST(ForeignAwaitables, ACancellationIsRaisedWhenTheForeignAwaitableResumes) {
  auto body = [&]() -> Coro<std::string> {
    std::string log;
    auto waiter = [&]() -> Coro<void> {
      co_await ResumedFromCallSoon{};
      log += "not reached";
    };
    auto t = asyncio::create_task(waiter());
    co_await asyncio::sleep(0s);  // t is inside the foreign await
    t.cancel();
    try {
      co_await t;
    } catch (const asyncio::CancelledError&) {
      log += "cancelled";
    }
    co_return log;
  };
  EXPECT_EQ(asyncio::run(body()), "cancelled");
}

}  // namespace
