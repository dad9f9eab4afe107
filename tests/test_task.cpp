// Task<T>: scheduling of the first step, names, results, cancellation at every kind of await
// point and its propagation, uncancel counting, and the reports of failed or pending tasks.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/asyncio_test.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio::Task;

namespace {

struct TaskTest : asyncio_test::LoopFixture {};

TEST_F(TaskTest, FirstStepRunsOnALaterIterationTheCreatorKeepsRunning) {
  std::vector<std::string> order;
  auto child = [&]() -> Coro<void> {
    order.push_back("child");
    co_return;
  };
  auto body = [&]() -> Coro<void> {
    auto t = asyncio::create_task(child());
    order.push_back("creator before suspending");
    co_await asyncio::sleep(0s);
    order.push_back("creator after");
    co_await t;
  };
  loop->run_until_complete(body());
  EXPECT_EQ(order,
            (std::vector<std::string>{"creator before suspending", "child", "creator after"}));
}

TEST_F(TaskTest, NamesDefaultToTaskNAndCanBeSet) {
  auto nothing = []() -> Coro<void> { co_return; };
  auto a = loop->create_task(nothing());
  auto b = loop->create_task(nothing(), "worker");
  EXPECT_EQ(a.get_name(), "Task-1");
  EXPECT_EQ(b.get_name(), "worker");
  a.set_name("renamed");
  EXPECT_EQ(a.get_name(), "renamed");
  loop->run_until_complete(a);
  loop->run_until_complete(b);
}

TEST_F(TaskTest, ResultExceptionAndCancelledState) {
  auto ok = []() -> Coro<int> { co_return 3; };
  auto bad = []() -> Coro<int> {
    co_await asyncio::sleep(0s);
    throw std::logic_error("bad");
  };
  auto t1 = loop->create_task(ok());
  auto t2 = loop->create_task(bad());
  EXPECT_EQ(loop->run_until_complete(t1), 3);
  EXPECT_THROW(loop->run_until_complete(t2), std::logic_error);
  EXPECT_FALSE(t2.cancelled());
  EXPECT_EQ(asyncio_test::what(t2.exception()), "bad");
}

TEST_F(TaskTest, SettingATasksResultFromOutsideIsAnError) {
  auto slow = []() -> Coro<int> {
    co_await asyncio::sleep(1h);
    co_return 1;
  };
  auto t = loop->create_task(slow());
  asyncio::Future<int> as_future = t;
  EXPECT_THROW(as_future.set_result(2), asyncio::RuntimeError);
  EXPECT_THROW(as_future.set_exception(std::runtime_error("x")), asyncio::RuntimeError);
  t.cancel();
  EXPECT_THROW(loop->run_until_complete(t), asyncio::CancelledError);
}

// Cancellation at each kind of await point: the CancelledError surfaces at the await.
template <class Awaiting>
void expect_cancel_surfaces_at_await(asyncio::EventLoop& loop, Awaiting awaiting) {
  bool reached_catch = false;
  auto victim = [&]() -> Coro<void> {
    try {
      co_await awaiting();
    } catch (const asyncio::CancelledError& e) {
      reached_catch = true;
      EXPECT_EQ(e.message(), "why");
      throw;
    }
  };
  auto body = [&]() -> Coro<void> {
    auto t = asyncio::create_task(victim());
    co_await asyncio::sleep(0s);  // let it reach its await
    EXPECT_TRUE(t.cancel("why"));
    try {
      co_await t;
      ADD_FAILURE() << "awaiting a cancelled task must throw";
    } catch (const asyncio::CancelledError&) {
    }
    EXPECT_TRUE(t.cancelled());
  };
  loop.run_until_complete(body());
  EXPECT_TRUE(reached_catch);
}

TEST_F(TaskTest, CancelAtSleep) {
  expect_cancel_surfaces_at_await(*loop, [] { return asyncio::sleep(1h); });
}

TEST_F(TaskTest, CancelAtSleepZero) {
  expect_cancel_surfaces_at_await(*loop, []() -> Coro<void> {
    for (;;) co_await asyncio::sleep(0s);
  });
}

TEST_F(TaskTest, CancelAtAFuture) {
  auto f = loop->create_future<int>();
  expect_cancel_surfaces_at_await(*loop, [f]() -> Coro<void> { co_await f; });
  EXPECT_TRUE(f.cancelled());  // as in Python, the awaited future is cancelled too
}

TEST_F(TaskTest, CancelAtANestedCoroutineAwaitingAFuture) {
  auto f = loop->create_future<int>();
  auto inner = [f]() -> Coro<int> { co_return co_await f; };
  expect_cancel_surfaces_at_await(*loop, [inner]() -> Coro<void> { co_await inner(); });
}

TEST_F(TaskTest, CancellingATaskCancelsTheTaskItAwaits) {
  bool inner_cancelled = false;
  auto inner = [&]() -> Coro<int> {
    try {
      co_await asyncio::sleep(1h);
    } catch (const asyncio::CancelledError&) {
      inner_cancelled = true;
      throw;
    }
    co_return 0;
  };
  Task<int> inner_task;
  auto outer = [&]() -> Coro<int> {
    inner_task = asyncio::create_task(inner());
    co_return co_await inner_task;
  };
  auto body = [&]() -> Coro<void> {
    auto t = asyncio::create_task(outer());
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(0s);
    t.cancel();
    EXPECT_THROW(co_await t, asyncio::CancelledError);
  };
  loop->run_until_complete(body());
  EXPECT_TRUE(inner_cancelled);
  EXPECT_TRUE(inner_task.cancelled());
}

TEST_F(TaskTest, CoroutineMayCatchCancellationCleanUpAndContinue) {
  auto stubborn = []() -> Coro<int> {
    try {
      co_await asyncio::sleep(1h);
    } catch (const asyncio::CancelledError&) {
    }
    co_await asyncio::sleep(0s);  // keeps working after the cancellation
    co_return 7;
  };
  auto body = [&]() -> Coro<void> {
    auto t = asyncio::create_task(stubborn());
    co_await asyncio::sleep(0s);
    t.cancel();
    EXPECT_EQ(co_await t, 7);
    EXPECT_FALSE(t.cancelled());
  };
  loop->run_until_complete(body());
}

TEST_F(TaskTest, CancelBeforeTheFirstStepMeansTheBodyNeverRuns) {
  bool ran = false;
  auto body_never = [&]() -> Coro<void> {
    ran = true;
    co_return;
  };
  auto t = loop->create_task(body_never());
  EXPECT_TRUE(t.cancel());
  EXPECT_THROW(loop->run_until_complete(t), asyncio::CancelledError);
  EXPECT_FALSE(ran);
  EXPECT_TRUE(t.cancelled());
  EXPECT_FALSE(t.cancel());  // done
}

TEST_F(TaskTest, SelfCancelThrowsAtTheNextSuspension) {
  std::vector<std::string> steps;
  auto body = [&]() -> Coro<void> {
    asyncio::current_task().cancel();
    steps.push_back("still running");
    co_await asyncio::sleep(1h);
    steps.push_back("never");
  };
  auto t = loop->create_task(body());
  EXPECT_THROW(loop->run_until_complete(t), asyncio::CancelledError);
  EXPECT_EQ(steps, std::vector<std::string>{"still running"});
}

TEST_F(TaskTest, CancellationHandedToAnAwaitAndCaughtLeavesNoTraceInTheResult) {
  // The request is made while the task runs, handed to the future it awaits next (which it
  // cancels), and caught: the task then finishes with its own value, as in Python.
  auto body = [&]() -> Coro<int> {
    auto never = loop->create_future<void>();
    asyncio::current_task().cancel();
    try {
      co_await never;
    } catch (const asyncio::CancelledError&) {
    }
    co_await asyncio::sleep(0s);
    co_return 3;
  };
  auto t = loop->create_task(body());
  EXPECT_EQ(loop->run_until_complete(t), 3);
  EXPECT_FALSE(t.cancelled());
  EXPECT_EQ(t.exception(), nullptr);
}

TEST_F(TaskTest, CancelRequestedRightBeforeReturningEndsTheTaskCancelled) {
  auto body = []() -> Coro<int> {
    asyncio::current_task().cancel();
    co_return 1;
  };
  auto t = loop->create_task(body());
  EXPECT_THROW(loop->run_until_complete(t), asyncio::CancelledError);
  EXPECT_TRUE(t.cancelled());
}

TEST_F(TaskTest, CancellingAndUncancelCount) {
  std::uint32_t seen_cancelling = 0, after_uncancel = 0;
  auto sleeper = [&]() -> Coro<void> {
    try {
      co_await asyncio::sleep(1h);
    } catch (const asyncio::CancelledError&) {
      seen_cancelling = asyncio::current_task().cancelling();
      after_uncancel = asyncio::current_task().uncancel();
    }
  };
  auto body = [&]() -> Coro<void> {
    auto t = asyncio::create_task(sleeper());
    co_await asyncio::sleep(0s);
    t.cancel();
    t.cancel();  // two requests before it runs: one CancelledError, a count of two
    EXPECT_EQ(t.cancelling(), 2u);
    co_await t;
    EXPECT_FALSE(t.cancelled());  // it swallowed the cancellation
    EXPECT_EQ(t.cancelling(), 1u);
  };
  loop->run_until_complete(body());
  EXPECT_EQ(seen_cancelling, 2u);
  EXPECT_EQ(after_uncancel, 1u);
}

// Python's Task.cancel() cancels the future the task awaits, and uncancel() cannot take that
// back: the wait ends with the CancelledError, its message kept. Here the same holds for every
// kind of wait: a sleep, a primitive's, an fd's.
TEST_F(TaskTest, UncancelCannotWithdrawACancellationTheWaitGaveUpFor) {
  asyncio::Event never_set;
  asyncio::Lock held;
  asyncio::Queue<int> empty;
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC), 0);
  std::vector<std::string> seen;
  auto waits = [&](int kind) -> Coro<void> {
    try {
      if (kind == 0) co_await asyncio::sleep(1h);
      if (kind == 1) co_await never_set.wait();
      if (kind == 2) co_await held.acquire();
      if (kind == 3) co_await empty.get();
      if (kind == 4) co_await asyncio::get_running_loop().wait_readable(pipe_fds[0]);
      seen.push_back("returned");
    } catch (const asyncio::CancelledError& error) {
      seen.push_back("CancelledError(" + error.message() + ")");
    }
  };
  auto body = [&]() -> Coro<void> {
    co_await held.acquire();
    for (int kind = 0; kind < 5; ++kind) {
      auto t = asyncio::create_task(waits(kind));
      co_await asyncio::sleep(0s);  // t waits
      t.cancel("stop");
      EXPECT_EQ(t.uncancel(), 0u);
      co_await t;
    }
  };
  loop->run_until_complete(body());
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  EXPECT_EQ(seen, std::vector<std::string>(5, "CancelledError(stop)"));
}

