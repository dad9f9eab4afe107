// The task functions: sleep, gather (tuple, range, return_exceptions, cancellation), wait,
// wait_for, shield and as_completed.
#include <array>
#include <chrono>
#include <cmath>
#include <ranges>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "support/asyncio_test.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio::Task;

namespace {

struct TasksTest : asyncio_test::LoopFixture {};

Coro<int> after(std::chrono::milliseconds delay, int value, std::vector<int>* finished = nullptr) {
  co_await asyncio::sleep(delay);
  if (finished) finished->push_back(value);
  co_return value;
}

Coro<int> fail_after(std::chrono::milliseconds delay, const char* what) {
  co_await asyncio::sleep(delay);
  throw std::runtime_error(what);
}

// Where a test needs tasks to finish in a given order, they finish a given number of loop
// iterations after they start (sleep(0s) yields exactly one): the loop promises that order,
// whereas timers a few milliseconds apart may fire together, or their tasks start late, on a
// loaded machine.
Coro<int> after_iterations(int n, int value, std::vector<int>* finished = nullptr) {
  for (int i = 0; i < n; ++i) co_await asyncio::sleep(0s);
  if (finished) finished->push_back(value);
  co_return value;
}

Coro<int> fail_after_iterations(int n, const char* what) {
  for (int i = 0; i < n; ++i) co_await asyncio::sleep(0s);
  throw std::runtime_error(what);
}

// --- sleep ---

TEST_F(TasksTest, SleepZeroYieldsExactlyOnce) {
  std::vector<std::string> trace;
  auto worker = [&](std::string name) -> Coro<void> {
    for (int i = 0; i < 3; ++i) {
      trace.push_back(name + std::to_string(i));
      co_await asyncio::sleep(0s);
    }
  };
  auto body = [&]() -> Coro<void> {
    co_await asyncio::gather(worker(std::string("a")), worker(std::string("b")));
  };
  loop->run_until_complete(body());
  EXPECT_EQ(trace, (std::vector<std::string>{"a0", "b0", "a1", "b1", "a2", "b2"}));
}

TEST_F(TasksTest, SleepWaitsAtLeastItsDelay) {
  auto body = [&]() -> Coro<void> {
    auto start = loop->time();
    co_await asyncio::sleep(20ms);
    EXPECT_GE(loop->time() - start, 20ms);
  };
  loop->run_until_complete(body());
}

// --- gather ---

TEST_F(TasksTest, GatherGivesResultsInArgumentOrder) {
  std::vector<int> finished;
  auto body = [&]() -> Coro<std::tuple<int, int, int>> {
    co_return co_await asyncio::gather(after_iterations(3, 1, &finished),
                                       after_iterations(1, 2, &finished),
                                       after_iterations(2, 3, &finished));
  };
  auto [a, b, c] = loop->run_until_complete(body());
  EXPECT_EQ(std::tie(a, b, c), std::make_tuple(1, 2, 3));
  EXPECT_EQ(finished, (std::vector<int>{2, 3, 1}));
}

TEST_F(TasksTest, GatherMixesCoroutinesTasksFuturesAndVoid) {
  auto body = [&]() -> Coro<void> {
    auto task = asyncio::create_task(after(1ms, 5));
    auto fut = loop->create_future<std::string>();
    loop->call_soon([fut]() mutable { fut.set_result("s"); });
    auto nothing = []() -> Coro<void> { co_return; };
    auto [x, y, z, v] = co_await asyncio::gather(after(2ms, 4), task, fut, nothing());
    EXPECT_EQ(x, 4);
    EXPECT_EQ(y, 5);
    EXPECT_EQ(z, "s");
    static_assert(std::is_same_v<decltype(v), std::monostate>);
  };
  loop->run_until_complete(body());
}

TEST_F(TasksTest, GatherOverARange) {
  auto body = [&]() -> Coro<void> {
    std::vector<Task<int>> tasks;
    for (int i = 0; i < 5; ++i)
      tasks.push_back(asyncio::create_task(after(std::chrono::milliseconds(5 - i), i)));
    std::vector<int> results = co_await asyncio::gather(tasks);
    EXPECT_EQ(results, (std::vector<int>{0, 1, 2, 3, 4}));

    std::vector<Coro<int>> coros;
    coros.push_back(after(1ms, 7));
    coros.push_back(after(0ms, 8));
    std::vector<int> from_coros = co_await asyncio::gather(coros);
    EXPECT_EQ(from_coros, (std::vector<int>{7, 8}));

    std::vector<Task<int>> none;
    std::vector<int> empty = co_await asyncio::gather(none);
    EXPECT_TRUE(empty.empty());

    auto odd =
        tasks | std::views::filter([](Task<int>& t) { return t.result() % 2 == 1; });  // not sized
    std::vector<int> filtered = co_await asyncio::gather(odd);
    EXPECT_EQ(filtered, (std::vector<int>{1, 3}));
  };
  loop->run_until_complete(body());
}

TEST_F(TasksTest, GatherFirstExceptionPropagatesWhileOthersKeepRunning) {
  std::vector<int> finished;
  Task<int> slow;
  auto body = [&]() -> Coro<void> {
    slow = asyncio::create_task(after_iterations(20, 1, &finished));
    try {
      co_await asyncio::gather(slow, fail_after_iterations(1, "first"),
                               fail_after_iterations(5, "second"));
      ADD_FAILURE() << "gather must throw";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "first");
    }
    EXPECT_FALSE(slow.done());  // not cancelled: still running
    EXPECT_EQ(co_await slow, 1);
  };
  loop->run_until_complete(body());
  EXPECT_EQ(finished, std::vector<int>{1});
  EXPECT_EQ(reported("Task exception was never retrieved"), 0u);  // gather retrieved "second"
}

