// timeout() and timeout_at(): the block's value in time, TimeoutError at the block's boundary,
// outside cancellations kept apart by the cancel-request count, nesting, reschedule, and
// blocks given as Coro, Task or callable.
#include <string>

#include "support/asyncio_test.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio::Timeout;
using asyncio_test::after;

namespace {

struct TimeoutsTest : asyncio_test::LoopFixture {};

TEST_F(TimeoutsTest, BlockFinishingInTimeGivesItsValue) {
  auto body = [&]() -> Coro<void> {
    int a = co_await asyncio::timeout(1h, after(1ms, 1));
    EXPECT_EQ(a, 1);
    bool expired = true;
    int b = co_await asyncio::timeout(1h, [&](Timeout& t) -> Coro<int> {
      co_await asyncio::sleep(1ms);
      expired = t.expired();
      co_return 2;
    });
    EXPECT_EQ(b, 2);
    EXPECT_FALSE(expired);
    co_await asyncio::timeout(std::nullopt, after(1ms, 3));  // no deadline, void result unused
    EXPECT_EQ(asyncio::current_task().cancelling(), 0u);
  };
  loop->run_until_complete(body());
}

TEST_F(TimeoutsTest, DeadlineCancelsTheBlockAndRaisesTimeoutErrorAtItsBoundary) {
  bool block_saw_cancel = false;
  auto body = [&]() -> Coro<void> {
    auto block = [&]() -> Coro<void> {
      try {
        co_await asyncio::sleep(1h);
      } catch (const asyncio::CancelledError&) {
        block_saw_cancel = true;
        throw;
      }
    };
    EXPECT_THROW(co_await asyncio::timeout(5ms, block()), asyncio::TimeoutError);
    EXPECT_EQ(asyncio::current_task().cancelling(), 0u);
    co_await asyncio::sleep(0s);  // no cancellation left over
  };
  loop->run_until_complete(body());
  EXPECT_TRUE(block_saw_cancel);
}

TEST_F(TimeoutsTest, OutsideCancellationStaysCancelledError) {
  auto inner = [&]() -> Coro<void> { co_await asyncio::timeout(1h, after(1h, 0)); };
  auto body = [&]() -> Coro<void> {
    auto t = asyncio::create_task(inner());
    co_await asyncio::sleep(1ms);
    t.cancel();
    co_await asyncio::gather(asyncio::return_exceptions, t);
    EXPECT_TRUE(t.cancelled());
  };
  loop->run_until_complete(body());
}

TEST_F(TimeoutsTest, OutsideCancellationAndExpiryTogetherStayCancelled) {
  asyncio::Task<void> t;
  auto inner = [&]() -> Coro<void> { co_await asyncio::timeout(1ms, after(1h, 0)); };
  auto body = [&]() -> Coro<void> {
    t = asyncio::create_task(inner());
    co_await asyncio::sleep(0s);  // t enters the block
    auto spin_until = loop->time() + 3ms;
    while (loop->time() < spin_until) {
    }
    t.cancel();  // and the deadline passes before t runs again
    co_await asyncio::gather(asyncio::return_exceptions, t);
    EXPECT_TRUE(t.cancelled());
  };
  loop->run_until_complete(body());
}

TEST_F(TimeoutsTest, NestedTimeoutsEachClaimOnlyTheirOwnExpiry) {
  auto body = [&]() -> Coro<void> {
    // The inner deadline passes first: only the inner block times out.
    bool inner_timed_out = false;
    int v = co_await asyncio::timeout(1h, [&](Timeout&) -> Coro<int> {
      try {
        co_await asyncio::timeout(2ms, after(1h, 0));
      } catch (const asyncio::TimeoutError&) {
        inner_timed_out = true;
      }
      co_return 7;
    });
    EXPECT_TRUE(inner_timed_out);
    EXPECT_EQ(v, 7);

    // The outer deadline passes first: the inner block sees a CancelledError, the outer one
    // raises TimeoutError.
    bool inner_saw_cancel = false;
    auto inner = [&]() -> Coro<void> {
      try {
        co_await asyncio::timeout(1h, after(1h, 0));
      } catch (const asyncio::CancelledError&) {
        inner_saw_cancel = true;
        throw;
      }
    };
    EXPECT_THROW(co_await asyncio::timeout(2ms, inner()), asyncio::TimeoutError);
    EXPECT_TRUE(inner_saw_cancel);
    EXPECT_EQ(asyncio::current_task().cancelling(), 0u);
  };
  loop->run_until_complete(body());
}

TEST_F(TimeoutsTest, RescheduleMovesOrRemovesTheDeadline) {
  auto body = [&]() -> Coro<void> {
    int v = co_await asyncio::timeout(2ms, [&](Timeout& t) -> Coro<int> {
      EXPECT_TRUE(t.when().has_value());
      t.reschedule(*t.when() + 1h);
      co_await asyncio::sleep(10ms);  // past the first deadline
      t.reschedule(std::nullopt);
      EXPECT_FALSE(t.when().has_value());
      co_await asyncio::sleep(1ms);
      co_return 1;
    });
    EXPECT_EQ(v, 1);

    auto start = loop->time();
    bool rescheduling_expired_failed = false;
    auto block = [&](Timeout& t) -> Coro<void> {
      t.reschedule(loop->time() + 2ms);  // from no deadline to one
      bool cancelled = false;
      try {
        co_await asyncio::sleep(1h);
      } catch (const asyncio::CancelledError&) {
        cancelled = true;
      }
      EXPECT_TRUE(t.expired());
      try {
        t.reschedule(loop->time() + 1h);
      } catch (const asyncio::RuntimeError&) {
        rescheduling_expired_failed = true;
      }
      if (cancelled) throw asyncio::CancelledError();
    };
    EXPECT_THROW(co_await asyncio::timeout(std::nullopt, block), asyncio::TimeoutError);
    EXPECT_TRUE(rescheduling_expired_failed);
    EXPECT_LT(loop->time() - start, 1h);
  };
  loop->run_until_complete(body());
}

TEST_F(TimeoutsTest, DeadlineAlreadyPastCancelsAtTheFirstSuspension) {
  auto body = [&]() -> Coro<void> {
    int steps = 0;
    auto block = [&]() -> Coro<void> {
      ++steps;  // the block starts
      co_await asyncio::sleep(1h);
      ++steps;
    };
    EXPECT_THROW(co_await asyncio::timeout_at(loop->time() - 1s, block()), asyncio::TimeoutError);
    EXPECT_EQ(steps, 1);
  };
  loop->run_until_complete(body());
}

TEST_F(TimeoutsTest, BlockThatSwallowsTheCancellationGivesItsValue) {
  auto body = [&]() -> Coro<void> {
    bool expired = false;
    int v = co_await asyncio::timeout(1ms, [&](Timeout& t) -> Coro<int> {
      try {
        co_await asyncio::sleep(1h);
      } catch (const asyncio::CancelledError&) {
      }
      expired = t.expired();
      co_return 5;
    });
    EXPECT_EQ(v, 5);
    EXPECT_TRUE(expired);
    EXPECT_EQ(asyncio::current_task().cancelling(), 0u);
  };
  loop->run_until_complete(body());
}

TEST_F(TimeoutsTest, TasksAndFuturesAsBlocks) {
  auto body = [&]() -> Coro<void> {
    auto task = asyncio::create_task(after(1h, 1));
    EXPECT_THROW(co_await asyncio::timeout(2ms, task), asyncio::TimeoutError);
    EXPECT_TRUE(task.cancelled());  // cancelled through the await
    auto future = loop->create_future<int>();
    loop->call_soon([future]() mutable { future.set_result(4); });
    int v = co_await asyncio::timeout(1h, future);
    EXPECT_EQ(v, 4);
  };
  loop->run_until_complete(body());
}

TEST_F(TimeoutsTest, TimeoutWithoutARunningLoopIsARuntimeError) {
  // timeout() takes its deadline from the running loop's clock, as Python's does.
  EXPECT_THROW((void)asyncio::timeout(1s, after(0ms, 0)), asyncio::RuntimeError);
}

TEST_F(TimeoutsTest, UncancellingTheLastRequestDropsACancellationNotYetThrown) {
  auto body = [&]() -> Coro<void> {
    asyncio::TaskRef self = asyncio::current_task();
    self.cancel();                   // recorded: thrown at the next suspension ...
    EXPECT_EQ(self.uncancel(), 0u);  // ... unless withdrawn first (Python 3.13)
    co_await asyncio::sleep(0s);
    self.cancel();
    self.cancel();
    EXPECT_EQ(self.uncancel(), 1u);  // one request left: still thrown
    EXPECT_THROW(co_await asyncio::sleep(0s), asyncio::CancelledError);
  };
  loop->run_until_complete(body());
}

TEST_F(TimeoutsTest, AnExpiredDeadlineWinsOverABlockThatOnlyYields) {
  // CPython schedules an expired deadline with call_soon: it runs before the yielding block
  // resumes, so the block is cut short even though its only await is sleep(0).
  auto yields_once = [](asyncio::Timeout&) -> Coro<int> {
    co_await asyncio::sleep(0s);
    co_return 1;
  };
  auto body = [&](auto make_timeout) -> Coro<std::string> {
    try {
      co_return std::to_string(co_await make_timeout());
    } catch (const asyncio::TimeoutError&) {
      co_return "TimeoutError";
    }
  };
  EXPECT_EQ(loop->run_until_complete(body([&] { return asyncio::timeout(0s, yields_once); })),
            "TimeoutError");
  EXPECT_EQ(loop->run_until_complete(body([&] { return asyncio::timeout(-1s, yields_once); })),
            "TimeoutError");
  EXPECT_EQ(loop->run_until_complete(
                body([&] { return asyncio::timeout_at(loop->time() - 1s, yields_once); })),
            "TimeoutError");
}

TEST_F(TimeoutsTest, ADelayTooLongForTheClockIsNoDeadline) {
  auto body = [&]() -> Coro<bool> {
    co_return co_await asyncio::timeout(
        std::chrono::hours::max(), [](asyncio::Timeout& t) -> Coro<bool> {
          co_await asyncio::sleep(10ms);
          co_return t.when() == asyncio::TimePoint::max() && !t.expired();
        });
  };
  EXPECT_TRUE(loop->run_until_complete(body()));
}

}  // namespace