// Two cancel(msg) while a task waits: the first is handed to the wait, and its message is the
// one the task sees (Python's: the awaited future's CancelledError). Before the task's first
// step, and while it runs, the last request's message is the one (Python's _cancel_message).
TEST_F(TaskTest, TwoCancelsWhileWaitingRaiseTheFirstMessage) {
  std::vector<std::string> seen;
  auto waits = [&](int kind) -> Coro<void> {
    try {
      if (kind == 0) co_await asyncio::sleep(1h);
      if (kind == 1) co_await asyncio::get_running_loop().create_future<void>();
      if (kind == 2) co_await asyncio::sleep(0s);  // not waiting: on the ready queue
    } catch (const asyncio::CancelledError& error) {
      seen.push_back(error.message());
    }
  };
  auto body = [&]() -> Coro<void> {
    for (int kind = 0; kind < 3; ++kind) {
      auto t = asyncio::create_task(waits(kind));
      co_await asyncio::sleep(0s);
      t.cancel("first");
      t.cancel("second");
      co_await t;
    }
  };
  loop->run_until_complete(body());
  EXPECT_EQ(seen, (std::vector<std::string>{"first", "first", "second"}));
}

// A cancellation that comes after the wait ended (the task is woken, not yet run) waits for
// the task's next resumption, as Python's _must_cancel: uncancel() withdraws it, and the wait
// ends as it would have.
TEST_F(TaskTest, UncancelWithdrawsACancellationThatCameAfterTheWakeUp) {
  asyncio::Event event;
  asyncio::Queue<int> queue;
  std::vector<std::string> seen;
  auto waits = [&](int kind) -> Coro<void> {
    try {
      if (kind == 0) co_await event.wait();
      if (kind == 1) seen.push_back(std::to_string(co_await queue.get()));
      if (kind == 2) co_await asyncio::sleep(0s);
      seen.push_back("returned");
    } catch (const asyncio::CancelledError&) {
      seen.push_back("CancelledError");
    }
  };
  auto body = [&]() -> Coro<void> {
    for (int kind = 0; kind < 3; ++kind) {
      auto t = asyncio::create_task(waits(kind));
      co_await asyncio::sleep(0s);  // t waits (or, for the sleep(0), is on the ready queue)
      if (kind == 0) event.set();
      if (kind == 1) queue.put_nowait(7);
      t.cancel();
      EXPECT_EQ(t.uncancel(), 0u);
      co_await t;
      EXPECT_FALSE(t.cancelled());
    }
  };
  loop->run_until_complete(body());
  EXPECT_EQ(seen, (std::vector<std::string>{"returned", "7", "returned", "returned"}));
}