TEST_F(TasksTest, GatherReturnExceptionsGivesEveryOutcome) {
  auto body = [&]() -> Coro<void> {
    auto cancelled = asyncio::create_task(after(1h, 0));
    loop->call_soon([cancelled]() mutable { cancelled.cancel(); });
    auto [a, b, c] = co_await asyncio::gather(asyncio::return_exceptions, after(1ms, 1),
                                              fail_after(2ms, "bad"), cancelled);
    EXPECT_TRUE(a.has_value());
    EXPECT_EQ(a.value(), 1);
    EXPECT_FALSE(b.has_value());
    EXPECT_EQ(asyncio_test::what(b.exception()), "bad");
    EXPECT_TRUE(c.cancelled());
    EXPECT_THROW(c.value(), asyncio::CancelledError);

    std::vector<Coro<int>> coros;
    coros.push_back(fail_after(1ms, "x"));
    coros.push_back(after(1ms, 2));
    auto outcomes = co_await asyncio::gather(asyncio::return_exceptions, coros);
    EXPECT_EQ(outcomes.size(), 2u);
    EXPECT_FALSE(outcomes[0].has_value());
    EXPECT_EQ(outcomes[1].value(), 2);
  };
  loop->run_until_complete(body());
}

TEST_F(TasksTest, CancellingTheGatherCancelsEveryChild) {
  auto body = [&]() -> Coro<void> {
    auto a = asyncio::create_task(after(1h, 1));
    auto b = asyncio::create_task(after(1h, 2));
    auto g = asyncio::gather(a, b);
    co_await asyncio::sleep(0s);
    EXPECT_TRUE(g.cancel());
    EXPECT_THROW(co_await g, asyncio::CancelledError);
    EXPECT_TRUE(a.cancelled());
    EXPECT_TRUE(b.cancelled());
  };
  loop->run_until_complete(body());
}

TEST_F(TasksTest, CancellingTheTaskAwaitingGatherCancelsEveryChild) {
  Task<int> a, b;
  auto waiter = [&]() -> Coro<void> {
    a = asyncio::create_task(after(1h, 1));
    b = asyncio::create_task(after(1h, 2));
    co_await asyncio::gather(a, b);
  };
  auto body = [&]() -> Coro<void> {
    auto t = asyncio::create_task(waiter());
    co_await asyncio::sleep(0s);
    t.cancel();
    EXPECT_THROW(co_await t, asyncio::CancelledError);
    EXPECT_TRUE(a.cancelled());
    EXPECT_TRUE(b.cancelled());
  };
  loop->run_until_complete(body());
}

// Python's Task.__wakeup takes the awaited future's result before it raises a pending
// cancellation instead: the gather's failure counts as retrieved.
TEST_F(TasksTest, ATaskCancelledAsTheGatherItAwaitsFailsRetrievesTheFailure) {
  auto body = [&]() -> Coro<void> {
    auto failing = loop->create_future<int>();
    auto waiter = [](asyncio::Future<std::tuple<int>> gathered) -> Coro<void> {
      co_await gathered;
    };
    auto t = asyncio::create_task(waiter(asyncio::gather(failing)));
    co_await asyncio::sleep(0s);  // t awaits the gather
    failing.set_exception(std::make_exception_ptr(std::runtime_error("boom")));
    t.cancel();  // before t's wake-up runs
    const bool cancelled = co_await asyncio_test::throws<asyncio::CancelledError>(std::move(t));
    EXPECT_TRUE(cancelled);
  };
  loop->run_until_complete(body());
  EXPECT_EQ(reported("Future exception was never retrieved"), 0u);
}

TEST_F(TasksTest, GatherWithACancelledChildRaisesCancelledError) {
  auto body = [&]() -> Coro<void> {
    auto a = asyncio::create_task(after(1h, 1));
    loop->call_soon([a]() mutable { a.cancel(); });
    EXPECT_THROW(co_await asyncio::gather(a, after(1ms, 2)), asyncio::CancelledError);
  };
  loop->run_until_complete(body());
}

TEST_F(TasksTest, CancellingAReturnExceptionsGatherOfFuturesRaisesCancelledError) {
  // Cancelling a plain future completes it at once, and the gather counts it at once: the
  // gather must already know it is being cancelled (CPython sets _cancel_requested).
  auto body = [&]() -> Coro<void> {
    auto a = loop->create_future<int>();
    auto b = loop->create_future<int>();
    auto g = asyncio::gather(asyncio::return_exceptions, a, b);
    EXPECT_TRUE(g.cancel());
    EXPECT_TRUE(a.cancelled());
    EXPECT_TRUE(b.cancelled());
    EXPECT_TRUE(co_await asyncio_test::throws<asyncio::CancelledError>(g));
  };
  loop->run_until_complete(body());
}

TEST_F(TasksTest, GatherOfFuturesAlreadyDone) {
  auto body = [&]() -> Coro<void> {
    auto a = loop->create_future<int>();
    auto b = loop->create_future<std::string>();
    a.set_result(1);
    b.set_result("two");
    auto [x, y] = co_await asyncio::gather(a, b);
    EXPECT_EQ(x, 1);
    EXPECT_EQ(y, "two");

    auto failed = loop->create_future<int>();
    failed.set_exception(std::runtime_error("early"));
    std::vector<asyncio::Future<int>> futures{a, failed};
    auto outcomes = co_await asyncio::gather(asyncio::return_exceptions, futures);
    EXPECT_EQ(outcomes[0].value(), 1);
    EXPECT_EQ(asyncio_test::what(outcomes[1].exception()), "early");
  };
  loop->run_until_complete(body());
}

