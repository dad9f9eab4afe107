// asyncio::run, asyncio::Runner (CPython's RunnerTests of test_runners.py, each test naming the
// one it comes from) and the loop accessors: values and exceptions, shutdown of leftover tasks,
// and the running / current loop rules.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <future>
#include <latch>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/asyncio_test.hpp"
#include "support/signal_disposition.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;

namespace {

TEST(Run, ReturnsTheValueOfTheMainCoroutine) {
  auto main_coro = []() -> Coro<std::string> {
    co_await asyncio::sleep(1ms);
    co_return "done";
  };
  EXPECT_EQ(asyncio::run(main_coro()), "done");
}

TEST(Run, VoidMainCoroutine) {
  bool ran = false;
  auto main_coro = [&]() -> Coro<void> {
    ran = true;
    co_return;
  };
  asyncio::run(main_coro());
  EXPECT_TRUE(ran);
}

TEST(Run, CancelsAndFinishesLeftoverTasks) {
  bool cleaned_up = false;
  auto leftover = [&]() -> Coro<void> {
    bool cancelled = false;
    try {
      co_await asyncio::sleep(1h);
    } catch (const asyncio::CancelledError&) {
      cancelled = true;
    }
    if (cancelled) {
      co_await asyncio::sleep(1ms);  // cleanup that itself awaits still runs to the end
      cleaned_up = true;
      throw asyncio::CancelledError();
    }
  };
  auto main_coro = [&]() -> Coro<int> {
    asyncio::create_task(leftover());
    co_await asyncio::sleep(0s);
    co_return 1;
  };
  EXPECT_EQ(asyncio::run(main_coro()), 1);
  EXPECT_TRUE(cleaned_up);
}

TEST(Run, CancelsLeftoverTasksAlsoWhenMainThrows) {
  bool cancelled = false;
  auto leftover = [&]() -> Coro<void> {
    try {
      co_await asyncio::sleep(1h);
    } catch (const asyncio::CancelledError&) {
      cancelled = true;
      throw;
    }
  };
  auto main_coro = [&]() -> Coro<void> {
    asyncio::create_task(leftover());
    co_await asyncio::sleep(0s);
    throw std::runtime_error("main failed");
  };
  EXPECT_THROW(asyncio::run(main_coro()), std::runtime_error);
  EXPECT_TRUE(cancelled);
}

TEST(Run, ReportsLeftoverTasksThatFailDuringShutdown) {
  auto leftover = []() -> Coro<void> {
    try {
      co_await asyncio::sleep(1h);
    } catch (const asyncio::CancelledError&) {
    }
    throw std::runtime_error("failed while shutting down");
  };
  auto main_coro = [&]() -> Coro<void> {
    asyncio::create_task(leftover());
    co_await asyncio::sleep(0s);
  };
  testing::internal::CaptureStderr();
  asyncio::run(main_coro());
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("unhandled exception during asyncio.run() shutdown"), std::string::npos)
      << err;
  EXPECT_NE(err.find("failed while shutting down"), std::string::npos);
}