TEST_F(TaskTest, TaskAwaitingItselfIsARuntimeError) {
  Task<void> self;
  auto body = [&]() -> Coro<void> {
    co_await asyncio::sleep(0s);
    co_await self;
  };
  self = loop->create_task(body());
  EXPECT_THROW(loop->run_until_complete(self), asyncio::RuntimeError);
}

TEST_F(TaskTest, DoneCallbackReceivesTheTask) {
  auto work = []() -> Coro<int> { co_return 11; };
  auto t = loop->create_task(work());
  int got = 0;
  t.add_done_callback([&](Task<int> done) { got = done.result(); });
  loop->run_until_complete(t);
  run_iterations(1);
  EXPECT_EQ(got, 11);
}

TEST_F(TaskTest, EnsureFutureWrapsCoroutinesAndPassesTasksThrough) {
  auto work = []() -> Coro<int> { co_return 5; };
  auto body = [&]() -> Coro<void> {
    auto t = asyncio::ensure_future(work());
    auto same = asyncio::ensure_future(t);
    EXPECT_TRUE(same == t);
    EXPECT_EQ(co_await same, 5);
  };
  loop->run_until_complete(body());
}

TEST_F(TaskTest, CurrentTaskAndAllTasks) {
  auto sleeper = []() -> Coro<void> { co_await asyncio::sleep(1h); };
  auto body = [&]() -> Coro<void> {
    auto me = asyncio::current_task();
    EXPECT_TRUE(me.valid());
    EXPECT_EQ(me.get_name(), "main");
    auto other = asyncio::create_task(sleeper(), "sleeper");
    auto tasks = asyncio::all_tasks();
    EXPECT_EQ(tasks.size(), 2u);
    other.cancel();
    try {
      co_await other;
    } catch (const asyncio::CancelledError&) {
    }
    EXPECT_EQ(asyncio::all_tasks().size(), 1u);
  };
  loop->run_until_complete(loop->create_task(body(), "main"));
  EXPECT_THROW(asyncio::current_task(), asyncio::RuntimeError);  // no running loop
}