TEST_F(TasksTest, GatherCopiesValuesTheCallerStillHoldsAndMovesTheRest) {
  auto make = [](std::string s) -> Coro<std::string> { co_return s; };
  auto make_unique = [](int v) -> Coro<std::unique_ptr<int>> {
    co_return std::make_unique<int>(v);
  };
  auto body = [&]() -> Coro<void> {
    std::vector<Task<std::string>> held{asyncio::create_task(make(std::string(100, 'a'))),
                                        asyncio::create_task(make(std::string(100, 'b')))};
    std::vector<std::string> values = co_await asyncio::gather(held);
    EXPECT_EQ(values, (std::vector<std::string>{std::string(100, 'a'), std::string(100, 'b')}));
    EXPECT_EQ(held[0].result(), std::string(100, 'a'));  // the task keeps its own value
    EXPECT_EQ(held[1].result(), std::string(100, 'b'));

    std::vector<Coro<std::unique_ptr<int>>> coros;
    coros.push_back(make_unique(1));
    coros.push_back(make_unique(2));
    std::vector<std::unique_ptr<int>> owned = co_await asyncio::gather(std::move(coros));
    EXPECT_EQ(*owned[0], 1);
    EXPECT_EQ(*owned[1], 2);
  };
  loop->run_until_complete(body());
}

// Python's gather hears of a child through a done callback, one iteration later: a cancel in
// between still reaches the other children, and the gather ends with the child's error.
TEST_F(TasksTest, AGatherCancelledInTheStepWhereAChildFailedCancelsTheOthers) {
  auto body = [&]() -> Coro<void> {
    auto a = asyncio::create_task(fail_after_iterations(0, "a"));
    auto b = asyncio::create_task(after(1h, 2));
    auto g = asyncio::gather(a, b);
    co_await asyncio::sleep(0s);  // a failed
    EXPECT_TRUE(a.done());
    EXPECT_FALSE(g.done());
    EXPECT_TRUE(g.cancel());
    co_await asyncio::gather(asyncio::return_exceptions, g, b);
    EXPECT_EQ(asyncio_test::outcome(g), "a");
    EXPECT_TRUE(b.cancelled());
  };
  loop->run_until_complete(body());
}

TEST_F(TasksTest, ATaskAwaitingGatherCancelledInTheStepWhereAChildFailedGetsTheChildsError) {
  auto body = [&]() -> Coro<void> {
    auto a = asyncio::create_task(fail_after_iterations(1, "a"));
    auto b = asyncio::create_task(after(1h, 2));
    auto awaits_gather = [&]() -> Coro<void> { co_await asyncio::gather(a, b); };
    auto t = asyncio::create_task(awaits_gather());
    co_await asyncio::sleep(0s);  // t waits on the gather
    co_await asyncio::sleep(0s);  // a failed
    EXPECT_TRUE(a.done());
    EXPECT_TRUE(t.cancel());
    co_await asyncio::gather(asyncio::return_exceptions, t, b);
    EXPECT_EQ(asyncio_test::outcome(t), "a");
    EXPECT_TRUE(b.cancelled());
  };
  loop->run_until_complete(body());
}

// Tasks that await each other in a cycle (a user's deadlock) would hand a cancellation round
// forever (Python's cancel() recurses into RecursionError): the task cancelled gives up its
// wait and raises CancelledError, and the others, each awaiting the next, follow it.
TEST_F(TasksTest, CancellingTasksThatAwaitEachOtherInACycleCancelsThemAll) {
  auto body = [&]() -> Coro<void> {
    std::vector<asyncio::Task<void>> tasks(3);
    auto awaits_next = [&](std::size_t i) -> Coro<void> {
      co_await asyncio::sleep(0s);  // every task exists
      co_await tasks[(i + 1) % tasks.size()];
    };
    for (std::size_t i = 0; i < tasks.size(); ++i) tasks[i] = asyncio::create_task(awaits_next(i));
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(0s);  // each awaits the next
    EXPECT_TRUE(tasks[1].cancel());
    EXPECT_EQ(tasks[1].cancelling(), 1);  // one request, though it came back round
    co_await asyncio::wait(tasks);
    for (auto& task : tasks) EXPECT_TRUE(task.cancelled());
  };
  run(body());
}

TEST_F(TasksTest, CancellingATaskAwaitingAGatherOfItselfCancelsIt) {
  auto body = [&]() -> Coro<void> {
    asyncio::Task<void> task;
    auto awaits_itself = [&]() -> Coro<void> {
      co_await asyncio::sleep(0s);
      co_await asyncio::gather(task);
    };
    task = asyncio::create_task(awaits_itself());
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(0s);
    EXPECT_TRUE(task.cancel());
    co_await asyncio::gather(asyncio::return_exceptions, task);
    EXPECT_TRUE(task.cancelled());
  };
  run(body());
}

TEST_F(TasksTest, ChildCompletingAfterTheLoopClosedLosesNothing) {
  // The child's completion finds the loop closed: the gather's callback, which would complete
  // it, is released unrun, as is the gather's own done callback (LeakSanitizer checks nothing
  // is lost). As in Python, whose set_result raises there before the gather hears of it, the
  // gather stays pending.
  auto child = loop->create_future<int>();
  asyncio::Future<std::tuple<int>> g;
  int calls = 0;
  auto body = [&]() -> Coro<void> {
    g = asyncio::gather(child);
    co_return;
  };
  loop->run_until_complete(body());
  g.add_done_callback([&](asyncio::Future<std::tuple<int>>) { ++calls; });
  loop->close();
  EXPECT_THROW(child.set_result(1), asyncio::RuntimeError);
  EXPECT_EQ(calls, 0);
  EXPECT_FALSE(g.done());
}

// --- wait ---

TEST_F(TasksTest, WaitFirstCompleted) {
  auto body = [&]() -> Coro<void> {
    std::vector<Task<int>> fs{asyncio::create_task(after(1ms, 1)),
                              asyncio::create_task(after(1h, 2))};
    auto [done, pending] = co_await asyncio::wait(fs, std::nullopt, asyncio::FIRST_COMPLETED);
    EXPECT_EQ(done.size(), 1u);
    EXPECT_EQ(pending.size(), 1u);
    EXPECT_EQ(done[0].result(), 1);
    EXPECT_FALSE(pending[0].done());  // wait cancels nothing
    pending[0].cancel();
  };
  loop->run_until_complete(body());
}

