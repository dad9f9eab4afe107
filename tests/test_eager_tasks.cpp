// Eager tasks and task factories: create_task(coro, {.eager_start = true}),
// loop.set_task_factory / get_task_factory, eager_task_factory and create_eager_task_factory.
// Most cases are ports of CPython's Lib/test/test_asyncio/test_eager_task_factory.py; each
// names the Python test it comes from.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/asyncio_test.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio::Task;
using asyncio::TaskOptions;
using asyncio::TaskRef;
using asyncio::TaskRequest;

namespace {

bool contains(const std::vector<TaskRef>& tasks, const TaskRef& task) {
  return std::find(tasks.begin(), tasks.end(), task) != tasks.end();
}

Coro<std::string> hello() { co_return "hello"; }
Coro<std::string> after_a_sleep() {
  co_await asyncio::sleep(1ms);
  co_return "finished after blocking";
}

/// A loop whose tasks all start eagerly (CPython's EagerTaskFactoryLoopTests).
struct EagerFactoryTest : asyncio_test::LoopFixture {
  EagerFactoryTest() { loop->set_task_factory(asyncio::eager_task_factory); }
};

// test_eager_task_factory_set
TEST_F(EagerFactoryTest, TheFactoryIsSetAndMakesTheTasks) {
  using FactoryFn = TaskRef (*)(asyncio::EventLoop&, TaskRequest&, TaskOptions);
  const FactoryFn* set = loop->get_task_factory().target<FactoryFn>();
  ASSERT_NE(set, nullptr);
  EXPECT_EQ(*set, &asyncio::eager_task_factory);
  auto noop = []() -> Coro<void> { co_return; };
  auto body = [&]() -> Coro<void> {
    Task<void> t = loop->create_task(noop());
    EXPECT_TRUE(t.done());
    co_await t;
  };
  run(body());
}

// test_await_future_during_eager_step
TEST_F(EagerFactoryTest, AFutureSetDuringTheEagerStepIsSetWhenCreateTaskReturns) {
  auto set_result = [](asyncio::Future<std::string> fut) -> Coro<void> {
    fut.set_result("my message");
    co_return;
  };
  auto body = [&]() -> Coro<std::string> {
    auto fut = loop->create_future<std::string>();
    Task<void> t = loop->create_task(set_result(fut));
    EXPECT_TRUE(t.done());  // the eager step completed the task
    co_return co_await fut;
  };
  EXPECT_EQ(run(body()), "my message");
}

// test_eager_completion
TEST_F(EagerFactoryTest, ACoroutineThatDoesNotSuspendIsDoneAtOnce) {
  auto body = [&]() -> Coro<std::string> {
    Task<std::string> t = loop->create_task(hello());
    EXPECT_TRUE(t.done());
    co_return co_await t;
  };
  EXPECT_EQ(run(body()), "hello");
}

// test_block_after_eager_step
TEST_F(EagerFactoryTest, ACoroutineThatSuspendsGoesOnAsAnOrdinaryTask) {
  auto body = [&]() -> Coro<std::string> {
    Task<std::string> t = loop->create_task(after_a_sleep());
    EXPECT_FALSE(t.done());
    std::string result = co_await t;
    EXPECT_TRUE(t.done());
    co_return result;
  };
  EXPECT_EQ(run(body()), "finished after blocking");
}

// test_cancellation_after_eager_completion
TEST_F(EagerFactoryTest, CancellingATaskThatFinishedEagerlyDoesNothing) {
  auto body = [&]() -> Coro<std::string> {
    Task<std::string> t = loop->create_task(hello());
    EXPECT_FALSE(t.cancel());
    std::string result = co_await t;
    EXPECT_FALSE(t.cancelled());
    co_return result;
  };
  EXPECT_EQ(run(body()), "hello");
}

// test_cancellation_after_eager_step_blocks
TEST_F(EagerFactoryTest, CancellingAfterTheEagerStepSuspendedCancelsIt) {
  auto body = [&]() -> Coro<void> {
    Task<std::string> t = loop->create_task(after_a_sleep());
    t.cancel("cancellation message");
    EXPECT_GT(t.cancelling(), 0u);
    co_await t;
  };
  try {
    run(body());
    ADD_FAILURE() << "no CancelledError";
  } catch (const asyncio::CancelledError& e) {
    EXPECT_EQ(e.message(), "cancellation message");
  }
}

// test_current_task
TEST_F(EagerFactoryTest, TheEagerStepRunsAsTheNewTaskAndTheCreatorIsCurrentAgainAfter) {
  TaskRef captured;
  auto coro = [&]() -> Coro<void> {
    captured = asyncio::current_task();
    co_await asyncio::sleep(1ms);
    EXPECT_TRUE(asyncio::current_task() == captured);  // the same task before and after
  };
  auto body = [&]() -> Coro<void> {
    const TaskRef creator = asyncio::current_task();
    Task<void> t = loop->create_task(coro());
    EXPECT_TRUE(captured == TaskRef(t));
    EXPECT_TRUE(asyncio::current_task() == creator);
    co_await t;
  };
  run(body());
}

// test_all_tasks_with_eager_completion
TEST_F(EagerFactoryTest, ATaskThatFinishedEagerlyIsNotAmongAllTasks) {
  std::vector<TaskRef> seen_inside;
  auto coro = [&]() -> Coro<void> {
    seen_inside = asyncio::all_tasks();
    co_return;
  };
  auto body = [&]() -> Coro<void> {
    Task<void> t = loop->create_task(coro());
    EXPECT_TRUE(contains(seen_inside, t));
    EXPECT_FALSE(contains(asyncio::all_tasks(), t));
    co_return;
  };
  run(body());
}

// test_all_tasks_with_blocking
TEST_F(EagerFactoryTest, ATaskThatSuspendedIsAmongAllTasksUntilItFinishes) {
  std::vector<TaskRef> seen_inside;
  auto coro = [&](asyncio::Future<void> fut1, asyncio::Future<void> fut2) -> Coro<void> {
    seen_inside = asyncio::all_tasks();
    co_await fut1;
    fut2.set_result();
  };
  auto body = [&]() -> Coro<void> {
    auto fut1 = loop->create_future<void>();
    auto fut2 = loop->create_future<void>();
    Task<void> t = loop->create_task(coro(fut1, fut2));
    EXPECT_TRUE(contains(seen_inside, t));
    EXPECT_TRUE(contains(asyncio::all_tasks(), t));
    fut1.set_result();
    co_await fut2;
    co_await asyncio::sleep(0s);  // fut2's setter finishes in the same step it set it
    EXPECT_FALSE(contains(asyncio::all_tasks(), t));
  };
  run(body());
}

TEST_F(EagerFactoryTest, AnExceptionInTheEagerStepFailsTheTaskNotTheCreator) {
  auto failing = []() -> Coro<int> {
    throw std::runtime_error("at once");
    co_return 0;
  };
  auto body = [&]() -> Coro<bool> {
    Task<int> t = loop->create_task(failing());
    EXPECT_TRUE(t.done());
    try {
      co_await t;
    } catch (const std::runtime_error&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(run(body()));
}

TEST_F(EagerFactoryTest, EagerStartFalseOverridesTheFactory) {
  auto body = [&]() -> Coro<std::string> {
    Task<std::string> t = loop->create_task(hello(), TaskOptions{.eager_start = false});
    EXPECT_FALSE(t.done());
    co_return co_await t;
  };
  EXPECT_EQ(run(body()), "hello");
}

TEST_F(EagerFactoryTest, BeforeTheLoopRunsATaskIsScheduledNotRunEagerly) {
  // Python starts a task eagerly only if its loop is running.
  int steps = 0;
  auto count = [&]() -> Coro<void> {
    ++steps;
    co_return;
  };
  Task<void> t = loop->create_task(count());
  EXPECT_EQ(steps, 0);
  EXPECT_FALSE(t.done());
  run(std::move(t));
  EXPECT_EQ(steps, 1);
}

// Python 3.13.2 (gh-128550; CPython's test_cancels_task_if_created_during_creation): the group
// adds even a task that failed inside create_task and hears of it through its done callback on
// the next iteration, so the task that created it is in the group by then and is cancelled at
// its next await; create_task itself returns with nothing cancelled yet.
TEST_F(EagerFactoryTest, ATaskGroupHearsOfAChildThatFailedEagerlyOnTheNextIteration) {
  auto failing = []() -> Coro<void> {
    throw std::runtime_error("eager failure");
    co_return;
  };
  bool creator_finished = false, block_went_on = false;
  std::size_t size_after = 99;
  std::uint32_t cancelling_after = 99;
  auto body = [&]() -> Coro<std::size_t> {
    try {
      co_await asyncio::task_group([&](asyncio::TaskGroup& tg) -> Coro<void> {
        auto creator = [&]() -> Coro<void> {
          tg.create_task(failing());
          size_after = tg.size();  // the failed task (the creator is added once it suspends)
          cancelling_after = asyncio::current_task().cancelling();
          co_await asyncio::sleep(0s);
          co_await asyncio::sleep(0s);
          creator_finished = true;
        };
        tg.create_task(creator());  // runs eagerly up to its first sleep(0)
        co_await asyncio::sleep(1h);
        block_went_on = true;
      });
    } catch (const asyncio::ExceptionGroup& group) {
      co_return group.size();
    }
    co_return 0;
  };
  EXPECT_EQ(run(body()), 1u);
  EXPECT_EQ(size_after, 1u);
  EXPECT_EQ(cancelling_after, 0u);
  EXPECT_FALSE(creator_finished);
  EXPECT_FALSE(block_went_on);
}

// A child whose eager first step cancels its group (tg.cancel()) was not in the group yet when
// the group cancelled its tasks: it is cancelled once it joins (CPython gh-155418), so the group
// does not wait for it.
TEST_F(EagerFactoryTest, AChildThatCancelsItsGroupInItsEagerStepIsCancelledToo) {
  bool child_cancelled = false, block_went_on = false;
  auto body = [&]() -> Coro<void> {
    co_await asyncio::task_group([&](asyncio::TaskGroup& tg) -> Coro<void> {
      auto cancels_group = [&]() -> Coro<void> {
        tg.cancel();
        try {
          co_await asyncio::sleep(1h);
        } catch (const asyncio::CancelledError&) {
          child_cancelled = true;
          throw;
        }
      };
      tg.create_task(cancels_group());
      co_await asyncio::sleep(1h);
      block_went_on = true;
    });
  };
  run(body());
  EXPECT_TRUE(child_cancelled);
  EXPECT_FALSE(block_went_on);
}

TEST_F(EagerFactoryTest, EagerTasksNestAndEachCreatorIsCurrentAgainAfterItsChild) {
  std::vector<std::string> trace;
  auto leaf = [&]() -> Coro<int> {
    trace.push_back("leaf " + asyncio::current_task().get_name());
    co_return 1;
  };
  auto middle = [&]() -> Coro<int> {
    trace.push_back("middle " + asyncio::current_task().get_name());
    Task<int> t = asyncio::create_task(leaf(), TaskOptions{.name = "leaf"});
    trace.push_back("middle again " + asyncio::current_task().get_name());
    co_return co_await t + 1;
  };
  auto body = [&]() -> Coro<int> {
    Task<int> t = asyncio::create_task(middle(), TaskOptions{.name = "middle"});
    trace.push_back("body " + asyncio::current_task().get_name());
    co_return co_await t;
  };
  Task<int> main_task = loop->create_task(body(), "body");
  EXPECT_EQ(run(std::move(main_task)), 2);
  EXPECT_EQ(trace, (std::vector<std::string>{"middle middle", "leaf leaf", "middle again middle",
                                             "body body"}));
}

// --- eager_start without a factory (Python 3.14's create_task(..., eager_start=True)) ---------

struct EagerStartTest : asyncio_test::LoopFixture {};

TEST_F(EagerStartTest, EagerStartRunsTheFirstStepInsideCreateTask) {
  std::vector<std::string> trace;
  auto coro = [&]() -> Coro<void> {
    trace.push_back("first step");
    co_await asyncio::sleep(0s);
    trace.push_back("second step");
  };
  auto body = [&]() -> Coro<void> {
    Task<void> lazy = asyncio::create_task(coro());
    trace.push_back("lazy created");
    Task<void> eager = asyncio::create_task(coro(), TaskOptions{.eager_start = true});
    trace.push_back("eager created");
    co_await asyncio::gather(lazy, eager);
  };
  run(body());
  EXPECT_EQ(trace, (std::vector<std::string>{"lazy created", "first step", "eager created",
                                             "first step", "second step", "second step"}));
}

TEST_F(EagerStartTest, WithoutAFactoryTheDefaultIsLazy) {
  EXPECT_FALSE(loop->get_task_factory());
  auto body = [&]() -> Coro<std::string> {
    Task<std::string> t = asyncio::create_task(hello());
    EXPECT_FALSE(t.done());
    co_return co_await t;
  };
  EXPECT_EQ(run(body()), "hello");
}

// --- task factories --------------------------------------------------------------------------

struct TaskFactoryTest : asyncio_test::LoopFixture {};

TEST_F(TaskFactoryTest, AFactorySeesEveryTaskWithItsOptionsAndMayChangeThem) {
  std::vector<std::string> names;
  loop->set_task_factory([&](asyncio::EventLoop&, TaskRequest& coro, TaskOptions options) {
    names.emplace_back(options.name);
    options.name = "renamed";
    return coro.start(options);
  });
  auto body = [&]() -> Coro<std::string> {
    Task<std::string> t = asyncio::create_task(hello(), "given");
    EXPECT_EQ(t.get_name(), "renamed");
    co_return co_await t;
  };
  EXPECT_EQ(run(body()), "hello");
  ASSERT_EQ(names.size(), 2u);  // run_until_complete's task, then the body's
  EXPECT_EQ(names[1], "given");
  loop->set_task_factory(nullptr);
  EXPECT_FALSE(loop->get_task_factory());
}

TEST_F(TaskFactoryTest, AFactoryThatDoesNotReturnTheTaskItStartedIsAnError) {
  auto body = [&]() -> Coro<void> {
    TaskRef other = asyncio::current_task();
    loop->set_task_factory([&](asyncio::EventLoop&, TaskRequest& coro, TaskOptions options) {
      coro.start(options);
      return other;
    });
    EXPECT_THROW(asyncio::create_task(hello()), asyncio::RuntimeError);
    loop->set_task_factory([&](asyncio::EventLoop&, TaskRequest&, TaskOptions) { return other; });
    EXPECT_THROW(asyncio::create_task(hello()), asyncio::RuntimeError);  // never started it
    loop->set_task_factory([&](asyncio::EventLoop&, TaskRequest& coro, TaskOptions options) {
      coro.start(options);
      return coro.start(options);
    });
    EXPECT_THROW(asyncio::create_task(hello()), asyncio::RuntimeError);  // started twice
    loop->set_task_factory([&](asyncio::EventLoop&, TaskRequest&, TaskOptions) -> TaskRef {
      throw std::invalid_argument("factory failed");
    });
    EXPECT_THROW(asyncio::create_task(hello()), std::invalid_argument);
    loop->set_task_factory(nullptr);
    co_await asyncio::sleep(0s);  // the tasks started above run and finish
  };
  run(body());
  EXPECT_TRUE(reports.empty());
}

// AsyncTaskCounter and BaseTaskCountingTests: a factory that counts the tasks not started
// eagerly, through chains of awaits, nested task groups and nested gathers.
struct TaskCountingTest : asyncio_test::LoopFixture {
  int lazy_tasks = 0;
  void count_tasks(bool eager) {
    asyncio::TaskFactory counting = [this](asyncio::EventLoop&, TaskRequest& coro,
                                           TaskOptions options) {
      if (!options.eager_start.value_or(false)) ++lazy_tasks;
      return coro.start(options);
    };
    loop->set_task_factory(eager ? asyncio::create_eager_task_factory(counting) : counting);
  }
};

Coro<int> awaitable_chain(int depth) {
  if (depth == 0) co_return 0;
  co_return 1 + co_await awaitable_chain(depth - 1);
}

Coro<void> recursive_taskgroups(int width, int depth) {
  if (depth == 0) co_return;
  co_await asyncio::task_group([&](asyncio::TaskGroup& tg) -> Coro<void> {
    for (int i = 0; i < width; ++i) tg.create_task(recursive_taskgroups(width, depth - 1));
    co_return;
  });
}

Coro<void> recursive_gather(int width, int depth) {
  if (depth == 0) co_return;
  std::vector<Coro<void>> children;
  for (int i = 0; i < width; ++i) children.push_back(recursive_gather(width, depth - 1));
  co_await asyncio::gather(std::move(children));
}

TEST_F(TaskCountingTest, AwaitablesChain) {  // test_awaitables_chain
  for (const bool eager : {false, true}) {
    lazy_tasks = 0;
    count_tasks(eager);
    EXPECT_EQ(loop->run_until_complete(awaitable_chain(100)), 100);
    EXPECT_EQ(lazy_tasks, eager ? 0 : 1);
  }
}

TEST_F(TaskCountingTest, RecursiveTaskGroups) {  // test_recursive_taskgroups
  for (const bool eager : {false, true}) {
    lazy_tasks = 0;
    count_tasks(eager);
    loop->run_until_complete(recursive_taskgroups(5, 4));
    EXPECT_EQ(lazy_tasks, eager ? 0 : 781);  // 1 + 5 + 5^2 + 5^3 + 5^4
  }
}

TEST_F(TaskCountingTest, RecursiveGather) {  // test_recursive_gather
  for (const bool eager : {false, true}) {
    lazy_tasks = 0;
    count_tasks(eager);
    loop->run_until_complete(recursive_gather(5, 4));
    EXPECT_EQ(lazy_tasks, eager ? 0 : 781);
  }
}

}  // namespace