TEST_F(TaskTest, AllTasksStaysExactWhileTasksComeAndGo) {
  // Finished tasks leave holes in the loop's list, squeezed out as it would grow: every
  // round of adding and finishing must leave exactly the unfinished tasks listed. Thousands of
  // tasks a round, so that the list spans several of its 8,192-slot segments.
  auto sleeper = []() -> Coro<void> { co_await asyncio::sleep(1h); };
  auto quick = []() -> Coro<void> { co_return; };
  std::vector<asyncio::Task<void>> sleepers;
  auto body = [&]() -> Coro<void> {
    for (int round = 0; round < 8; ++round) {
      std::vector<asyncio::Task<void>> quick_ones;
      for (int i = 0; i < 3000; ++i) quick_ones.push_back(asyncio::create_task(quick()));
      for (int i = 0; i < 1000; ++i) sleepers.push_back(asyncio::create_task(sleeper()));
      co_await asyncio::gather(quick_ones);
      if (round % 2 == 1) {  // finish half of the sleepers
        for (std::size_t i = 0; i < sleepers.size(); i += 2) sleepers[i].cancel();
        co_await asyncio::sleep(0s);
        std::erase_if(sleepers, [](const asyncio::Task<void>& t) { return t.done(); });
      }
      std::set<const void*> listed, expected{asyncio::current_task().state()};
      for (const asyncio::TaskRef& t : asyncio::all_tasks()) listed.insert(t.state());
      for (const auto& t : sleepers) expected.insert(t.state());
      EXPECT_EQ(listed, expected) << "round " << round;
    }
  };
  loop->run_until_complete(body());
  EXPECT_FALSE(sleepers.empty());
  const std::size_t pending = sleepers.size();
  loop->close();  // destroys every pending sleeper, each reported once
  EXPECT_EQ(reported("Task was destroyed but it is pending!"), pending);
  for (const auto& t : sleepers) EXPECT_FALSE(t.done());
}