TEST_F(TasksTest, WaitFirstException) {
  auto body = [&]() -> Coro<void> {
    std::vector<Task<int>> fs{asyncio::create_task(after(1ms, 1)),
                              asyncio::create_task(fail_after(5ms, "x")),
                              asyncio::create_task(after(1h, 3))};
    auto [done, pending] = co_await asyncio::wait(fs, std::nullopt, asyncio::FIRST_EXCEPTION);
    EXPECT_EQ(done.size(), 2u);
    EXPECT_EQ(pending.size(), 1u);
    EXPECT_NE(done[1].exception(), nullptr);
    pending[0].cancel();
  };
  loop->run_until_complete(body());
}

TEST_F(TasksTest, WaitAllCompletedAndTimeout) {
  auto body = [&]() -> Coro<void> {
    std::vector<Task<int>> fs{asyncio::create_task(after(1ms, 1)),
                              asyncio::create_task(after(2ms, 2))};
    auto [done, pending] = co_await asyncio::wait(fs);
    EXPECT_EQ(done.size(), 2u);
    EXPECT_TRUE(pending.empty());

    // The first one finishes at its first step, which runs before any timer of that iteration,
    // the timeout's included, however late the loop gets to it.
    std::vector<Task<int>> gs{asyncio::create_task(after_iterations(0, 1)),
                              asyncio::create_task(after(1h, 2))};
    auto [done2, pending2] = co_await asyncio::wait(gs, 20ms);
    EXPECT_EQ(done2.size(), 1u);
    EXPECT_EQ(pending2.size(), 1u);
    pending2[0].cancel();

    EXPECT_THROW(co_await asyncio::wait(std::vector<Task<int>>{}), std::invalid_argument);
  };
  loop->run_until_complete(body());
}

// --- wait_for ---

TEST_F(TasksTest, WaitForReturnsTheValueInTime) {
  auto body = [&]() -> Coro<int> { co_return co_await asyncio::wait_for(after(1ms, 9), 1h); };
  EXPECT_EQ(loop->run_until_complete(body()), 9);
}

TEST_F(TasksTest, WaitForWithoutATimeoutAwaitsWithNoDeadline) {
  // Python's wait_for(aw, None); also an empty std::optional, and one holding a duration.
  auto body = [&]() -> Coro<int> {
    int total = co_await asyncio::wait_for(after(5ms, 1), std::nullopt);
    total += co_await asyncio::wait_for(after(5ms, 2), std::optional<std::chrono::seconds>());
    auto nap = []() -> Coro<void> { co_await asyncio::sleep(1ms); };
    co_await asyncio::wait_for(nap(), std::nullopt);
    const bool timed_out = co_await asyncio_test::throws<asyncio::TimeoutError>(
        asyncio::wait_for(after(1h, 3), std::optional(1ms)));
    EXPECT_TRUE(timed_out);
    co_return total;
  };
  EXPECT_EQ(run(body()), 3);
}

TEST_F(TasksTest, SleepWithAResultGivesIt) {  // Python's sleep(delay, result)
  auto body = [&]() -> Coro<std::string> {
    const int n = co_await asyncio::sleep(1ms, 42);
    EXPECT_EQ(n, 42);
    co_return co_await asyncio::sleep(0s, std::string("done"));
  };
  EXPECT_EQ(run(body()), "done");
}

// CPython's test_sleep_when_delay_is_nan: ValueError, in the awaiting coroutine.
TEST_F(TasksTest, SleepOfNaNIsInvalidArgument) {
  auto body = [&]() -> Coro<std::string> {
    try {
      co_await asyncio::sleep(std::chrono::duration<double>(std::nan("")));
    } catch (const std::invalid_argument& error) {
      co_return error.what();
    }
    co_return "slept";
  };
  EXPECT_EQ(run(body()), "Invalid delay: NaN (not a number)");
}

TEST_F(TasksTest, WaitForTimeoutCancelsAndWaitsForTheInnerThenThrowsTimeoutError) {
  bool inner_finished_cleanup = false;
  auto inner = [&]() -> Coro<int> {
    bool cancelled = false;
    try {
      co_await asyncio::sleep(1h);
    } catch (const asyncio::CancelledError&) {
      cancelled = true;  // C++ allows no co_await inside a handler: clean up after it
    }
    if (cancelled) {
      co_await asyncio::sleep(5ms);  // slow cleanup: wait_for must wait for it
      inner_finished_cleanup = true;
      throw asyncio::CancelledError();
    }
    co_return 0;
  };
  auto body = [&]() -> Coro<void> {
    auto t = asyncio::create_task(inner());
    EXPECT_THROW(co_await asyncio::wait_for(t, 5ms), asyncio::TimeoutError);
    EXPECT_TRUE(inner_finished_cleanup);
    EXPECT_TRUE(t.cancelled());
    EXPECT_EQ(asyncio::current_task().cancelling(), 0u);
  };
  loop->run_until_complete(body());
}

TEST_F(TasksTest, WaitForOnACoroutineTimesOut) {
  auto body = [&]() -> Coro<void> {
    EXPECT_THROW(co_await asyncio::wait_for(after(1h, 1), 2ms), asyncio::TimeoutError);
  };
  loop->run_until_complete(body());
}

// Python's wait_for(q.get(), t), wait_for(event.wait(), t), wait_for(lock.acquire(), t): a
// primitive's wait is taken as it is, without a coroutine around it.
Coro<void> put_later(asyncio::Queue<int>& queue, int item) {
  co_await asyncio::sleep(1ms);
  queue.put_nowait(item);
}