TEST(Run, CannotBeCalledFromARunningLoop) {
  auto inner = []() -> Coro<void> { co_return; };
  auto main_coro = [&]() -> Coro<bool> {
    try {
      asyncio::run(inner());
    } catch (const asyncio::RuntimeError&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(asyncio::run(main_coro()));
}

TEST(Run, DebugFlagReachesTheLoop) {
  auto main_coro = []() -> Coro<bool> { co_return asyncio::get_running_loop().get_debug(); };
  EXPECT_TRUE(asyncio::run(main_coro(), true));
  EXPECT_FALSE(asyncio::run(main_coro()));
}

// Python's PYTHONASYNCIODEBUG, and asyncio.run(debug=None) following it.
TEST(Run, ASYNCIO_DEBUGSetTurnsDebugModeOnUnlessRunSaysOtherwise) {
  auto main_coro = []() -> Coro<bool> { co_return asyncio::get_running_loop().get_debug(); };
  ASSERT_EQ(setenv("ASYNCIO_DEBUG", "1", 1), 0);
  EXPECT_TRUE(asyncio::new_event_loop()->get_debug());
  EXPECT_TRUE(asyncio::run(main_coro()));
  EXPECT_FALSE(asyncio::run(main_coro(), false));
  ASSERT_EQ(setenv("ASYNCIO_DEBUG", "", 1), 0);  // empty: as if not set
  EXPECT_FALSE(asyncio::new_event_loop()->get_debug());
  ASSERT_EQ(unsetenv("ASYNCIO_DEBUG"), 0);
  EXPECT_FALSE(asyncio::run(main_coro()));
}

TEST(Loops, GetRunningLoopOnlyWhileOneRuns) {
  EXPECT_THROW(asyncio::get_running_loop(), asyncio::RuntimeError);
  auto loop = asyncio::new_event_loop();
  asyncio::EventLoop* seen = nullptr;
  loop->call_soon([&] {
    seen = &asyncio::get_running_loop();
    loop->stop();
  });
  loop->run_forever();
  EXPECT_EQ(seen, loop.get());
  EXPECT_THROW(asyncio::get_running_loop(), asyncio::RuntimeError);
}

TEST(Loops, GetEventLoopGivesTheRunningOrTheSetLoop) {
  EXPECT_THROW(asyncio::get_event_loop(), asyncio::RuntimeError);
  auto loop = asyncio::new_event_loop();
  asyncio::set_event_loop(loop.get());
  EXPECT_EQ(&asyncio::get_event_loop(), loop.get());
  auto other = asyncio::new_event_loop();
  asyncio::EventLoop* inside = nullptr;
  other->call_soon([&] {
    inside = &asyncio::get_event_loop();
    other->stop();
  });
  other->run_forever();
  EXPECT_EQ(inside, other.get());
  asyncio::set_event_loop(nullptr);
  EXPECT_THROW(asyncio::get_event_loop(), asyncio::RuntimeError);
}

TEST(Loops, ALoopDestroyedStopsBeingTheCurrentOne) {  // not freed memory (ASan would say)
  {
    auto loop = asyncio::new_event_loop();
    asyncio::set_event_loop(loop.get());
  }
  EXPECT_THROW(asyncio::get_event_loop(), asyncio::RuntimeError);
}

TEST(Loops, CreateTaskNeedsARunningLoop) {
  auto c = []() -> Coro<void> { co_return; };
  EXPECT_THROW(asyncio::create_task(c()), asyncio::RuntimeError);
}

TEST(Loops, ALoopPerThread) {
  auto work = [](int n) -> Coro<int> {
    co_await asyncio::sleep(1ms);
    co_return n * 2;
  };
  int a = 0, b = 0;
  std::thread t1([&] { a = asyncio::run(work(1)); });
  std::thread t2([&] { b = asyncio::run(work(2)); });
  t1.join();
  t2.join();
  EXPECT_EQ(a, 2);
  EXPECT_EQ(b, 4);
}

TEST(Run, AWorkerWaitingOnTheLoopAsMainReturnsDoesNotHangTheShutdown) {
  // The default executor is shut down while the loop still runs, so the coroutine the worker
  // asks the loop to run does run (or is cancelled with the leftover tasks) and the worker
  // finishes.
  std::latch main_returning(1);
  std::string outcome;
  auto on_loop = []() -> Coro<int> { co_return 42; };
  auto main_coro = [&]() -> Coro<void> {
    asyncio::EventLoop& loop = asyncio::get_running_loop();
    (void)asyncio::to_thread([&loop, &main_returning, &outcome, on_loop] {
      main_returning.wait();
      try {
        outcome = std::to_string(asyncio::run_coroutine_threadsafe(on_loop(), loop).result(30s));
      } catch (const asyncio::CancelledError&) {
        outcome = "cancelled";
      } catch (const asyncio::TimeoutError&) {
        outcome = "timed out: the loop never ran it";
      }
    });
    co_await asyncio::sleep(0s);
    main_returning.count_down();
  };
  asyncio::run(main_coro());
  EXPECT_TRUE(outcome == "42" || outcome == "cancelled") << outcome;
}

/// How many threads this process has (/proc/self/status).
long thread_count() {
  std::ifstream status("/proc/self/status");
  std::string key;
  long threads = 0;
  while (status >> key) {
    if (key == "Threads:" && status >> threads) return threads;
    status.ignore(1 << 20, '\n');
  }
  return threads;
}

TEST(Run, AnExecutorThatDoesNotFinishInTimeIsReportedAndLeftBehind) {
  // One thread started and joined first: a runtime that starts a thread of its own with the
  // first one (ThreadSanitizer's background thread) has done so before the count is taken.
  std::thread([] {}).join();
  const long threads_before = thread_count();
  std::latch release(1);
  std::atomic<bool> finished{false};
  std::promise<void> worker_done;
  std::vector<std::string> reports;
  auto main_coro = [&]() -> Coro<void> {
    asyncio::get_running_loop().set_exception_handler(
        [&](asyncio::EventLoop&, const asyncio::ExceptionContext& context) {
          reports.push_back(context.message);
        });
    (void)asyncio::to_thread([&] {
      release.wait();
      finished = true;
      worker_done.set_value();
    });
    co_return;
  };
  const auto start = std::chrono::steady_clock::now();
  asyncio::run(main_coro(), asyncio::RunOptions{.executor_shutdown_timeout = 100ms});
  EXPECT_LT(std::chrono::steady_clock::now() - start, 20s);  // it did not wait for the worker
  EXPECT_FALSE(finished);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(
      reports[0].rfind("The executor did not finish joining its threads within 0.100 seconds", 0),
      0u)
      << reports[0];
  release.count_down();  // the worker finishes on its own, and frees the executor
  ASSERT_EQ(worker_done.get_future().wait_for(30s), std::future_status::ready)
      << "the worker did not finish";
  // The threads left behind (the worker, and the one joining it) end soon after; wait for them,
  // so that nothing of theirs is still open when this test's descriptors are checked.
  for (const auto deadline = std::chrono::steady_clock::now() + 30s;
       thread_count() > threads_before;) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the executor's threads did not end";
    std::this_thread::sleep_for(1ms);
  }
}

TEST(Run, RunInExecutorAfterShutdownDefaultExecutorIsARuntimeError) {
  auto main_coro = []() -> Coro<bool> {
    asyncio::EventLoop& loop = asyncio::get_running_loop();
    co_await loop.run_in_executor(nullptr, [] { return 1; });
    co_await loop.shutdown_default_executor();
    try {
      (void)loop.run_in_executor(nullptr, [] { return 1; });
    } catch (const asyncio::RuntimeError&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(asyncio::run(main_coro()));
}

TEST(Run, AsyncGeneratorsLeftOpenAreClosedWhileTheLoopRuns) {
  // A generator that outlives main (here, in an object of the caller's) is closed by run's
  // shutdown, so its frame's destructors run while the loop still runs.
  bool loop_seen_at_close = false;
  struct Guard {
    bool* seen;
    ~Guard() { *seen = asyncio::detail::running_loop_or_null() != nullptr; }
  };
  auto numbers = [](bool* seen) -> asyncio::AsyncGenerator<int> {
    Guard guard{seen};
    for (int i = 0;; ++i) co_yield i;
  };
  std::optional<asyncio::AsyncGenerator<int>> kept;
  auto main_coro = [&]() -> Coro<int> {
    kept.emplace(numbers(&loop_seen_at_close));
    co_return (co_await kept->next()).value();
  };
  EXPECT_EQ(asyncio::run(main_coro()), 0);
  EXPECT_TRUE(loop_seen_at_close);
  ASSERT_TRUE(kept.has_value());
  EXPECT_TRUE(static_cast<bool>(*kept));  // closed, not moved from
}

// --- Runner -----------------------------------------------------------------------------------

/// CPython's test helper interrupt_self: Ctrl-C sent to this process.
void interrupt_self() { ::kill(::getpid(), SIGINT); }

TEST(Runner, DebugModeAsAsked) {  // test_non_debug, test_debug
  asyncio::Runner plain({.debug = false});
  EXPECT_FALSE(plain.get_loop().get_debug());
  asyncio::Runner debug({.debug = true});
  EXPECT_TRUE(debug.get_loop().get_debug());
}

TEST(Runner, CustomLoopFactory) {  // test_custom_factory
  asyncio::EventLoop* made = nullptr;
  asyncio::Runner runner({.loop_factory = [&made] {
    auto loop = asyncio::new_event_loop();
    made = loop.get();
    return loop;
  }});
  EXPECT_EQ(&runner.get_loop(), made);
  EXPECT_THROW(asyncio::get_event_loop(), asyncio::RuntimeError);  // not made current
}

TEST(Runner, RunsOnOneLoopUntilClosed) {  // test_run, test_set_event_loop_called_once
  asyncio::EventLoop* loop = nullptr;
  {
    asyncio::Runner runner;
    auto f = []() -> Coro<std::string> {
      co_await asyncio::sleep(0s);
      co_return "done";
    };
    EXPECT_EQ(runner.run(f()), "done");
    loop = &runner.get_loop();
    EXPECT_EQ(&asyncio::get_event_loop(), loop);  // the thread's current loop meanwhile
    auto where = []() -> Coro<asyncio::EventLoop*> { co_return &asyncio::get_running_loop(); };
    EXPECT_EQ(runner.run(where()), loop);
    runner.close();
    EXPECT_TRUE(loop->is_closed());
    EXPECT_THROW(runner.get_loop(), asyncio::RuntimeError);
    EXPECT_THROW(asyncio::get_event_loop(), asyncio::RuntimeError);
  }
}

TEST(Runner, TasksLeftByOneRunGoOnInTheNextAndCloseCancelsTheRest) {
  asyncio::Runner runner;
  asyncio::Event go;
  bool finished = false, cancelled = false;
  std::optional<asyncio::Task<int>> left;
  // (Named: a coroutine lambda's captures live in the lambda, which must outlive its frame.)
  auto waits_for_go = [&]() -> Coro<int> {
    co_await go.wait();
    finished = true;
    co_return 7;
  };
  auto sleeps = [&]() -> Coro<void> {
    try {
      co_await asyncio::sleep(std::chrono::hours(1));
    } catch (const asyncio::CancelledError&) {
      cancelled = true;
      throw;
    }
  };
  auto start = [&]() -> Coro<void> {
    left = asyncio::create_task(waits_for_go());
    asyncio::create_task(sleeps());
    co_return;
  };
  runner.run(start());
  EXPECT_FALSE(finished);
  auto finish = [&]() -> Coro<int> {
    go.set();
    co_return co_await *left;
  };
  EXPECT_EQ(runner.run(finish()), 7);
  EXPECT_TRUE(finished);
  left.reset();
  EXPECT_FALSE(cancelled);
  runner.close();
  EXPECT_TRUE(cancelled);
}

TEST(Runner, ItsRunsShareOneContext) {  // test_run_keeps_context
  asyncio::ContextVar<int> cvar("cvar", -1);
  auto f = [&](int value) -> Coro<int> {
    const int old = cvar.get();
    co_await asyncio::sleep(0s);
    (void)cvar.set(value);
    co_return old;
  };
  auto get_context = []() -> Coro<asyncio::Context> { co_return asyncio::copy_context(); };
  asyncio::Runner runner;
  EXPECT_EQ(runner.run(f(1)), -1);
  EXPECT_EQ(runner.run(f(2)), 1);
  EXPECT_EQ(runner.run(get_context()).get(cvar), 2);
  EXPECT_EQ(cvar.get(), -1);  // the thread's own context is not the runner's
}

TEST(Runner, ItsContextIsACopyOfTheThreadsTakenWhenItsLoopIsMade) {
  asyncio::ContextVar<int> cvar("cvar", -1);
  auto read = [&]() -> Coro<int> { co_return cvar.get(); };
  auto token = cvar.set(1);
  asyncio::Runner runner;
  runner.get_loop();
  (void)cvar.set(2);
  EXPECT_EQ(runner.run(read()), 1);
  cvar.reset(token);
}

TEST(Runner, ARunGivenAContextRunsInItAndLeavesTheRunnersAlone) {  // test_run_with_context
  asyncio::ContextVar<int> cvar("cvar", -1);
  auto set = [&](int value) -> Coro<int> {
    const int old = cvar.get();
    (void)cvar.set(value);
    co_return old;
  };
  asyncio::Runner runner;
  asyncio::Context context;
  EXPECT_EQ(runner.run(set(1), context), -1);
  EXPECT_EQ(context.get(cvar), 1);
  EXPECT_EQ(runner.run(set(2)), -1);  // the runner's own values did not see it
  EXPECT_EQ(runner.run(set(3), context), 1);
  EXPECT_EQ(runner.run(set(4)), 2);
}

TEST(Runner, CloseTwiceAndRunAfterClose) {  // test_explicit_close, test_double_close,
  asyncio::Runner runner;                   // test_second_with_block_raises
  int ran = 0;
  auto f = [&](int) -> Coro<void> {
    ++ran;
    co_return;
  };
  runner.run(f(1));
  asyncio::EventLoop& loop = runner.get_loop();
  runner.close();
  EXPECT_TRUE(loop.is_closed());
  runner.close();  // a no-op
  try {
    runner.run(f(2));
    ADD_FAILURE() << "ran on a closed Runner";
  } catch (const asyncio::RuntimeError& e) {
    EXPECT_STREQ(e.what(), "Runner is closed");
  }
  EXPECT_EQ(ran, 1);
}

TEST(Runner, ANeverUsedRunnerClosesQuietly) {
  asyncio::Runner runner;
  runner.close();
  runner.close();
}

TEST(Runner, RunFromARunningLoopIsRefused) {  // test_recursive_run
  asyncio::Runner runner;
  auto g = []() -> Coro<void> { co_return; };
  std::string error;
  auto f = [&]() -> Coro<void> {
    try {
      runner.run(g());
    } catch (const asyncio::RuntimeError& e) {
      error = e.what();
    }
    co_return;
  };
  runner.run(f());
  EXPECT_EQ(error, "Runner.run() cannot be called from a running event loop");
}

TEST(Runner, InterruptWhileCallbacksKeepRunning) {  // test_interrupt_call_soon
  asyncio::Runner runner;
  bool saw_cancel = false;
  auto coro = [&]() -> Coro<void> {
    try {
      for (;;) co_await asyncio::sleep(0s);
    } catch (const asyncio::CancelledError&) {
      saw_cancel = true;
    }
    throw asyncio::CancelledError();
  };
  runner.get_loop().call_later(100ms, interrupt_self);
  EXPECT_THROW(runner.run(coro()), asyncio::KeyboardInterrupt);
  EXPECT_TRUE(saw_cancel);
}

TEST(Runner, InterruptWhileWaitingCancelsTheFutureAndTheMainTask) {  // test_interrupt_wait
  asyncio::Runner runner;
  asyncio::Future<void> fut = runner.get_loop().create_future<void>();
  auto coro = [](asyncio::Future<void> f) -> Coro<void> {
    bool cancelled = false;
    try {
      co_await f;
    } catch (const asyncio::CancelledError&) {
      cancelled = true;
    }
    EXPECT_TRUE(cancelled);
    throw asyncio::CancelledError();
  };
  runner.get_loop().call_later(100ms, interrupt_self);
  EXPECT_THROW(runner.run(coro(fut)), asyncio::KeyboardInterrupt);
  EXPECT_TRUE(fut.cancelled());
}

TEST(Runner, InterruptingACancelledMainTaskRaisesCancelledError) {  // test_interrupt_cancelled_task
  asyncio::Runner runner;
  auto subtask = [](asyncio::TaskRef task) -> Coro<void> {
    co_await asyncio::sleep(0s);
    task.cancel();
    interrupt_self();
  };
  auto coro = [&]() -> Coro<void> {
    asyncio::create_task(subtask(asyncio::current_task()));
    co_await asyncio::sleep(10s);
  };
  EXPECT_THROW(runner.run(coro()), asyncio::CancelledError);
}

TEST(Runner, ARunOnAnotherThreadLeavesSigintToTheMainThread) {
  // Python's Runner handles Ctrl-C only on the main thread. A run() on a worker thread must
  // neither take SIGINT's disposition nor stop the main thread's run() from taking it.
  using asyncio_test::disposition;
  ASSERT_EQ(disposition(SIGINT), SIG_DFL);
  std::latch worker_running(1), main_checked(1);
  bool default_while_worker_ran = false, worker_interrupted = false;
  std::thread worker([&] {
    auto on_worker = [&]() -> Coro<void> {
      default_while_worker_ran = disposition(SIGINT) == SIG_DFL;
      worker_running.count_down();
      co_await asyncio::to_thread([&] { main_checked.wait(); });
    };
    try {
      asyncio::run(on_worker());
    } catch (const asyncio::KeyboardInterrupt&) {
      worker_interrupted = true;
    }
  });
  worker_running.wait();
  bool main_interrupted = false;
  auto on_main = []() -> Coro<void> {
    co_await asyncio::sleep(0s);
    interrupt_self();
    co_await asyncio::sleep(5s);  // cancelled at once by the SIGINT, when this run took it
  };
  try {
    asyncio::run(on_main());
  } catch (const asyncio::KeyboardInterrupt&) {
    main_interrupted = true;
  }
  main_checked.count_down();
  worker.join();
  EXPECT_TRUE(default_while_worker_ran);
  EXPECT_TRUE(main_interrupted);
  EXPECT_FALSE(worker_interrupted);
  EXPECT_EQ(disposition(SIGINT), SIG_DFL);
}

}  // namespace