TEST_F(TaskTest, FailedTaskNobodyAskedIsReportedExactlyOnce) {
  auto fail = []() -> Coro<void> {
    throw std::runtime_error("nobody listens");
    co_return;
  };
  {
    auto t = loop->create_task(fail());
    run_iterations(2);
    EXPECT_TRUE(t.done());
  }
  ASSERT_EQ(reported("Task exception was never retrieved"), 1u);
  EXPECT_EQ(asyncio_test::what(reports[0].exception), "nobody listens");
}

TEST_F(TaskTest, FailedTaskWhoseExceptionWasRetrievedIsNotReported) {
  auto fail = []() -> Coro<void> {
    throw std::runtime_error("seen");
    co_return;
  };
  {
    auto t = loop->create_task(fail());
    EXPECT_THROW(loop->run_until_complete(t), std::runtime_error);
  }
  EXPECT_EQ(reports.size(), 0u);
}

TEST_F(TaskTest, PendingTaskDestroyedWithItsLoopIsReported) {
  bool cleaned_up = false;
  struct Cleanup {
    bool* flag;
    ~Cleanup() { *flag = true; }
  };
  auto forever = [](bool* flag) -> Coro<void> {
    Cleanup guard{flag};
    co_await asyncio::sleep(1h);
  };
  auto t = loop->create_task(forever(&cleaned_up));
  run_iterations(1);
  loop->close();
  EXPECT_EQ(reported("Task was destroyed but it is pending!"), 1u);
  EXPECT_TRUE(cleaned_up);  // the frame was destroyed
  EXPECT_FALSE(t.done());
}

TEST_F(TaskTest, PendingTaskWaitingOnAFutureIsUnlinkedWhenItsLoopCloses) {
  auto f = loop->create_future<int>();
  auto waiter = [f]() -> Coro<int> { co_return co_await f; };
  auto t = loop->create_task(waiter());
  run_iterations(1);
  loop->close();
  EXPECT_EQ(reported("Task was destroyed but it is pending!"), 1u);
  // The future outlives the task: completing it must not schedule the destroyed task.
  EXPECT_NO_THROW(f.set_result(1));
  EXPECT_EQ(f.result(), 1);
}

// Nests `depth` coroutines, the innermost waiting on `never`; each level records, when its
// frame is destroyed, its depth into `destroyed`.
Coro<void> nest(int depth, asyncio::Future<void> never, std::vector<int>* destroyed) {
  struct Record {
    int depth;
    std::vector<int>* destroyed;
    ~Record() {
      if (destroyed) destroyed->push_back(depth);
    }
  } record{depth, destroyed};
  if (depth == 0) {
    co_await never;
  } else {
    co_await nest(depth - 1, never, destroyed);
  }
}

TEST_F(TaskTest, ClosingDestroysADeepSuspendedChainAtConstantStack) {
  // Deep enough to overflow the stack if destruction recursed: about 100 bytes of stack per
  // level, 8 MiB of stack.
  const int depth = asyncio_test::optimized && !asyncio_test::sanitized ? 1'000'000 : 100'000;
  auto never = loop->create_future<void>();
  auto task = loop->create_task(nest(depth, never, nullptr));
  run_iterations(2);
  ASSERT_FALSE(task.done());
  loop->close();
  EXPECT_EQ(reported("Task was destroyed but it is pending!"), 1u);
}

TEST_F(TaskTest, ClosingDestroysTheInnermostFrameFirst) {
  std::vector<int> destroyed;
  auto never = loop->create_future<void>();
  auto task = loop->create_task(nest(3, never, &destroyed));
  run_iterations(2);
  loop->close();
  // Each frame dies before the frame that awaits it (which it may refer to).
  EXPECT_EQ(destroyed, (std::vector<int>{0, 1, 2, 3}));
}

