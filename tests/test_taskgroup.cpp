// TaskGroup through task_group(): every task awaited at the end, the first failure cancelling
// the rest and the block, every failure in one ExceptionGroup, and cancellation from outside.
#include <stdexcept>

#include "support/asyncio_test.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio::Task;
using asyncio::TaskGroup;
using asyncio_test::after;
using asyncio_test::fail_after;

namespace {

struct TaskGroupTest : asyncio_test::LoopFixture {};

Coro<int> fail_now(const char* what) {
  throw std::runtime_error(what);
  co_return 0;
}

std::vector<std::string> messages(const asyncio::ExceptionGroup& group) {
  std::vector<std::string> out;
  for (const auto& e : group.exceptions()) out.push_back(asyncio_test::what(e));
  return out;
}

TEST_F(TaskGroupTest, EveryTaskIsDoneWhenTheGroupEnds) {
  auto body = [&]() -> Coro<void> {
    Task<int> a, b;
    int v = co_await asyncio::task_group([&](TaskGroup& tg) -> Coro<int> {
      a = tg.create_task(after(5ms, 1));
      b = tg.create_task(after(1ms, 2), "b");
      EXPECT_EQ(tg.size(), 2u);
      co_return 3;  // the block ends before its tasks
    });
    EXPECT_EQ(v, 3);
    EXPECT_TRUE(a.done());
    EXPECT_TRUE(b.done());
    EXPECT_EQ(a.result() + b.result(), 3);
    EXPECT_EQ(b.get_name(), "b");
  };
  loop->run_until_complete(body());
}

TEST_F(TaskGroupTest, FirstFailureCancelsTheOtherTasksAndTheBlock) {
  auto body = [&]() -> Coro<void> {
    Task<int> slow;
    bool block_cancelled = false;
    std::exception_ptr error;
    try {
      co_await asyncio::task_group([&](TaskGroup& tg) -> Coro<void> {
        slow = tg.create_task(after(1h, 1));
        tg.create_task(fail_after(1ms, "boom"));
        try {
          co_await asyncio::sleep(1h);
        } catch (const asyncio::CancelledError&) {
          block_cancelled = true;
          throw;
        }
      });
    } catch (...) {
      error = std::current_exception();
    }
    EXPECT_TRUE(block_cancelled);
    EXPECT_TRUE(slow.cancelled());
    try {
      std::rethrow_exception(error);
    } catch (const asyncio::ExceptionGroup& group) {
      EXPECT_EQ(messages(group), std::vector<std::string>{"boom"});
      EXPECT_EQ(group.message(), "unhandled errors in a TaskGroup");
      EXPECT_STREQ(group.what(), "unhandled errors in a TaskGroup (1 sub-exception)");
    }
    // The group took its own cancellation of this task back: awaiting goes on normally.
    EXPECT_EQ(asyncio::current_task().cancelling(), 0u);
    co_await asyncio::sleep(0s);
  };
  loop->run_until_complete(body());
  EXPECT_EQ(reported("Task exception was never retrieved"), 0u);
}

TEST_F(TaskGroupTest, EveryFailureIsReportedTogether) {
  auto body = [&]() -> Coro<void> {
    std::exception_ptr error;
    try {
      co_await asyncio::task_group([&](TaskGroup& tg) -> Coro<void> {
        tg.create_task(fail_after(0ms, "first"));
        tg.create_task(fail_after(0ms, "second"));
        co_return;
      });
    } catch (const asyncio::ExceptionGroup&) {
      error = std::current_exception();
    }
    try {
      std::rethrow_exception(error);
    } catch (const asyncio::ExceptionGroup& group) {
      EXPECT_EQ(messages(group), (std::vector<std::string>{"first", "second"}));
    }
  };
  loop->run_until_complete(body());
}

TEST_F(TaskGroupTest, TheBlocksOwnFailureJoinsTheGroup) {
  auto body = [&]() -> Coro<void> {
    Task<int> t;
    std::vector<std::string> got;
    try {
      co_await asyncio::task_group([&](TaskGroup& tg) -> Coro<void> {
        t = tg.create_task(after(1h, 1));
        co_await asyncio::sleep(0s);
        throw std::logic_error("block");
      });
    } catch (const asyncio::ExceptionGroup& group) {
      got = messages(group);
    }
    EXPECT_EQ(got, std::vector<std::string>{"block"});
    EXPECT_TRUE(t.cancelled());
  };
  loop->run_until_complete(body());
}

TEST_F(TaskGroupTest, CancellationFromOutsideCancelsEveryTaskAndPropagates) {
  Task<int> a, b;
  bool cleaned_up = false;
  auto slow_cleanup = [&]() -> Coro<int> {
    bool cancelled = false;
    try {
      co_await asyncio::sleep(1h);
    } catch (const asyncio::CancelledError&) {
      cancelled = true;
    }
    if (cancelled) {
      co_await asyncio::sleep(2ms);  // the group waits for this
      cleaned_up = true;
      throw asyncio::CancelledError();
    }
    co_return 0;
  };
  auto grouped = [&]() -> Coro<void> {
    co_await asyncio::task_group([&](TaskGroup& tg) -> Coro<void> {
      a = tg.create_task(after(1h, 1));
      b = tg.create_task(slow_cleanup());
      co_return;
    });
  };
  auto body = [&]() -> Coro<void> {
    auto t = asyncio::create_task(grouped());
    co_await asyncio::sleep(1ms);
    t.cancel();
    co_await asyncio::gather(asyncio::return_exceptions, t);
    EXPECT_TRUE(t.cancelled());
    EXPECT_TRUE(a.cancelled());
    EXPECT_TRUE(b.cancelled());
    EXPECT_TRUE(cleaned_up);
  };
  loop->run_until_complete(body());
}

// Python 3.15's TaskGroup.cancel() (CPython's test_taskgroups.py test_cancel_*).
TEST_F(TaskGroupTest, CancelFromTheBlockEndsTheGroupWithoutAnError) {
  Task<int> a, b;
  auto body = [&]() -> Coro<int> {
    co_await asyncio::task_group([&](TaskGroup& tg) -> Coro<void> {
      a = tg.create_task(after(1h, 1));
      b = tg.create_task(after(1h, 2));
      co_await asyncio::sleep(0s);
      tg.cancel();
      EXPECT_THROW(tg.create_task(after(1ms, 3)), asyncio::RuntimeError);
      co_await asyncio::sleep(1h);  // interrupted by the group's cancellation
      ADD_FAILURE() << "the block went on after cancel()";
    });
    EXPECT_EQ(asyncio::current_task().cancelling(), 0u);  // taken back
    co_await asyncio::sleep(0s);                          // and not raised again at the next await
    co_return 7;
  };
  EXPECT_EQ(run(body()), 7);
  EXPECT_TRUE(a.cancelled());
  EXPECT_TRUE(b.cancelled());
}

TEST_F(TaskGroupTest, CancelFromATaskOfTheGroupWhileTheBlockWaits) {
  Task<int> slow;
  auto body = [&]() -> Coro<bool> {
    bool block_cancelled = false;
    co_await asyncio::task_group([&](TaskGroup& tg) -> Coro<void> {
      slow = tg.create_task(after(1h, 1));
      tg.create_task([](TaskGroup& group) -> Coro<int> {
        co_await asyncio::sleep(1ms);
        group.cancel();
        co_return 0;
      }(tg));
      try {
        co_await asyncio::sleep(1h);
      } catch (const asyncio::CancelledError&) {
        block_cancelled = true;
        throw;
      }
    });
    co_return block_cancelled;
  };
  EXPECT_TRUE(run(body()));
  EXPECT_TRUE(slow.cancelled());
}

TEST_F(TaskGroupTest, CancelAfterTheBlockEndedCancelsTheTasksOnly) {
  Task<int> slow;
  auto body = [&]() -> Coro<int> {
    co_await asyncio::task_group([&](TaskGroup& tg) -> Coro<void> {
      slow = tg.create_task(after(1h, 1));
      tg.create_task([](TaskGroup& group) -> Coro<int> {
        co_await asyncio::sleep(2ms);  // the block has ended: the group waits in its exit
        group.cancel();
        co_return 0;
      }(tg));
      co_return;
    });
    co_return 1;
  };
  EXPECT_EQ(run(body()), 1);
  EXPECT_TRUE(slow.cancelled());
}

TEST_F(TaskGroupTest, ABlockWithAValueCutShortByCancelRaisesCancelledError) {
  auto body = [&]() -> Coro<bool> {
    const bool raised = co_await asyncio_test::throws<asyncio::CancelledError>(
        asyncio::task_group([&](TaskGroup& tg) -> Coro<int> {
          tg.cancel();
          co_await asyncio::sleep(1h);
          co_return 1;
        }));
    EXPECT_EQ(asyncio::current_task().cancelling(), 0u);
    co_return raised;
  };
  EXPECT_TRUE(run(body()));
}

TEST_F(TaskGroupTest, FailuresStillRaiseAfterCancel) {
  auto body = [&]() -> Coro<std::vector<std::string>> {
    try {
      co_await asyncio::task_group([&](TaskGroup& tg) -> Coro<void> {
        tg.create_task(fail_now("failed first"));
        co_await asyncio::sleep(0s);
        co_await asyncio::sleep(0s);
        tg.cancel();
        co_return;
      });
    } catch (const asyncio::ExceptionGroup& group) {
      co_return messages(group);
    }
    co_return std::vector<std::string>{};
  };
  EXPECT_EQ(run(body()), std::vector<std::string>{"failed first"});
}

TEST_F(TaskGroupTest, FailureWinsOverAnOutsideCancellationWhichStaysRequested) {
  Task<void> t;
  std::uint32_t cancelling = 99;
  bool got_group = false;
  auto grouped = [&]() -> Coro<void> {
    try {
      co_await asyncio::task_group([&](TaskGroup& tg) -> Coro<void> {
        tg.create_task(fail_now("x"));  // fails at its first step, after t.cancel()
        co_await asyncio::sleep(1h);
      });
    } catch (const asyncio::ExceptionGroup&) {
      got_group = true;
    }
    cancelling = asyncio::current_task().cancelling();
    co_await asyncio::sleep(0s);  // the outside cancellation is thrown here
  };
  auto body = [&]() -> Coro<void> {
    t = asyncio::create_task(grouped());
    co_await asyncio::sleep(0s);  // t waits in the block; the failing task has run
    t.cancel();                   // from outside, before the group reacts to the failure
    co_await asyncio::gather(asyncio::return_exceptions, t);
  };
  loop->run_until_complete(body());
  EXPECT_TRUE(got_group);
  EXPECT_EQ(cancelling, 1u);
  EXPECT_TRUE(t.cancelled());
}

TEST_F(TaskGroupTest, NoNewTasksOnceShuttingDown) {
  auto body = [&]() -> Coro<void> {
    bool refused = false;
    try {
      co_await asyncio::task_group([&](TaskGroup& tg) -> Coro<void> {
        tg.create_task(fail_after(0ms, "x"));
        bool cancelled = false;
        try {
          co_await asyncio::sleep(1h);
        } catch (const asyncio::CancelledError&) {
          cancelled = true;
        }
        try {
          tg.create_task(after(0ms, 1));
        } catch (const asyncio::RuntimeError&) {
          refused = true;
        }
        if (cancelled) throw asyncio::CancelledError();
      });
    } catch (const asyncio::ExceptionGroup&) {
    }
    EXPECT_TRUE(refused);
  };
  loop->run_until_complete(body());
}

TEST_F(TaskGroupTest, TasksMayStartTasksAndCancelledChildrenAreNotFailures) {
  auto body = [&]() -> Coro<void> {
    int finished = 0;
    auto spawner = [&](TaskGroup& tg) -> Coro<void> {  // outlives the block's frame
      for (int i = 0; i < 3; ++i) tg.create_task(after(1ms, i));
      co_await asyncio::sleep(0s);
      ++finished;
    };
    co_await asyncio::task_group([&](TaskGroup& tg) -> Coro<void> {
      tg.create_task(spawner(tg));
      auto doomed = tg.create_task(after(1h, 0));
      co_await asyncio::sleep(0s);
      doomed.cancel();
      co_return;
    });
    EXPECT_EQ(finished, 1);
  };
  loop->run_until_complete(body());
}

TEST_F(TaskGroupTest, ClosingTheLoopWhileAGroupWaitsIsSafe) {
  auto grouped = [&]() -> Coro<void> {
    co_await asyncio::task_group([&](TaskGroup& tg) -> Coro<void> {
      tg.create_task(after(1h, 1));
      tg.create_task(after(0ms, 2));
      co_return;
    });
  };
  loop->create_task(grouped());
  run_iterations(3);
  loop->close();  // destroys the group's frame and its pending task, in some order
  EXPECT_EQ(reported("Task was destroyed but it is pending!"), 2u);
}

}  // namespace