TEST_F(TasksTest, WaitForTakesAPrimitivesWait) {
  auto body = [&]() -> Coro<void> {
    asyncio::Queue<int> queue;
    auto putter = asyncio::create_task(put_later(queue, 7));
    const int item = co_await asyncio::wait_for(queue.get(), 1h);
    EXPECT_EQ(item, 7);
    co_await putter;

    // Timed out: the getter left the queue, so a later item stays there.
    const bool timed_out =
        co_await asyncio_test::throws<asyncio::TimeoutError>(asyncio::wait_for(queue.get(), 2ms));
    EXPECT_TRUE(timed_out);
    queue.put_nowait(8);
    EXPECT_EQ(queue.qsize(), 1u);
    // A timeout <= 0 cancels at once, as Python's: the item is not taken.
    const bool at_once =
        co_await asyncio_test::throws<asyncio::TimeoutError>(asyncio::wait_for(queue.get(), 0s));
    EXPECT_TRUE(at_once);
    EXPECT_EQ(queue.qsize(), 1u);
    EXPECT_EQ(co_await asyncio::timeout(1h, queue.get()), 8);

    asyncio::Event event;
    loop->call_later(1ms, [&event] { event.set(); });
    EXPECT_TRUE(co_await asyncio::wait_for(event.wait(), 1h));

    asyncio::Lock lock;
    co_await lock.acquire();
    const bool lock_timed_out = co_await asyncio_test::throws<asyncio::TimeoutError>(
        asyncio::wait_for(lock.acquire(), 2ms));
    EXPECT_TRUE(lock_timed_out);
    lock.release();
    co_await asyncio::wait_for(lock.acquire(), 1h);  // free again, and now ours
    EXPECT_TRUE(lock.locked());
    lock.release();

    const bool sleep_timed_out = co_await asyncio_test::throws<asyncio::TimeoutError>(
        asyncio::wait_for(asyncio::sleep(1h), 2ms));
    EXPECT_TRUE(sleep_timed_out);
    co_await asyncio::wait_for(asyncio::sleep(1ms), 1h);

    // gather and shield take them too (each as a task, as Python's ensure_future).
    queue.put_nowait(1);
    queue.put_nowait(2);
    auto [a, b] = co_await asyncio::gather(queue.get(), queue.get());
    EXPECT_EQ(a + b, 3);
    queue.put_nowait(3);
    EXPECT_EQ(co_await asyncio::shield(queue.get()), 3);
  };
  run(body());
}

TEST_F(TasksTest, WaitForNeverSwallowsAnOutsideCancellation) {
  auto body = [&]() -> Coro<void> { co_await asyncio::wait_for(after(1h, 1), 1h); };
  auto outer = [&]() -> Coro<void> {
    auto t = asyncio::create_task(body());
    co_await asyncio::sleep(1ms);
    t.cancel();
    EXPECT_THROW(co_await t, asyncio::CancelledError);
    EXPECT_TRUE(t.cancelled());
  };
  loop->run_until_complete(outer());
}

TEST_F(TasksTest, WaitForOutsideCancelWinsWhenTheInnerResultArrivesAtTheSameMoment) {
  auto inner = loop->create_future<int>();
  auto body = [&]() -> Coro<int> { co_return co_await asyncio::wait_for(inner, 1h); };
  auto outer = [&]() -> Coro<void> {
    auto t = asyncio::create_task(body());
    co_await asyncio::sleep(0s);
    inner.set_result(1);  // wakes t on the next iteration ...
    t.cancel();           // ... but a cancel arrives first
    EXPECT_THROW(co_await t, asyncio::CancelledError);
  };
  loop->run_until_complete(outer());
}

// Python's wait_for raises `TimeoutError from exc` (through timeouts.timeout): the inner
// CancelledError is its cause, for a coroutine and for a primitive's wait alike.
// wait_for over a primitive's wait takes a cancellation back without a throw (the usual way
// its deadline ends it); what the waiter had been given must still go on to the next one, and
// a cancellation from outside must stay a CancelledError. Python's Queue.get hands its item on
// the same way (bpo-27585 / gh-90155).
TEST_F(TasksTest, WaitForOnAPrimitiveCancelledAfterItWasWokenHandsItsWakeUpOn) {
  auto body = [&]() -> Coro<void> {
    asyncio::Queue<int> queue;
    auto get_one = [&queue]() -> Coro<int> { co_return co_await queue.get(); };
    auto first = asyncio::create_task(asyncio::wait_for(queue.get(), 1h));
    auto second = asyncio::create_task(get_one());
    co_await asyncio::sleep(0s);  // both wait, the first in front
    queue.put_nowait(7);          // the item is the first's...
    first.cancel();               // ...which is cancelled before it runs
    const int item = co_await second;
    EXPECT_EQ(item, 7);
    const bool first_cancelled = co_await asyncio_test::throws<asyncio::CancelledError>(first);
    EXPECT_TRUE(first_cancelled);

    asyncio::Lock lock;
    co_await lock.acquire();
    auto holder = asyncio::create_task(asyncio::wait_for(lock.acquire(), 1h));
    auto next = asyncio::create_task(asyncio::wait_for(lock.acquire(), 1h));
    co_await asyncio::sleep(0s);
    lock.release();   // the lock is handed to `holder`...
    holder.cancel();  // ...cancelled before it runs: `next` gets it
    co_await next;
    EXPECT_TRUE(lock.locked());
    EXPECT_TRUE(holder.cancelled());
    lock.release();
  };
  run(body());
}

