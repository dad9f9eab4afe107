// Call graphs (call_graph.hpp): each task's chain of coroutine frames, named by function and
// file and line, and what awaits it through gather, wait_for, Queue.get, TaskGroup, shield
// and wait; Python's depth and limit; and the reports that name tasks and callbacks (debug
// mode's slow callbacks, "Task was destroyed but it is pending!", the creation site).
// This file is compiled with -g in every build, so its coroutines have file and line.
#include <string>
#include <vector>

#include "asyncio/call_graph.hpp"
#include "asyncio/inspection.hpp"
#include "support/asyncio_test.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio::FutureCallGraph;

namespace {

struct CallGraphTest : asyncio_test::LoopFixture {};

/// The functions of a call stack, innermost first, each cut at its parameters.
std::vector<std::string> functions(const FutureCallGraph& graph) {
  std::vector<std::string> names;
  for (const auto& entry : graph.call_stack) {
    std::string name = entry.function;
    if (name.rfind("(anonymous namespace)::", 0) == 0) name.erase(0, 23);
    names.push_back(name.substr(0, name.find('(')));
  }
  return names;
}

asyncio::TaskRef task_named(asyncio::EventLoop& loop, const std::string& name) {
  for (const asyncio::TaskRef& task : asyncio::all_tasks(loop)) {
    if (task.get_name() == name) return task;
  }
  return {};
}

Coro<int> take(asyncio::Queue<int>& queue) { co_return co_await queue.get(); }
Coro<int> fetch(asyncio::Queue<int>& queue) {
  co_return co_await asyncio::wait_for(take(queue), 1h);
}
Coro<void> fetch_both(asyncio::Queue<int>& queue) {
  co_await asyncio::gather(asyncio::create_task(fetch(queue), "child-1"),
                           asyncio::create_task(fetch(queue), "child-2"));
}
Coro<void> wait_for_go(asyncio::Event& go) { co_await go.wait(); }
Coro<void> guarded(asyncio::Event& go) {
  co_await asyncio::shield(asyncio::create_task(wait_for_go(go), "shielded"));
}
Coro<void> supervise(asyncio::Event& go) {
  co_await asyncio::task_group([&go](asyncio::TaskGroup& group) -> Coro<void> {
    group.create_task(wait_for_go(go), "worker");
    co_return;
  });
}
Coro<void> wait_all(asyncio::Event& go) {
  std::vector<asyncio::Task<void>> tasks{asyncio::create_task(wait_for_go(go), "waited")};
  co_await asyncio::wait(tasks);
}

/// Starts every stuck task, lets each reach its wait, checks with `check`, then unsticks them.
template <class Check>
Coro<void> with_stuck_tasks(Check check) {
  asyncio::Queue<int> queue;
  asyncio::Event go;
  auto fetcher = asyncio::create_task(fetch_both(queue), "fetcher");
  auto guard = asyncio::create_task(guarded(go), "guard");
  auto supervisor = asyncio::create_task(supervise(go), "supervisor");
  auto waiter = asyncio::create_task(wait_all(go), "waiter");
  for (int i = 0; i < 5; ++i) co_await asyncio::sleep(0s);
  check();
  queue.put_nowait(1);
  queue.put_nowait(2);
  go.set();
  co_await fetcher;
  co_await guard;
  co_await supervisor;
  co_await waiter;
}

TEST_F(CallGraphTest, GatherWaitForQueueGetChainInOrder) {
  run(with_stuck_tasks([this] {
    const FutureCallGraph graph = asyncio::capture_call_graph(task_named(*loop, "child-1"));
    EXPECT_TRUE(graph.is_task());
    EXPECT_EQ(graph.name(), "child-1");
    // Innermost first, as Python lists them.
    const std::vector<std::string> names = functions(graph);
    // As Python's: take, wait_for, fetch (wait_for's deadline is no frame of its own).
    ASSERT_EQ(names.size(), 3u) << asyncio::format_call_graph(graph);
    EXPECT_EQ(names[0], "take");
    EXPECT_EQ(names[1], "asyncio::wait_for<asyncio::Coro<int>, long, std::ratio<3600l, 1l> >");
    EXPECT_EQ(names[2], "fetch");
    EXPECT_NE(graph.call_stack[0].file.find("test_call_graph.cpp"), std::string::npos);
    EXPECT_GT(graph.call_stack[0].line, 0u);
    // Awaited by the gather (a future), which the fetcher task awaits.
    ASSERT_EQ(graph.awaited_by.size(), 1u);
    const FutureCallGraph& gather = graph.awaited_by[0];
    EXPECT_FALSE(gather.is_task());
    ASSERT_EQ(gather.awaited_by.size(), 1u);
    EXPECT_EQ(gather.awaited_by[0].name(), "fetcher");
    EXPECT_EQ(functions(gather.awaited_by[0]), std::vector<std::string>{"fetch_both"});
  }));
}

TEST_F(CallGraphTest, TaskGroupShieldAndWaitShowTheirAwaiters) {
  run(with_stuck_tasks([this] {
    const FutureCallGraph worker = asyncio::capture_call_graph(task_named(*loop, "worker"));
    ASSERT_EQ(worker.awaited_by.size(), 1u);
    EXPECT_EQ(worker.awaited_by[0].name(), "supervisor");  // the task running the group's block
    const std::vector<std::string> supervisor = functions(worker.awaited_by[0]);
    ASSERT_FALSE(supervisor.empty());
    EXPECT_EQ(supervisor.back(), "supervise");
    EXPECT_EQ(supervisor.front(), "asyncio::TaskGroup::exit");

    const FutureCallGraph shielded = asyncio::capture_call_graph(task_named(*loop, "shielded"));
    ASSERT_EQ(shielded.awaited_by.size(), 1u);  // the shield's outer future
    EXPECT_FALSE(shielded.awaited_by[0].is_task());
    ASSERT_EQ(shielded.awaited_by[0].awaited_by.size(), 1u);
    EXPECT_EQ(shielded.awaited_by[0].awaited_by[0].name(), "guard");

    const FutureCallGraph waited = asyncio::capture_call_graph(task_named(*loop, "waited"));
    ASSERT_EQ(waited.awaited_by.size(), 1u);  // wait's waiter future
    ASSERT_EQ(waited.awaited_by[0].awaited_by.size(), 1u);
    EXPECT_EQ(waited.awaited_by[0].awaited_by[0].name(), "waiter");
    EXPECT_EQ(functions(waited.awaited_by[0].awaited_by[0]).back(), "wait_all");
  }));
}

TEST_F(CallGraphTest, FormatsAsPython) {
  run(with_stuck_tasks([this] {
    const std::string text = asyncio::format_call_graph(task_named(*loop, "worker"));
    EXPECT_EQ(text.rfind("* Task(name='worker', id=0x", 0), 0u) << text;
    EXPECT_NE(text.find("\n  + Call stack:\n  |   File '"), std::string::npos) << text;
    EXPECT_NE(text.find("test_call_graph.cpp', line "), std::string::npos) << text;
    EXPECT_NE(text.find(", in async (anonymous namespace)::wait_for_go(asyncio::Event&)\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("\n  + Awaited by:\n    * Task(name='supervisor', id=0x"),
              std::string::npos)
        << text;
    EXPECT_NE(text.back(), '\n');  // as Python's format_call_graph
  }));
}

Coro<void> inner_probe(std::vector<std::vector<std::string>>& seen) {
  for (std::size_t depth : {1u, 2u}) {
    std::optional<FutureCallGraph> graph = asyncio::capture_call_graph({.depth = depth});
    EXPECT_TRUE(graph.has_value());
    if (graph) seen.push_back(functions(*graph));
  }
  co_return;
}
Coro<void> outer_probe(std::vector<std::vector<std::string>>& seen) { co_await inner_probe(seen); }

TEST_F(CallGraphTest, CurrentTaskAndDepth) {
  std::vector<std::vector<std::string>> seen;
  run(outer_probe(seen));
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], (std::vector<std::string>{"inner_probe", "outer_probe"}));
  EXPECT_EQ(seen[1], (std::vector<std::string>{"outer_probe"}));       // depth 2 skips one more
  EXPECT_THROW(asyncio::capture_call_graph(), asyncio::RuntimeError);  // no running loop
}

TEST_F(CallGraphTest, OutsideATaskThereIsNoGraph) {
  bool empty = false;
  loop->call_soon([&] { empty = !asyncio::capture_call_graph().has_value(); });
  loop->call_soon([this] { loop->stop(); });
  loop->run_forever();
  EXPECT_TRUE(empty);
}

TEST_F(CallGraphTest, LimitKeepsTheOutermostOrTheInnermost) {
  run(with_stuck_tasks([this] {
    const asyncio::TaskRef child = task_named(*loop, "child-1");
    EXPECT_EQ(functions(asyncio::capture_call_graph(child, {.depth = 1, .limit = 1})),
              std::vector<std::string>{"fetch"});
    EXPECT_EQ(functions(asyncio::capture_call_graph(child, {.depth = 1, .limit = -1})),
              std::vector<std::string>{"take"});
    const FutureCallGraph none = asyncio::capture_call_graph(child, {.depth = 1, .limit = 0});
    EXPECT_TRUE(none.call_stack.empty());
    EXPECT_EQ(none.awaited_by.size(), 1u);  // "awaited by" is still there
  }));
}

TEST_F(CallGraphTest, DebugModeRecordsWhereATaskWasCreated) {
  loop->set_debug(true);
  const unsigned line = __LINE__ + 1;
  auto task = loop->create_task(asyncio::sleep(0s, 1), "made-here");
  EXPECT_EQ(task.state()->as_task()->created_at().line(), line);
  EXPECT_NE(
      std::string(task.state()->as_task()->created_at().file_name()).find("test_call_graph.cpp"),
      std::string::npos);
  run(std::move(task));
  loop->set_debug(false);
  auto plain = loop->create_task(asyncio::sleep(0s, 1));
  EXPECT_EQ(plain.state()->as_task()->created_at().line(), 0u);
  run(std::move(plain));
}

void busy_for_plain() {
  const auto end = asyncio::Clock::now() + 5ms;
  while (asyncio::Clock::now() < end) {
  }
}

Coro<void> busy_for(std::chrono::milliseconds d) {
  const auto end = asyncio::Clock::now() + d;
  while (asyncio::Clock::now() < end) {
  }
  co_return;
}

TEST_F(CallGraphTest, SlowCallbacksAreNamed) {
  loop->set_debug(true);
  loop->set_slow_callback_duration(1ms);
  run(loop->create_task(busy_for(5ms), "slowpoke"));
  loop->call_soon([] { busy_for_plain(); });
  loop->call_soon([this] { loop->stop(); });
  loop->run_forever();
  std::vector<std::string> slow;
  for (const auto& report : reports) {
    if (report.message.rfind("Executing ", 0) == 0) slow.push_back(report.message);
  }
  ASSERT_GE(slow.size(), 2u);
  EXPECT_NE(
      slow[0].find(
          "<Task 'slowpoke' resumed in (anonymous namespace)::busy_for(std::chrono::duration<long, "
          "std::ratio<1l, 1000l> >) at "),
      std::string::npos)
      << slow[0];
  EXPECT_NE(slow[0].find(" took 0.0"), std::string::npos) << slow[0];
  EXPECT_EQ(slow[1].rfind("Executing <callback ", 0), 0u) << slow[1];
  EXPECT_NE(slow[1].find("CallGraphTest_SlowCallbacksAreNamed_Test::TestBody()::"),
            std::string::npos)
      << slow[1];
}

Coro<void> busy_after_sleep() {
  co_await asyncio::sleep(1ms);
  busy_for_plain();
}

// A task woken by its sleep's timer runs its step from that timer: still reported as the task.
TEST_F(CallGraphTest, ASlowStepAfterASleepIsNamedAsTheTask) {
  loop->set_debug(true);
  loop->set_slow_callback_duration(1ms);
  run(loop->create_task(busy_after_sleep(), "sleeper"));
  std::vector<std::string> slow;
  for (const auto& report : reports) {
    if (report.message.rfind("Executing ", 0) == 0) slow.push_back(report.message);
  }
  ASSERT_EQ(slow.size(), 1u);
  EXPECT_NE(slow[0].find("<Task 'sleeper' resumed in (anonymous namespace)::busy_after_sleep()"),
            std::string::npos)
      << slow[0];
}

Coro<void> stuck_forever(asyncio::Event& never) { co_await never.wait(); }

TEST_F(CallGraphTest, DestroyedPendingTaskReportHasItsCallGraph) {
  asyncio::Event never;
  loop->set_debug(true);
  auto task = loop->create_task(stuck_forever(never), "abandoned");
  run(asyncio::sleep(0s, 0));
  loop->close();
  ASSERT_FALSE(reports.empty());
  const asyncio::ExceptionContext& report = reports.back();
  EXPECT_EQ(report.message, "Task was destroyed but it is pending!");
  EXPECT_NE(report.source.find("name='abandoned'"), std::string::npos);
  EXPECT_NE(report.details.find("created at "), std::string::npos) << report.details;
  EXPECT_NE(report.details.find("test_call_graph.cpp"), std::string::npos) << report.details;
  EXPECT_NE(report.details.find("in async (anonymous namespace)::stuck_forever(asyncio::Event&)"),
            std::string::npos)
      << report.details;
}

Coro<void> fail_later() {
  co_await asyncio::sleep(0s);
  throw std::runtime_error("lost");
}

TEST_F(CallGraphTest, NeverRetrievedReportNamesTheTask) {
  loop->set_debug(true);
  {
    auto task = loop->create_task(fail_later(), "forgotten");
    run(asyncio::sleep(1ms, 0));
  }
  ASSERT_FALSE(reports.empty());
  const asyncio::ExceptionContext& report = reports.back();
  EXPECT_EQ(report.message, "Task exception was never retrieved");
  EXPECT_NE(report.details.find("created at "), std::string::npos) << report.details;
  EXPECT_NE(report.details.find("* Task(name='forgotten'"), std::string::npos) << report.details;
}

TEST_F(CallGraphTest, StatsCountTheLoopsWork) {
  const asyncio::LoopStats before = loop->stats();
  EXPECT_EQ(before.tasks, 0u);
  asyncio::Event never;
  auto stuck = loop->create_task(stuck_forever(never));
  auto timer = loop->call_later(1h, [] {});
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  loop->add_reader(fds[0], [] {});
  run(asyncio::sleep(1ms, 0));
  const asyncio::LoopStats stats = loop->stats();
  EXPECT_GT(stats.iterations, before.iterations);
  EXPECT_GE(stats.callbacks_run, before.callbacks_run + 3);  // two task steps and a timer at least
  EXPECT_EQ(stats.tasks, 1u);
  EXPECT_GE(stats.timers, 1u);  // (and the fixture's cancelled run limits, not purged yet)
  EXPECT_EQ(stats.fds, 1u);
  EXPECT_GT(stats.selector_time.count() + stats.running_time.count(), 0);
  EXPECT_EQ(stats.longest_callback.count(), 0);  // not timed outside debug mode and inspection
  loop->set_debug(true);
  // Long enough that no other callback of this run (the run's own done callback and limit
  // timer) can outlast it by being preempted on a loaded machine: 2 ms once did under CI.
  run(loop->create_task(busy_for(30ms), "longest"));
  EXPECT_GE(loop->stats().longest_callback, 30ms);
  EXPECT_NE(loop->stats().longest_callback_name.find("'longest'"), std::string::npos);
  const std::string text = asyncio::format_prometheus(loop->stats());
  EXPECT_NE(
      text.find("# TYPE asyncio_loop_iterations_total counter\nasyncio_loop_iterations_total "),
      std::string::npos);
  EXPECT_NE(text.find("\nasyncio_loop_tasks 1\n"), std::string::npos) << text;
  loop->remove_reader(fds[0]);
  ::close(fds[0]);
  ::close(fds[1]);
  timer.cancel();
  stuck.cancel();
  EXPECT_THROW(run(std::move(stuck)), asyncio::CancelledError);
}

}  // namespace