namespace {

// --- A Timeout object of the program's own, looked at after its block (CPython's
// test_timeouts.py: test_timeout_basic, test_timeout_at_basic, reschedule before entering and
// after leaving, entering twice) ---

// What reschedule() refuses with (Python's message names the state), or "none".
std::string reschedule_error(Timeout& cm, std::optional<asyncio::TimePoint> when) {
  try {
    cm.reschedule(when);
  } catch (const asyncio::RuntimeError& error) {
    return error.what();
  }
  return "none";
}

TEST_F(TimeoutsTest, AnOwnTimeoutTellsAfterItsBlockThatItExpiredAndWhen) {
  auto body = [&]() -> Coro<void> {
    const asyncio::TimePoint deadline = loop->time() + 10ms;
    Timeout cm(deadline);
    EXPECT_FALSE(cm.expired());
    EXPECT_EQ(cm.when(), deadline);
    const bool timed_out =
        co_await asyncio_test::throws<asyncio::TimeoutError>(cm.run(after(1h, 0)));
    EXPECT_TRUE(timed_out);
    EXPECT_TRUE(cm.expired());
    EXPECT_EQ(cm.when(), deadline);
    EXPECT_EQ(reschedule_error(cm, std::nullopt), "Cannot change state of expired Timeout");
    EXPECT_EQ(asyncio::current_task().cancelling(), 0u);
  };
  run(body());
}

TEST_F(TimeoutsTest, AnOwnTimeoutWhoseBlockFinishedIsNotExpiredAndCannotChange) {
  auto body = [&]() -> Coro<int> {
    Timeout cm(std::nullopt);
    EXPECT_EQ(reschedule_error(cm, loop->time() + 1h), "Timeout has not been entered");
    const int value = co_await cm.run([&](Timeout& inside) -> Coro<int> {
      EXPECT_EQ(&inside, &cm);
      inside.reschedule(loop->time() + 1h);
      co_await asyncio::sleep(0s);
      co_return 5;
    });
    EXPECT_FALSE(cm.expired());
    EXPECT_TRUE(cm.when().has_value());
    EXPECT_EQ(reschedule_error(cm, std::nullopt), "Cannot change state of finished Timeout");
    // Entered once only.
    const bool again = co_await asyncio_test::throws<asyncio::RuntimeError>(cm.run(after(0ms, 0)));
    EXPECT_TRUE(again);
    co_return value;
  };
  EXPECT_EQ(run(body()), 5);
}

// test_timeouts.py: test_timeout_expiring.
TEST_F(TimeoutsTest, AnExpiredTimeoutWhoseBlockGoesOnCannotChangeWhileExpiring) {
  auto body = [&]() -> Coro<void> {
    Timeout cm(loop->time() + 1ms);
    co_await cm.run([&](Timeout& inside) -> Coro<void> {
      bool cancelled = false;
      try {
        co_await asyncio::sleep(1h);
      } catch (const asyncio::CancelledError&) {
        cancelled = true;
      }
      EXPECT_TRUE(cancelled);
      EXPECT_EQ(reschedule_error(inside, loop->time() + 1h),
                "Cannot change state of expiring Timeout");
    });
    EXPECT_TRUE(cm.expired());
  };
  run(body());
}

}  // namespace

namespace {

// Python's Timeout.__aexit__ raises `TimeoutError from exc`: the CancelledError is the cause.
TEST_F(TimeoutsTest, TheTimeoutErrorCarriesTheCancelledErrorAsItsNestedCause) {
  auto body = [&]() -> Coro<bool> {
    try {
      co_await asyncio::timeout(1ms, after(1h, 0));
    } catch (const asyncio::TimeoutError& error) {
      try {
        std::rethrow_if_nested(error);
      } catch (const asyncio::CancelledError&) {
        co_return true;
      }
    }
    co_return false;
  };
  EXPECT_TRUE(run(body()));
}

}  // namespace