TEST_F(TaskTest, CancelledDeepChainUnwindsAtConstantStack) {
  const int depth = asyncio_test::optimized && !asyncio_test::sanitized ? 200'000 : 100'000;
  auto never = loop->create_future<void>();
  auto task = loop->create_task(nest(depth, never, nullptr));
  run_iterations(2);
  task.cancel();
  EXPECT_THROW(loop->run_until_complete(task), asyncio::CancelledError);
}

TEST_F(TaskTest, CancelRequestsAreCountedBeyondSixteenBits) {
  auto forever = []() -> Coro<void> { co_await asyncio::sleep(1h); };
  auto t = loop->create_task(forever());
  run_iterations(1);
  for (int i = 0; i < 70'000; ++i) t.cancel();
  EXPECT_EQ(t.cancelling(), 70'000u);
  for (int i = 0; i < 69'999; ++i) t.uncancel();
  EXPECT_EQ(t.cancelling(), 1u);
  EXPECT_THROW(loop->run_until_complete(t), asyncio::CancelledError);
}

TEST_F(TaskTest, FramesDestroyedByCloseSeeTheirLoopRunning) {
  // Code in the destructors of a pending task's frame may ask for the running loop and
  // schedule callbacks: close() destroys the frame as if the loop ran (the callback is dropped).
  bool saw_loop = false;
  int ran = 0;
  struct AtExit {
    asyncio::EventLoop* expected;
    bool* saw_loop;
    int* ran;
    ~AtExit() {
      *saw_loop = &asyncio::get_running_loop() == expected;
      asyncio::get_running_loop().call_soon([r = ran] { ++*r; });
    }
  };
  auto forever = [&]() -> Coro<void> {
    AtExit at_exit{loop.get(), &saw_loop, &ran};
    co_await asyncio::sleep(1h);
  };
  auto t = loop->create_task(forever());
  run_iterations(1);
  loop->close();
  EXPECT_TRUE(saw_loop);
  EXPECT_EQ(ran, 0);
  EXPECT_EQ(reported("Task was destroyed but it is pending!"), 1u);
  EXPECT_THROW(asyncio::get_running_loop(), asyncio::RuntimeError);  // only during close()
}

}  // namespace

namespace {

// CPython's test_tasks.py test_get_coro and test_get_stack / test_task_print_stack: the root
// coroutine while pending, none once done; the frames it is suspended in, oldest first.
Coro<void> innermost(asyncio::Future<void> gate) { co_await gate; }
Coro<void> middle(asyncio::Future<void> gate) { co_await innermost(gate); }
Coro<void> outermost(asyncio::Future<void> gate) { co_await middle(gate); }

TEST_F(TaskTest, GetCoroGetStackAndPrintStackShowWhereATaskIsSuspended) {
  auto gate = loop->create_future<void>();
  Task<void> t = loop->create_task(outermost(gate));
  const std::coroutine_handle<> root = t.get_coro();
  EXPECT_TRUE(root);
  EXPECT_EQ(t.get_stack().size(), 1u);  // not started: only its root
  run_iterations(1);
  const std::vector<std::coroutine_handle<>> stack = t.get_stack();
  ASSERT_EQ(stack.size(), 3u);
  EXPECT_EQ(stack.front(), root);  // oldest first
  EXPECT_EQ(t.get_coro(), root);
  const std::vector<std::coroutine_handle<>> newest = t.get_stack(1);
  ASSERT_EQ(newest.size(), 1u);
  EXPECT_EQ(newest[0], stack.back());
  std::ostringstream out;
  t.print_stack(out);
  const std::string printed = out.str();
  EXPECT_EQ(printed.rfind("Stack for <Task pending name='Task-", 0), 0u) << printed;
  EXPECT_EQ(std::count(printed.begin(), printed.end(), '\n'), 4);
  gate.set_result();
  run(t);
  EXPECT_FALSE(t.get_coro());
  EXPECT_TRUE(t.get_stack().empty());
  std::ostringstream after;
  t.print_stack(after);
  EXPECT_EQ(after.str().rfind("No stack for <Task finished", 0), 0u) << after.str();
}

}  // namespace
