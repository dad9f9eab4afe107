// asyncio::run and the loop accessors: values and exceptions, shutdown of leftover tasks, and
// the running / current loop rules.
#include <stdexcept>
#include <thread>

#include "support/asyncio_test.hpp"

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
  EXPECT_NE(err.find("unhandled exception during asyncio.run() shutdown"), std::string::npos) << err;
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

}  // namespace