namespace {

// CPython's test_taskgroups.py test_taskgroup_base_error / test_keyboard_interrupt_*: a
// KeyboardInterrupt in a task, or in the block, ends the group as it is, after the other tasks
// were cancelled and awaited, not wrapped in an ExceptionGroup.
// A KeyboardInterrupt ends a group as it is, not inside an ExceptionGroup. Raised in the block,
// it reaches whoever awaits the group. Raised by a task of the group, it first leaves the loop,
// as Python's Task.__step raises it again; the group, aborted by then, ends with it once the
// loop runs again.
TEST_F(TaskGroupTest, AKeyboardInterruptEndsTheGroupAsItIs) {
  Task<int> slow;
  auto interrupted = []() -> Coro<void> {
    co_await asyncio::sleep(0s);
    throw asyncio::KeyboardInterrupt();
  };
  auto failing = []() -> Coro<void> {
    co_await asyncio::sleep(0s);
    throw std::runtime_error("also failed");
  };
  auto from_a_task = [&]() -> Coro<void> {
    co_await asyncio::task_group([&](TaskGroup& tg) -> Coro<void> {
      slow = tg.create_task(after(1h, 1));
      tg.create_task(failing());
      tg.create_task(interrupted());
      co_await asyncio::sleep(1h);
    });
  };
  auto from_the_block = [&]() -> Coro<void> {
    co_await asyncio::task_group([&](TaskGroup& tg) -> Coro<void> {
      tg.create_task(after(1h, 2));
      co_await asyncio::sleep(0s);
      throw asyncio::KeyboardInterrupt();
    });
  };
  auto caught = [&]() -> Coro<bool> {
    try {
      co_await from_the_block();
    } catch (const asyncio::KeyboardInterrupt&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(run(caught()));

  Task<void> outer = loop->create_task(from_a_task());
  EXPECT_THROW(run(outer), asyncio::KeyboardInterrupt);  // the loop's, from the task's step
  EXPECT_FALSE(outer.done());
  EXPECT_THROW(run(outer), asyncio::KeyboardInterrupt);  // the group's, through `outer`
  EXPECT_TRUE(slow.cancelled());
}

}  // namespace

namespace {

// A TaskGroup a program makes itself (CPython's test_taskgroups.py: test_taskgroup_not_entered
// via create_task, test_taskgroup_already_entered, test_create_task_after_exit / "is
// finished").
TEST_F(TaskGroupTest, AnOwnTaskGroupIsEnteredByRunOnceAndRefusesTasksBeforeAndAfter) {
  auto body = [&]() -> Coro<int> {
    TaskGroup tg;
    auto early = []() -> Coro<int> { co_return 0; };
    EXPECT_THROW(tg.create_task(early()), asyncio::RuntimeError);  // not entered
    Task<int> a;
    const int value = co_await tg.run([&](TaskGroup& group) -> Coro<int> {
      EXPECT_EQ(&group, &tg);
      a = group.create_task(after(1ms, 4));
      co_return 3;
    });
    EXPECT_TRUE(a.done());
    EXPECT_EQ(tg.size(), 0u);
    EXPECT_THROW(tg.create_task(after(1ms, 5)), asyncio::RuntimeError);  // finished
    const bool again = co_await asyncio_test::throws<asyncio::RuntimeError>(
        tg.run([](TaskGroup&) -> Coro<void> { co_return; }));
    EXPECT_TRUE(again);
    co_return value + a.result();
  };
  EXPECT_EQ(run(body()), 7);
}

}  // namespace