TEST_F(TasksTest, WaitForsTimeoutErrorCarriesTheCancelledErrorAsItsNestedCause) {
  auto cause_of_timeout = [](auto awaitable,
                             std::chrono::milliseconds timeout = 1ms) -> Coro<std::string> {
    try {
      co_await asyncio::wait_for(std::move(awaitable), timeout);
    } catch (const asyncio::TimeoutError& error) {
      try {
        std::rethrow_if_nested(error);
      } catch (const asyncio::CancelledError&) {
        co_return "CancelledError";
      } catch (...) {
        co_return "something else";
      }
      co_return "nothing";
    }
    co_return "no timeout";
  };
  auto body = [&]() -> Coro<void> {
    asyncio::Queue<int> queue;
    EXPECT_EQ(co_await cause_of_timeout(queue.get()), "CancelledError");
    EXPECT_EQ(co_await cause_of_timeout(asyncio::sleep(1h)), "CancelledError");
    EXPECT_EQ(co_await cause_of_timeout(after(1h, 1)), "CancelledError");
    // A timeout <= 0 cancels at once, and says so the same way.
    EXPECT_EQ(co_await cause_of_timeout(queue.get(), 0ms), "CancelledError");
    EXPECT_EQ(co_await cause_of_timeout(after(1h, 1), 0ms), "CancelledError");
  };
  run(body());
}

// The TimeoutError nests the cancellation the block ended with (Python's `raise TimeoutError
// from exc`), which is the first one handed to the wait (Python's: the awaited future's): the
// deadline's own, with no message, or a cancel from outside that came just before the deadline
// and was withdrawn by uncancel(), with its message. A cancel from outside after the deadline
// leaves the deadline's.
TEST_F(TasksTest, WaitForsTimeoutErrorNestsTheFirstCancellationTheWaitGot) {
  Task<std::string> t;
  auto body = [&]() -> Coro<std::string> {
    asyncio::Queue<int> queue;
    try {
      co_await asyncio::wait_for(queue.get(), 1ms);
    } catch (const asyncio::TimeoutError& error) {
      try {
        std::rethrow_if_nested(error);
      } catch (const asyncio::CancelledError& cause) {
        co_return "CancelledError(" + cause.message() + ")";
      }
      co_return "nothing nested";
    }
    co_return "no timeout";
  };
  auto outer = [&]() -> Coro<void> {
    std::vector<std::string> causes;
    for (auto outside_due : {500us, 2000us}) {  // before t's deadline, after it
      const auto start = loop->time();
      t = asyncio::create_task(body());
      co_await asyncio::sleep(0s);  // t waits in get(), its deadline 1 ms or more after start
      // Due in the same iteration as the deadline, before t resumes.
      loop->call_at(start + outside_due, [&t] {
        t.cancel("from outside");
        t.uncancel();
      });
      auto spin_until = loop->time() + 3ms;
      while (loop->time() < spin_until) {
      }
      causes.push_back(co_await t);
    }
    // Alone, the deadline's own cancellation.
    t = asyncio::create_task(body());
    causes.push_back(co_await t);
    EXPECT_EQ(causes, (std::vector<std::string>{"CancelledError(from outside)", "CancelledError()",
                                                "CancelledError()"}));
  };
  loop->run_until_complete(outer());
}

TEST_F(TasksTest, WaitForTimeoutAndOutsideCancelInTheSameIterationStaysCancelled) {
  Task<void> t;
  auto body = [&]() -> Coro<void> {
    // Due just before wait_for's deadline, and scheduled in the same step, so that the loop
    // cannot take one timer out before the other is there.
    loop->call_later(1ms, [&t] { t.cancel(); });
    co_await asyncio::wait_for(after(1h, 1), 1ms);
  };
  auto outer = [&]() -> Coro<void> {
    t = asyncio::create_task(body());
    co_await asyncio::sleep(0s);  // t enters wait_for
    auto spin_until = loop->time() + 3ms;
    while (loop->time() < spin_until) {
    }
    // Both the outside cancel and the timeout are due now and run in one iteration, before t.
    EXPECT_THROW(co_await t, asyncio::CancelledError);
    EXPECT_TRUE(t.cancelled());
  };
  loop->run_until_complete(outer());
}

TEST_F(TasksTest, SecondCancelOfASleepingTaskDoesNotScheduleItTwice) {
  int steps_after_cancel = 0;
  auto sleeper = [&]() -> Coro<void> {
    try {
      co_await asyncio::sleep(1h);
    } catch (const asyncio::CancelledError&) {
      ++steps_after_cancel;
    }
    co_await asyncio::sleep(0s);
    ++steps_after_cancel;
  };
  auto body = [&]() -> Coro<void> {
    auto t = asyncio::create_task(sleeper());
    co_await asyncio::sleep(0s);
    t.cancel();
    t.cancel();
    co_await t;
  };
  loop->run_until_complete(body());
  EXPECT_EQ(steps_after_cancel, 2);
}

TEST_F(TasksTest, WaitForInnerThatSwallowsTheCancelGivesItsValue) {
  auto stubborn = []() -> Coro<int> {
    try {
      co_await asyncio::sleep(1h);
    } catch (const asyncio::CancelledError&) {
    }
    co_return 3;
  };
  auto body = [&]() -> Coro<int> {
    co_return co_await asyncio::wait_for(asyncio::create_task(stubborn()), 1ms);
  };
  EXPECT_EQ(loop->run_until_complete(body()), 3);
}

TEST_F(TasksTest, WaitForZeroTimeout) {
  auto body = [&]() -> Coro<void> {
    auto done = loop->create_future<int>();
    done.set_result(4);
    EXPECT_EQ(co_await asyncio::wait_for(done, 0s), 4);
    auto t = asyncio::create_task(after(1h, 1));
    EXPECT_THROW(co_await asyncio::wait_for(t, 0s), asyncio::TimeoutError);
    EXPECT_TRUE(t.cancelled());
  };
  loop->run_until_complete(body());
}

// --- shield ---

