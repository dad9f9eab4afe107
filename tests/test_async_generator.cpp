// AsyncGenerator<T, S>: laziness, order, awaits between values that suspend the consuming task,
// exceptions, cancellation at an await inside the generator, early exit, loop close, misuse
// errors, Python's asend(), athrow() and aclose() with GeneratorExit (ported from CPython's
// Lib/test/test_asyncgen.py), shutdown_asyncgens, and stack safety of values that need no
// suspension.
#include <algorithm>
#include <memory>
#include <optional>
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

TEST_F(AsyncGeneratorTest, AcloseThrowsGeneratorExitAtTheCoYieldAndEndsIt) {
  bool after_yield = false;
  bool handler_ran = false;
  auto make = [&]() -> AsyncGenerator<int> {
    Instances a(1);
    for (int i = 0;; ++i) {
      Instances b(2);
      try {
        co_yield i;
      } catch (const asyncio::GeneratorExit&) {
        handler_ran = Instances::alive == 2;  // a and b are still there
        throw;
      }
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
  run(body());
  EXPECT_TRUE(handler_ran);
  EXPECT_FALSE(after_yield);
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

// A generator kept outside the task that steps it outlives the task's teardown: its frame is
// destroyed later, by its owner. What it waited on must not refer to the task by then (the task
// is freed), and the future it awaited must not still hold the task among its callbacks.
TEST_F(AsyncGeneratorTest, AGeneratorAwaitingAFutureOutlivesItsTornDownTask) {
  auto future = loop->create_future<int>();
  auto make = [](asyncio::Future<int> f) -> AsyncGenerator<int> {
    Instances local;
    co_yield co_await f;
  };
  std::optional<AsyncGenerator<int>> gen(make(future));
  auto consumer = [&gen]() -> Coro<void> { co_await gen->next(); };
  (void)loop->create_task(consumer());  // no handle kept: close() frees the task
  run_iterations(2);
  EXPECT_EQ(Instances::alive, 1);
  loop->close();
  EXPECT_EQ(reported("Task was destroyed but it is pending!"), 1u);
  EXPECT_EQ(Instances::alive, 1);  // the generator's frame is its owner's
  gen.reset();
  EXPECT_EQ(Instances::alive, 0);
  EXPECT_FALSE(future.done());
  future.set_result(1);  // nobody left to wake
}

TEST_F(AsyncGeneratorTest, AGeneratorAsleepOutlivesItsTornDownTask) {
  auto make = []() -> AsyncGenerator<int> {
    Instances local;
    co_await asyncio::sleep(1h);
    co_yield 1;
  };
  std::optional<AsyncGenerator<int>> gen(make());
  auto consumer = [&gen]() -> Coro<void> { co_await gen->next(); };
  (void)loop->create_task(consumer());
  run_iterations(2);
  EXPECT_EQ(Instances::alive, 1);
  loop->close();
  EXPECT_EQ(reported("Task was destroyed but it is pending!"), 1u);
  gen.reset();
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

// An awaiter looks at its generator when awaited, and is awaited once
// (test_async_gen_await_same_anext_coro_twice, test_async_gen_await_same_aclose_coro_twice).
TEST_F(AsyncGeneratorTest, AnAwaiterIsCheckedWhenAwaitedAndAwaitedOnce) {
  auto body = []() -> Coro<std::string> {
    std::string log;
    auto what = [&log](auto& awaiter) -> Coro<void> {
      try {
        co_await awaiter;
        log += "ok;";
      } catch (const asyncio::RuntimeError& e) {
        log += std::string(e.what()) + ";";
      }
    };
    {  // made before aclose(), awaited after it: the frame is gone, so nothing is given
      AsyncGenerator<int> gen = ticker(3);
      auto held = gen.next();
      co_await gen.aclose();
      EXPECT_EQ(co_await held, std::nullopt);
    }
    {
      AsyncGenerator<int> gen = ticker(3);
      auto step = gen.next();
      co_await what(step);
      co_await what(step);
      auto close = gen.aclose();
      co_await what(close);
      co_await what(close);
      auto thrown = gen.athrow(std::runtime_error("x"));  // closed: gives nothing, once
      co_await what(thrown);
      co_await what(thrown);
    }
    {  // made while nobody runs it, awaited while another task does
      AsyncGenerator<int> gen = ticker(2);
      auto early = gen.next();
      auto stepping = [&gen]() -> Coro<void> { co_await gen.next(); };
      auto task = asyncio::create_task(stepping());
      co_await asyncio::sleep(0s);  // the task is inside the generator's sleep(0)
      co_await what(early);
      co_await task;
    }
    co_return log;
  };
  EXPECT_EQ(loop->run_until_complete(body()),
            "ok;cannot reuse already awaited __anext__()/asend();ok;"
            "cannot reuse already awaited aclose()/athrow();ok;"
            "cannot reuse already awaited aclose()/athrow();"
            "anext(): asynchronous generator is already running;");
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

// --- asend() -----------------------------------------------------------------------------------

// test_asyncgen.py, test_async_gen_asyncio_anext_05: values sent with asend() become the
// values of the co_yield expressions.
TEST_F(AsyncGeneratorTest, AsendGivesTheValueToTheCoYield) {
  auto foo = []() -> AsyncGenerator<int, int> {
    std::optional<int> v = co_yield 1;
    v = co_yield v.value_or(-1);
    co_yield v.value_or(-1) * 100;
  };
  auto body = [&]() -> Coro<std::vector<int>> {
    AsyncGenerator<int, int> it = foo();
    std::vector<int> got;
    got.push_back((co_await it.next()).value_or(-2));
    got.push_back((co_await it.asend(10)).value_or(-2));
    got.push_back((co_await it.asend(12)).value_or(-2));
    auto end = co_await it.next();
    got.push_back(end ? 0 : -3);
    co_return got;
  };
  EXPECT_EQ(run(body()), (std::vector<int>{1, 10, 1200, -3}));
}

// test_asyncgen.py, test_async_gen_exception_10: a value sent to a generator that has not
// started is refused (Python's TypeError, a RuntimeError here); it stays startable.
TEST_F(AsyncGeneratorTest, AsendToAJustStartedGeneratorIsRefused) {
  auto gen = []() -> AsyncGenerator<int, int> { co_yield 123; };
  auto body = [&]() -> Coro<std::string> {
    AsyncGenerator<int, int> g = gen();
    std::string error;
    try {
      (void)g.asend(100);
    } catch (const asyncio::RuntimeError& e) {
      error = e.what();
    }
    auto v = co_await g.next();
    co_return error + " / " + std::to_string(v.value_or(-1));
  };
  EXPECT_EQ(run(body()), "can't send non-None value to a just-started async generator / 123");
}

// test_asyncgen.py, test_async_gen_asyncio_asend_01: asend() with awaits on both sides of the
// co_yield; the last asend() finds the body finished (nullopt, Python's StopAsyncIteration),
// after its cleanup awaited.
TEST_F(AsyncGeneratorTest, AsendWithAwaitsAndCleanupThatAwaits) {
  int done = 0;
  auto gen = [&]() -> AsyncGenerator<int, int> {
    co_await asyncio::sleep(0s);
    std::optional<int> v = co_yield 1;
    co_await asyncio::sleep(0s);
    co_yield *v * 2;
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(0s);  // Python's finally, which awaits
    co_await asyncio::sleep(0s);
    done = 1;
  };
  auto body = [&]() -> Coro<std::string> {
    AsyncGenerator<int, int> g = gen();
    auto v = co_await g.next();
    auto w = co_await g.asend(100);
    auto end = co_await g.asend(5);
    co_return std::to_string(v.value_or(-1)) + " " + std::to_string(w.value_or(-1)) +
        (end ? " value" : " end");
  };
  EXPECT_EQ(run(body()), "1 200 end");
  EXPECT_EQ(done, 1);
}

// test_asyncgen.py, test_async_gen_asyncio_asend_02 and _03: an exception (or a cancellation)
// inside the body during asend() runs its cleanup, which awaits, and comes out of the asend().
TEST_F(AsyncGeneratorTest, AnErrorOrACancellationDuringAsendComesOutAfterTheCleanup) {
  int done = 0;
  auto future = loop->create_future<void>();
  auto gen = [&](bool cancel) -> AsyncGenerator<int, int> {
    std::exception_ptr error;
    try {
      co_await asyncio::sleep(0s);
      std::optional<int> v = co_yield 1;
      if (cancel) {
        loop->call_soon([&] { future.cancel(); });
        co_await future;
      } else {
        co_await asyncio::sleep(0s);
        throw std::domain_error("division by zero");
      }
      done += 1000;
      co_yield *v * 2;
    } catch (...) {
      error = std::current_exception();
    }
    co_await asyncio::sleep(0s);  // Python's finally
    co_await asyncio::sleep(0s);
    done += 1;
    if (error) std::rethrow_exception(error);
  };
  auto body = [&](bool cancel) -> Coro<void> {
    AsyncGenerator<int, int> g = gen(cancel);
    auto v = co_await g.next();
    EXPECT_EQ(v, 1);
    co_await g.asend(100);
  };
  EXPECT_THROW(run(body(false)), std::domain_error);
  EXPECT_EQ(done, 1);
  EXPECT_THROW(run(body(true)), asyncio::CancelledError);
  EXPECT_EQ(done, 2);
}

// --- athrow() -----------------------------------------------------------------------------------

// test_asyncgen.py, test_async_gen_asyncio_athrow_01: athrow() throws at the co_yield; the
// body catches it, awaits, and yields again: that value is athrow()'s.
TEST_F(AsyncGeneratorTest, AthrowIsCaughtAtTheCoYieldAndGivesTheNextValue) {
  struct FooEr {};
  int done = 0;
  auto gen = [&]() -> AsyncGenerator<int, int> {
    co_await asyncio::sleep(0s);
    int v = 0;
    bool caught = false;
    try {
      v = (co_yield 1).value_or(0);
    } catch (const FooEr&) {
      v = 1000;
      caught = true;
    }
    if (caught) co_await asyncio::sleep(0s);  // no co_await inside a handler
    co_yield v * 2;
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(0s);  // Python's finally
    done = 1;
  };
  auto body = [&]() -> Coro<std::string> {
    AsyncGenerator<int, int> g = gen();
    auto v = co_await g.next();
    FooEr error;
    auto w = co_await g.athrow(error);
    auto end = co_await g.asend(0);
    co_return std::to_string(v.value_or(-1)) + " " + std::to_string(w.value_or(-1)) +
        (end ? " value" : " end");
  };
  EXPECT_EQ(run(body()), "1 2000 end");
  EXPECT_EQ(done, 1);
}

// test_asyncgen.py, test_async_gen_asyncio_athrow_02: the handler awaits something that is
// cancelled; the CancelledError comes out of the athrow(), after the cleanup ran.
TEST_F(AsyncGeneratorTest, ACancellationWhileHandlingAthrowComesOutOfIt) {
  struct FooEr {};
  int done = 0;
  auto future = loop->create_future<void>();
  auto gen = [&]() -> AsyncGenerator<int, int> {
    std::exception_ptr error;
    try {
      bool caught = false;
      try {
        co_yield 1;
      } catch (const FooEr&) {
        caught = true;
      }
      if (caught) {
        loop->call_soon([&] { future.cancel(); });
        co_await future;
      }
      co_yield 2;
    } catch (...) {
      error = std::current_exception();
    }
    co_await asyncio::sleep(0s);  // Python's finally
    done = 1;
    if (error) std::rethrow_exception(error);
  };
  auto body = [&]() -> Coro<bool> {
    AsyncGenerator<int, int> g = gen();
    co_await g.next();
    FooEr error;
    try {
      co_await g.athrow(error);
    } catch (const asyncio::CancelledError&) {
      co_return done == 1;
    }
    co_return false;
  };
  EXPECT_TRUE(run(body()));
}

// test_asyncgen.py, test_async_gen_asyncio_athrow_03: a body that swallows the exception and
// finishes makes athrow() give nullopt (Python's StopAsyncIteration).
TEST_F(AsyncGeneratorTest, AthrowThatEndsTheGeneratorGivesNullopt) {
  int done = 0;
  auto gen = [&]() -> AsyncGenerator<int> {
    try {
      co_yield 0;
    } catch (...) {
    }
    done = 1;
  };
  auto body = [&]() -> Coro<void> {
    AsyncGenerator<int> g = gen();
    co_await g.next();
    auto error = std::make_exception_ptr(std::invalid_argument("v"));
    auto v = co_await g.athrow(error);
    EXPECT_FALSE(v.has_value());
    done += 10;
  };
  run(body());
  EXPECT_EQ(done, 11);
}

// test_asyncgen.py, test_async_gen_asyncio_anext_04 (run2): athrow() on a generator inside a
// try block gives the value of its handler's path, and the iteration goes on from there.
TEST_F(AsyncGeneratorTest, IterationGoesOnAfterACaughtAthrow) {
  auto foo = []() -> AsyncGenerator<int> {
    co_yield 1;
    co_await asyncio::sleep(0s);
    bool caught = false;
    try {
      co_yield 2;
      co_yield 3;
    } catch (const std::domain_error&) {
      caught = true;
    }
    if (caught) co_yield 1000;
    co_await asyncio::sleep(0s);
    co_yield 4;
  };
  auto body = [&]() -> Coro<std::vector<int>> {
    AsyncGenerator<int> it = foo();
    std::vector<int> got;
    got.push_back(*co_await it.next());
    got.push_back(*co_await it.next());
    std::domain_error error("zero");
    got.push_back(*co_await it.athrow(error));
    got.push_back(*co_await it.next());
    auto end = co_await it.next();
    if (!end) got.push_back(-1);
    co_return got;
  };
  EXPECT_EQ(run(body()), (std::vector<int>{1, 2, 1000, 4, -1}));
}

// test_generators.py, coroutine_tests ("throw on just-opened generator"), for an async one:
// the exception comes out at once, nothing runs, and the generator is closed. On a generator
// that has finished, athrow() gives nullopt (CPython's athrow on a completed frame).
TEST_F(AsyncGeneratorTest, AthrowBeforeTheFirstStepOrAfterTheEnd) {
  bool ran = false;
  auto gen = [&](Instances) -> AsyncGenerator<int> {
    ran = true;
    co_yield 1;
  };
  auto body = [&]() -> Coro<void> {
    AsyncGenerator<int> g = gen(Instances(1));
    EXPECT_EQ(Instances::alive, 1);
    auto error = std::make_exception_ptr(std::invalid_argument("7"));
    bool thrown = false;
    try {
      co_await g.athrow(error);
    } catch (const std::invalid_argument&) {
      thrown = true;
    }
    EXPECT_TRUE(thrown);
    EXPECT_EQ(Instances::alive, 0);  // the frame is gone
    auto v = co_await g.next();
    EXPECT_FALSE(v.has_value());

    AsyncGenerator<int> finished = gen(Instances(2));
    while (co_await finished.next()) {
    }
    auto after = co_await finished.athrow(error);
    EXPECT_FALSE(after.has_value());
  };
  run(body());
  EXPECT_TRUE(ran);  // the second generator only
}

// test_asyncgen.py, test_async_gen_exception_11: GeneratorExit thrown with athrow() into a
// generator that does not catch it comes out of the athrow(), where the caller may handle it.
TEST_F(AsyncGeneratorTest, AthrowOfGeneratorExitComesBack) {
  auto async_gen = []() -> AsyncGenerator<int> {
    co_yield 10;
    co_yield 20;
  };
  auto async_gen_wrapper = [&]() -> AsyncGenerator<int> {
    co_yield 1;
    AsyncGenerator<int> asg = async_gen();
    co_await asg.next();
    bool caught = false;
    try {
      asyncio::GeneratorExit exit;
      co_await asg.athrow(exit);
    } catch (const asyncio::GeneratorExit&) {
      caught = true;
    }
    if (caught) co_yield 2;
    co_yield 3;
  };
  auto body = [&]() -> Coro<std::vector<int>> {
    AsyncGenerator<int> g = async_gen_wrapper();
    co_return co_await drain(g);
  };
  EXPECT_EQ(run(body()), (std::vector<int>{1, 2, 3}));
}

// --- aclose() -----------------------------------------------------------------------------------

// test_asyncgen.py, test_async_gen_asyncio_aclose_06: cleanup that awaits, then yields:
// RuntimeError("async generator ignored GeneratorExit").
TEST_F(AsyncGeneratorTest, YieldingInResponseToAcloseIsARuntimeError) {
  auto foo = []() -> AsyncGenerator<int> {
    try {
      co_yield 1;
      throw std::domain_error("not reached");
    } catch (const asyncio::GeneratorExit&) {
    }
    co_await asyncio::sleep(0s);
    co_yield 12;
  };
  auto body = [&]() -> Coro<std::string> {
    AsyncGenerator<int> gen = foo();
    co_await gen.next();
    try {
      co_await gen.aclose();
    } catch (const asyncio::RuntimeError& e) {
      co_return e.what();
    }
    co_return "no error";
  };
  EXPECT_EQ(run(body()), "async generator ignored GeneratorExit");
}

// test_asyncgen.py, test_async_gen_asyncio_aclose_07 and _08: the cleanup after the co_yield
// runs and awaits; the code after it does not. In _08 the body would next await a future that
// never completes: aclose() does not get there.
TEST_F(AsyncGeneratorTest, AcloseRunsCleanupThatAwaits) {
  int done = 0;
  auto future = loop->create_future<void>();
  auto foo = [&](bool await_future) -> AsyncGenerator<int> {
    bool exiting = false;
    try {
      co_yield 1;
      if (await_future) co_await future;
      done += 1000;
      co_yield 2;
    } catch (const asyncio::GeneratorExit&) {
      exiting = true;
    }
    co_await asyncio::sleep(0s);  // Python's finally
    co_await asyncio::sleep(0s);
    done += 1;
    if (exiting) throw asyncio::GeneratorExit();
    done += 1000;
  };
  auto body = [&](bool await_future) -> Coro<void> {
    AsyncGenerator<int> gen = foo(await_future);
    auto v = co_await gen.next();
    EXPECT_EQ(v, 1);
    co_await gen.aclose();
  };
  run(body(false));
  EXPECT_EQ(done, 1);
  run(body(true));
  EXPECT_EQ(done, 2);
  EXPECT_FALSE(future.done());
}

// test_asyncgen.py, test_async_gen_asyncio_aclose_10: a body that swallows GeneratorExit and
// finishes closes normally.
TEST_F(AsyncGeneratorTest, SwallowingGeneratorExitAndFinishingClosesNormally) {
  int done = 0;
  auto gen = [&]() -> AsyncGenerator<int> {
    try {
      co_yield 0;
    } catch (...) {
    }
    done = 1;
  };
  auto body = [&]() -> Coro<void> {
    AsyncGenerator<int> g = gen();
    co_await g.next();
    co_await g.aclose();
    done += 10;
  };
  run(body());
  EXPECT_EQ(done, 11);
}

// test_asyncgen.py, test_async_gen_asyncio_aclose_11: a body that swallows GeneratorExit and
// yields again: RuntimeError, and the code after that co_yield does not run.
TEST_F(AsyncGeneratorTest, SwallowingGeneratorExitAndYieldingIsARuntimeError) {
  int done = 0;
  auto gen = [&]() -> AsyncGenerator<int> {
    try {
      co_yield 0;
    } catch (...) {
    }
    co_yield 1;
    done += 1;
  };
  auto body = [&]() -> Coro<void> {
    AsyncGenerator<int> g = gen();
    co_await g.next();
    bool refused = false;
    try {
      co_await g.aclose();
    } catch (const asyncio::RuntimeError& e) {
      refused = std::string(e.what()).find("ignored GeneratorExit") != std::string::npos;
    }
    EXPECT_TRUE(refused);
    done += 10;
  };
  run(body());
  EXPECT_EQ(done, 10);
}

// test_asyncgen.py, test_async_gen_asyncio_aclose_12: the cleanup awaits a task that fails,
// and handles its error.
TEST_F(AsyncGeneratorTest, AcloseCleanupMayAwaitATask) {
  int done = 0;
  auto target = []() -> Coro<void> {
    co_await asyncio::sleep(0s);
    throw std::domain_error("division by zero");
  };
  auto foo = [&]() -> AsyncGenerator<int> {
    asyncio::Task<void> task = asyncio::create_task(target());
    try {
      co_yield 1;
    } catch (const asyncio::GeneratorExit&) {
    }
    try {
      co_await task;
    } catch (const std::domain_error&) {
      done = 1;
    }
  };
  auto body = [&]() -> Coro<void> {
    AsyncGenerator<int> gen = foo();
    co_await gen.next();
    co_await gen.aclose();
  };
  run(body());
  EXPECT_EQ(done, 1);
}

// test_asyncgen.py, test_async_gen_aclose_twice_with_different_coros and
// test_async_gen_aclose_after_exhaustion.
TEST_F(AsyncGeneratorTest, AcloseTwiceOrAfterExhaustion) {
  auto async_iterate = []() -> AsyncGenerator<int> {
    co_yield 1;
    co_yield 2;
  };
  auto body = [&]() -> Coro<std::vector<int>> {
    AsyncGenerator<int> it = async_iterate();
    co_await it.aclose();
    co_await it.aclose();
    AsyncGenerator<int> exhausted = async_iterate();
    std::vector<int> got = co_await drain(exhausted);
    co_await exhausted.aclose();
    co_return got;
  };
  EXPECT_EQ(run(body()), (std::vector<int>{1, 2}));
}

// An error other than GeneratorExit thrown while closing comes out of aclose() (test_generators
// coroutine_tests' "errors thrown during closing should propagate"); the generator is closed.
TEST_F(AsyncGeneratorTest, AnErrorThrownWhileClosingComesOutOfAclose) {
  auto gen = []() -> AsyncGenerator<int> {
    Instances local;
    try {
      co_yield 0;
    } catch (const asyncio::GeneratorExit&) {
    }
    co_await asyncio::sleep(0s);
    throw std::invalid_argument("fie!");
  };
  auto body = [&]() -> Coro<std::string> {
    AsyncGenerator<int> g = gen();
    co_await g.next();
    std::string error;
    try {
      co_await g.aclose();
    } catch (const std::invalid_argument& e) {
      error = e.what();
    }
    auto v = co_await g.next();
    co_return error + (v ? " value" : " end");
  };
  EXPECT_EQ(run(body()), "fie! end");
  EXPECT_EQ(Instances::alive, 0);
}

// --- shutdown_asyncgens() -------------------------------------------------------------------

// test_asyncgen.py, test_async_gen_asyncio_shutdown_01: generators whose consumers were
// cancelled ran their cleanup (with an await in it) as the cancellation went through them.
TEST_F(AsyncGeneratorTest, CancelledConsumersFinalizeTheirGenerators) {
  int finalized = 0;
  auto waiter = [&]() -> AsyncGenerator<int> {
    std::exception_ptr error;
    try {
      co_await asyncio::sleep(1h);
      co_yield 1;
    } catch (...) {
      error = std::current_exception();
    }
    co_await asyncio::sleep(0s);  // Python's finally
    finalized += 1;
    if (error) std::rethrow_exception(error);
  };
  auto wait = [&]() -> Coro<void> {
    AsyncGenerator<int> gen = waiter();
    while (co_await gen.next()) {
    }
  };
  asyncio::Task<void> t1 = loop->create_task(wait());
  asyncio::Task<void> t2 = loop->create_task(wait());
  run_iterations(2);
  t1.cancel();
  t2.cancel();
  EXPECT_THROW(run(t1), asyncio::CancelledError);
  EXPECT_THROW(run(t2), asyncio::CancelledError);
  run(loop->shutdown_asyncgens());
  EXPECT_EQ(finalized, 2);
}

// Python's loop.shutdown_asyncgens() closes the generators still open with aclose(): their
// cleanup runs, and may await; an error it throws is reported to the exception handler.
TEST_F(AsyncGeneratorTest, ShutdownAsyncgensRunsTheCleanupOfOpenGenerators) {
  std::vector<std::string> log;
  auto tidy = [&]() -> AsyncGenerator<int> {
    try {
      co_yield 1;
    } catch (const asyncio::GeneratorExit&) {
      log.push_back("tidy exits");
    }
    co_await asyncio::sleep(0s);
    log.push_back("tidy cleaned up");
  };
  auto failing = [&]() -> AsyncGenerator<int> {
    try {
      co_yield 1;
    } catch (const asyncio::GeneratorExit&) {
      log.push_back("failing exits");
    }
    co_await asyncio::sleep(0s);
    throw std::runtime_error("cleanup failed");
  };
  AsyncGenerator<int> a = tidy();
  AsyncGenerator<int> b = failing();
  AsyncGenerator<int> never_started = tidy();
  auto step = [](AsyncGenerator<int>& g) -> Coro<void> { co_await g.next(); };
  run(step(a));
  run(step(b));
  run(loop->shutdown_asyncgens());
  std::sort(log.begin(), log.end());
  EXPECT_EQ(log, (std::vector<std::string>{"failing exits", "tidy cleaned up", "tidy exits"}));
  EXPECT_EQ(reported("an error occurred during closing of asynchronous generator"), 1u);
  EXPECT_TRUE(static_cast<bool>(a));  // closed, not moved from
  auto after = [](AsyncGenerator<int>& g) -> Coro<bool> { co_return !co_await g.next(); };
  EXPECT_TRUE(run(after(a)));
  EXPECT_TRUE(run(after(b)));
}

// Python's shutdown_asyncgens gathers the aclose() calls with return_exceptions=True: a
// CancelledError from a generator's own cleanup is neither reported nor stops the others, but
// cancelling the shutdown cancels it.
TEST_F(AsyncGeneratorTest, ShutdownAsyncgensAndCancellation) {
  auto future = loop->create_future<void>();
  bool second_closed = false;
  auto cancelled_cleanup = [&]() -> AsyncGenerator<int> {
    try {
      co_yield 1;
    } catch (const asyncio::GeneratorExit&) {
    }
    loop->call_soon([&] { future.cancel(); });
    co_await future;  // CancelledError
  };
  auto plain = [&]() -> AsyncGenerator<int> {
    try {
      co_yield 1;
    } catch (const asyncio::GeneratorExit&) {
      second_closed = true;
      throw;
    }
  };
  auto step = [](AsyncGenerator<int>& g) -> Coro<void> { co_await g.next(); };
  AsyncGenerator<int> a = cancelled_cleanup();
  AsyncGenerator<int> b = plain();
  run(step(a));
  run(step(b));
  run(loop->shutdown_asyncgens());
  EXPECT_TRUE(second_closed);
  EXPECT_TRUE(reports.empty());

  auto slow = []() -> AsyncGenerator<int> {
    try {
      co_yield 1;
    } catch (const asyncio::GeneratorExit&) {
    }
    co_await asyncio::sleep(1h);  // the cleanup waits
  };
  AsyncGenerator<int> c = slow();
  run(step(c));
  asyncio::Task<void> shutdown = loop->create_task(loop->shutdown_asyncgens());
  run_iterations(1);  // the shutdown is now inside the cleanup's sleep
  shutdown.cancel();
  EXPECT_THROW(run(shutdown), asyncio::CancelledError);
  EXPECT_TRUE(reports.empty());
}

// --- Misuse of asend/athrow -----------------------------------------------------------------

// Python's `await wait_for(anext(gen), t)`: a step is an awaitable wait_for (and gather,
// shield) take; the deadline cancels the body where it waits, and the generator ends there.
TEST_F(AsyncGeneratorTest, AStepMayBeAwaitedWithADeadline) {
  auto slow_second = []() -> AsyncGenerator<int> {
    co_yield 1;
    co_await asyncio::sleep(3600s);
    co_yield 2;
  };
  auto body = [&]() -> Coro<void> {
    AsyncGenerator<int> gen = slow_second();
    const std::optional<int> first = co_await asyncio::wait_for(gen.next(), 10s);
    EXPECT_EQ(first, 1);
    bool timed_out = false;
    try {
      co_await asyncio::wait_for(gen.next(), 10ms);
    } catch (const asyncio::TimeoutError&) {
      timed_out = true;
    }
    EXPECT_TRUE(timed_out);
    const std::optional<int> after = co_await gen.next();
    EXPECT_EQ(after, std::nullopt);  // the cancellation ended the body
    AsyncGenerator<int> other = ticker(2);
    auto both = co_await asyncio::gather(other.next(), asyncio::shield(twice(3)));
    EXPECT_EQ(std::get<0>(both), 0);
    EXPECT_EQ(std::get<1>(both), 6);
  };
  run(body());
}

TEST_F(AsyncGeneratorTest, AsendOrAthrowWhileAnotherStepRunsItIsARuntimeError) {
  auto gen = []() -> AsyncGenerator<int, int> {
    for (int i = 0; i < 2; ++i) {
      co_await asyncio::sleep(0s);
      co_yield i;
    }
  };
  auto body = [&]() -> Coro<std::string> {
    AsyncGenerator<int, int> g = gen();
    co_await g.next();
    auto stepping = [&g]() -> Coro<void> { co_await g.next(); };
    auto task = asyncio::create_task(stepping());
    co_await asyncio::sleep(0s);  // the task is now inside the generator's sleep(0)
    std::string errors;
    try {
      (void)g.asend(1);
    } catch (const asyncio::RuntimeError& e) {
      errors += e.what();
    }
    try {
      (void)g.athrow(std::make_exception_ptr(std::invalid_argument("x")));
    } catch (const asyncio::RuntimeError& e) {
      errors += std::string("; ") + e.what();
    }
    co_await task;
    co_return errors;
  };
  EXPECT_EQ(run(body()),
            "anext(): asynchronous generator is already running; athrow(): asynchronous "
            "generator is already running");
}

TEST_F(AsyncGeneratorTest, AsendAndAthrowOnAMovedFromOrClosedGenerator) {
  auto gen = []() -> AsyncGenerator<int, int> { co_yield 1; };
  auto body = [&]() -> Coro<std::string> {
    AsyncGenerator<int, int> a = gen();
    AsyncGenerator<int, int> b = std::move(a);
    std::string result;
    try {
      (void)a.asend(1);  // NOLINT(bugprone-use-after-move): the point of the test
    } catch (const asyncio::RuntimeError&) {
      result += "asend refused";
    }
    try {
      (void)a.athrow(std::make_exception_ptr(std::invalid_argument("x")));
    } catch (const asyncio::RuntimeError&) {
      result += ", athrow refused";
    }
    co_await b.next();
    co_await b.aclose();
    auto sent = co_await b.asend(2);
    auto error = std::make_exception_ptr(std::invalid_argument("x"));
    auto thrown = co_await b.athrow(error);
    co_return result + (sent || thrown ? ", a value" : ", nullopt after aclose");
  };
  EXPECT_EQ(run(body()), "asend refused, athrow refused, nullopt after aclose");
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