TEST_F(TasksTest, ShieldProtectsTheInnerFromCancellation) {
  auto body = [&]() -> Coro<void> {
    auto inner = asyncio::create_task(after(5ms, 6));
    auto waiter = [&]() -> Coro<int> { co_return co_await asyncio::shield(inner); };
    auto t = asyncio::create_task(waiter());
    co_await asyncio::sleep(0s);
    t.cancel();
    EXPECT_THROW(co_await t, asyncio::CancelledError);
    EXPECT_FALSE(inner.cancelled());
    EXPECT_EQ(co_await inner, 6);

    auto outer = asyncio::shield(after(1ms, 2));
    EXPECT_EQ(co_await outer, 2);
  };
  loop->run_until_complete(body());
}

// --- as_completed ---

TEST_F(TasksTest, AsCompletedYieldsInCompletionOrder) {
  auto body = [&]() -> Coro<void> {
    std::vector<Task<int>> fs{asyncio::create_task(after_iterations(3, 1)),
                              asyncio::create_task(after_iterations(1, 2)),
                              asyncio::create_task(after_iterations(2, 3))};
    std::vector<int> order;
    for (auto next : asyncio::as_completed(fs)) order.push_back(co_await std::move(next));
    EXPECT_EQ(order, (std::vector<int>{2, 3, 1}));
  };
  loop->run_until_complete(body());
}

TEST_F(TasksTest, AsCompletedOverCoroutinesWrapsThemInTasks) {  // Python: ensure_future each
  auto body = [&]() -> Coro<void> {
    std::vector<Coro<int>> coros;
    coros.push_back(after_iterations(3, 1));
    coros.push_back(after_iterations(1, 2));
    coros.push_back(after_iterations(2, 3));
    std::vector<int> order;
    for (auto next : asyncio::as_completed(std::move(coros), 10s))
      order.push_back(co_await std::move(next));
    EXPECT_EQ(order, (std::vector<int>{2, 3, 1}));
  };
  loop->run_until_complete(body());
}

TEST_F(TasksTest, AsCompletedCountsARepeatedFutureOnce) {  // Python takes a set
  auto body = [&]() -> Coro<void> {
    auto t = asyncio::create_task(after_iterations(1, 1));
    auto u = asyncio::create_task(after_iterations(2, 2));
    auto completed = asyncio::as_completed(std::vector<Task<int>>{t, t, u});
    EXPECT_EQ(completed.size(), 2u);
    std::vector<int> order;
    for (auto next : completed) order.push_back(co_await std::move(next));
    EXPECT_EQ(order, (std::vector<int>{1, 2}));
  };
  loop->run_until_complete(body());
}

// A loop whose body also calls next() (Python: next(it) inside `for f in it`) skips what that
// took, and ends once each was given instead of asking for one more.
TEST_F(TasksTest, AsCompletedNextCallsInsideTheLoopCount) {
  auto body = [&]() -> Coro<void> {
    std::vector<Task<int>> fs;
    for (int i = 1; i <= 4; ++i) fs.push_back(asyncio::create_task(after_iterations(i, i)));
    auto completed = asyncio::as_completed(fs);
    std::vector<int> order;
    for (auto next : completed) {
      order.push_back(co_await std::move(next));
      const int also = co_await completed.next();
      order.push_back(also);
    }
    EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4}));
  };
  loop->run_until_complete(body());
}

// CPython's test_constructor_heterogenous_futures: gather refuses futures of another loop
// (ValueError), and so does as_completed (Python 3.13 wraps each in ensure_future(f, loop)),
// which would otherwise wait for ever for a completion queued on the other loop. Children
// watched before the refused one go on, and a failure of theirs is not reported.
TEST_F(TasksTest, GatherAndAsCompletedRefuseAFutureOfAnotherLoop) {
  auto other = asyncio::new_event_loop();
  auto body = [&]() -> Coro<void> {
    auto mine = asyncio::create_task(fail_after_iterations(1, "watched before"));
    auto foreign = other->create_future<int>();
    EXPECT_THROW(asyncio::gather(mine, foreign), std::invalid_argument);
    EXPECT_THROW(asyncio::as_completed(std::vector<asyncio::Future<int>>{foreign}),
                 std::invalid_argument);
    co_await asyncio::gather(asyncio::return_exceptions, mine);
  };
  loop->run_until_complete(body());
  EXPECT_EQ(reported("Future exception was never retrieved"), 0u);
  other->close();
}

// CPython's test_as_completed_resume_iterator: a second loop over the same object goes on with
// the futures not given yet; once each was given, a loop gives nothing and next() is refused
// (Python's StopIteration) rather than waiting for ever.
TEST_F(TasksTest, AsCompletedIteratedAgainResumesWhereTheLastLoopStopped) {
  auto body = [&]() -> Coro<void> {
    std::vector<Task<int>> fs{asyncio::create_task(after_iterations(1, 1)),
                              asyncio::create_task(after_iterations(2, 2)),
                              asyncio::create_task(after_iterations(3, 3))};
    auto completed = asyncio::as_completed(fs);
    std::vector<int> first_loop, second_loop;
    for (auto next : completed) {
      first_loop.push_back(co_await std::move(next));
      break;
    }
    for (auto next : completed) second_loop.push_back(co_await std::move(next));
    int third_loop = 0;
    for ([[maybe_unused]] auto next : completed) ++third_loop;
    EXPECT_EQ(first_loop, (std::vector<int>{1}));
    EXPECT_EQ(second_loop, (std::vector<int>{2, 3}));
    EXPECT_EQ(third_loop, 0);
    EXPECT_THROW((void)completed.next(), std::out_of_range);
  };
  loop->run_until_complete(body());
}

TEST_F(TasksTest, AsCompletedPassesOnTheWakeUpOfACallerCancelledBeforeItRan) {
  auto body = [&]() -> Coro<void> {
    auto first = loop->create_future<int>();
    auto never = loop->create_future<int>();
    auto completed = asyncio::as_completed(std::vector<asyncio::Future<int>>{first, never});
    auto a = asyncio::create_task(completed.next());
    auto b = asyncio::create_task(completed.next());
    co_await asyncio::sleep(0s);  // both wait
    first.set_result(1);
    co_await asyncio::sleep(0s);  // as_completed hears of it and wakes a, which has not run yet
    EXPECT_FALSE(a.done());
    a.cancel();
    co_await asyncio::gather(asyncio::return_exceptions, a);
    EXPECT_TRUE(a.cancelled());
    EXPECT_EQ(co_await asyncio::wait_for(b, 5s), 1);  // the wake-up went on to b
    never.cancel();
  };
  loop->run_until_complete(body());
}

TEST_F(TasksTest, AsCompletedTimeout) {
  auto body = [&]() -> Coro<void> {
    // The first one is done before as_completed starts, so its completion is queued at once,
    // ahead of the timeout however late the loop runs.
    std::vector<Task<int>> fs{asyncio::create_task(after_iterations(0, 1)),
                              asyncio::create_task(after(1h, 2))};
    co_await asyncio::sleep(0s);
    EXPECT_TRUE(fs[0].done());
    auto it = asyncio::as_completed(fs, 20ms);
    EXPECT_EQ(co_await it.next(), 1);
    EXPECT_THROW(co_await it.next(), asyncio::TimeoutError);
    fs[1].cancel();
  };
  loop->run_until_complete(body());
}

// Python 3.13: `async for` over as_completed gives the original tasks (CPython's
// test_as_completed_same_tasks_in_as_out), the tasks made for coroutines, and TimeoutError.
TEST_F(TasksTest, AsCompletedAsAnAsyncIteratorGivesTheOriginalTasksAsTheyFinish) {
  auto body = [&]() -> Coro<void> {
    std::vector<Task<int>> fs{asyncio::create_task(after_iterations(3, 1)),
                              asyncio::create_task(after_iterations(1, 2)),
                              asyncio::create_task(after_iterations(2, 3))};
    auto completed = asyncio::as_completed(fs);
    std::vector<Task<int>> order;
    while (auto task = co_await completed.anext()) {
      EXPECT_TRUE(task->done());
      order.push_back(std::move(*task));
    }
    EXPECT_EQ(order, (std::vector<Task<int>>{fs[1], fs[2], fs[0]}));
    EXPECT_FALSE(co_await completed.anext());  // still exhausted

    std::vector<Coro<int>> coros;
    coros.push_back(after_iterations(2, 10));
    coros.push_back(after_iterations(1, 20));
    auto from_coros = asyncio::as_completed(std::move(coros));
    std::vector<int> values;
    while (auto task = co_await from_coros.anext()) values.push_back(task->result());
    EXPECT_EQ(values, (std::vector<int>{20, 10}));

    Task<int> slow = asyncio::create_task(after(1h, 0));
    std::vector<Task<int>> one{slow};
    auto timed = asyncio::as_completed(one, 1ms);
    const bool timed_out = co_await asyncio_test::throws<asyncio::TimeoutError>(timed.anext());
    EXPECT_TRUE(timed_out);
    slow.cancel();
  };
  run(body());
}

TEST_F(TasksTest, WaitAndAsCompletedTakeAnyRange) {
  auto body = [&]() -> Coro<void> {
    std::array<Task<int>, 2> tasks{asyncio::create_task(after_iterations(1, 1)),
                                   asyncio::create_task(after(1h, 2))};
    auto [done, pending] = co_await asyncio::wait(tasks, asyncio::FIRST_COMPLETED);
    EXPECT_EQ(done.size(), 1u);
    EXPECT_TRUE(done.size() == 1 && done[0] == tasks[0]);
    EXPECT_EQ(pending.size(), 1u);
    auto pending_only = std::span(tasks).subspan(1);
    auto [none_done, still] = co_await asyncio::wait(pending_only, 1ms);
    EXPECT_TRUE(none_done.empty());
    EXPECT_EQ(still.size(), 1u);
    tasks[1].cancel();
    auto finished = asyncio::as_completed(tasks | std::views::take(1));
    auto first = co_await finished.anext();
    EXPECT_TRUE(first && *first == tasks[0]);
    co_await asyncio::gather(asyncio::return_exceptions, tasks[1]);
  };
  run(body());
}

TEST_F(TasksTest, DurationsTooLongForTheClockMeanForeverNotNow) {
  auto never = loop->create_future<int>();
  auto sleeper = []() -> Coro<void> { co_await asyncio::sleep(std::chrono::nanoseconds::max()); };
  auto waiter = [&]() -> Coro<int> {
    co_return co_await asyncio::wait_for(never, std::chrono::hours::max());
  };
  auto body = [&]() -> Coro<std::vector<bool>> {
    auto s = asyncio::create_task(sleeper());
    auto w = asyncio::create_task(waiter());
    std::vector<asyncio::Future<int>> futures{never};
    auto waited =
        asyncio::create_task(asyncio::wait(std::move(futures), std::chrono::hours::max()));
    co_await asyncio::sleep(20ms);
    std::vector<bool> done{s.done(), w.done(), waited.done()};
    s.cancel();
    w.cancel();
    waited.cancel();
    co_return done;
  };
  EXPECT_EQ(loop->run_until_complete(body()), (std::vector<bool>{false, false, false}));
}

TEST_F(TasksTest, WaitCountsAFutureListedTwiceOnce) {
  auto body = [&]() -> Coro<std::pair<std::size_t, std::size_t>> {
    auto t = asyncio::create_task(asyncio_test::after(1ms, 1));
    std::vector<Task<int>> twice{t, t};  // (not inside the co_await: g++ 12 rejects that)
    auto outcome = co_await asyncio::wait(std::move(twice));
    co_return std::pair{outcome.first.size(), outcome.second.size()};
  };
  EXPECT_EQ(loop->run_until_complete(body()), (std::pair<std::size_t, std::size_t>{1, 0}));
}

}  // namespace
