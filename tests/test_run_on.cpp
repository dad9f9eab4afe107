// run_on: the value and the exception of a coroutine run on another loop's thread, cancelling
// the awaiter cancels the remote task (and a remote task that swallows it gives its value), a
// target loop that closes first or is closed already gives RuntimeError, the running loop
// itself, and many round trips between 4 loops.
#include <atomic>
#include <future>
#include <latch>
#include <thread>

#include "support/asyncio_test.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;

namespace {

Coro<std::thread::id> thread_here() { co_return std::this_thread::get_id(); }

Coro<int> fail_here() {
  co_await asyncio::sleep(0ms);
  throw std::runtime_error("remote failure");
}

/// A shard that only serves others: waits until stop_all() cancels it.
Coro<void> serve_until_stopped() { co_await asyncio::sleep(3600s); }

/// Awaits `coro`; the message of what it raised ("cancelled" for CancelledError), or "value".
template <class T>
Coro<std::string> error_of(Coro<T> coro) {
  try {
    co_await std::move(coro);
  } catch (const asyncio::CancelledError&) {
    co_return "cancelled";
  } catch (const std::exception& e) {
    co_return e.what();
  }
  co_return "value";
}

/// A target loop on a thread of its own: it runs until close_soon(), then closes with what is
/// still pending there (the remote task's frame is destroyed).
struct ClosingTarget {
  std::unique_ptr<asyncio::EventLoop> loop = asyncio::new_event_loop();
  asyncio::Future<void> stop = loop->create_future<void>();
  std::thread thread{[this] {
    asyncio::Future<void> until = stop;
    loop->run_until_complete(until);
    loop->close();
  }};
  /// From another thread: ends the loop's run.
  void close_soon() {
    loop->call_soon_threadsafe([this] { stop.set_result(); });
  }
  ~ClosingTarget() {
    if (thread.joinable()) thread.join();
  }
};

TEST(RunOn, GivesTheValueAndTheExceptionOfTheRemoteCoroutine) {
  asyncio::Shards shards(2);
  std::thread::id remote_thread, own_thread;
  std::string error;
  shards.run([&](std::size_t shard) -> Coro<void> {
    if (shard != 0) co_return co_await serve_until_stopped();
    own_thread = std::this_thread::get_id();
    remote_thread = co_await asyncio::run_on(shards.loop(1), thread_here());
    error = co_await error_of(asyncio::run_on(shards.loop(1), fail_here()));
    shards.stop_all();
  });
  EXPECT_NE(remote_thread, std::thread::id());
  EXPECT_NE(remote_thread, own_thread);
  EXPECT_EQ(error, "remote failure");
}

TEST(RunOn, OnTheRunningLoopItselfIsATaskOfIt) {
  auto loop = asyncio::new_event_loop();
  auto main = [&]() -> Coro<bool> {
    co_return co_await asyncio::run_on(*loop, thread_here()) == std::this_thread::get_id();
  };
  EXPECT_TRUE(loop->run_until_complete(main()));
}

TEST(RunOn, CancellingTheAwaiterCancelsTheRemoteTaskAndWaitsForIt) {
  asyncio::Shards shards(2);
  std::atomic<bool> remote_started{false}, remote_finally{false};
  bool finally_seen_first = false;
  std::string outcome;
  auto remote = [&]() -> Coro<int> {
    remote_started = true;
    remote_started.notify_all();
    try {
      co_await asyncio::sleep(3600s);
    } catch (const asyncio::CancelledError&) {
      remote_finally = true;
      throw;
    }
    co_return 1;
  };
  shards.run([&](std::size_t shard) -> Coro<void> {
    if (shard != 0) co_return co_await serve_until_stopped();
    auto awaiting = asyncio::create_task(error_of(asyncio::run_on(shards.loop(1), remote())));
    co_await asyncio::to_thread([&] { remote_started.wait(false); });
    awaiting.cancel();
    outcome = co_await awaiting;
    finally_seen_first = remote_finally;
    shards.stop_all();
  });
  // error_of saw the CancelledError the remote task ended with, after its handler ran.
  EXPECT_TRUE(finally_seen_first);
  EXPECT_EQ(outcome, "cancelled");
}

TEST(RunOn, ARemoteTaskThatSwallowsTheCancellationGivesItsValue) {
  asyncio::Shards shards(2);
  std::atomic<bool> remote_started{false};
  int value = 0;
  auto stubborn = [&]() -> Coro<int> {
    remote_started = true;
    remote_started.notify_all();
    try {
      co_await asyncio::sleep(3600s);
    } catch (const asyncio::CancelledError&) {
    }
    co_return 42;
  };
  shards.run([&](std::size_t shard) -> Coro<void> {
    if (shard != 0) co_return co_await serve_until_stopped();
    auto awaiting = asyncio::create_task(asyncio::run_on(shards.loop(1), stubborn()));
    co_await asyncio::to_thread([&] { remote_started.wait(false); });
    awaiting.cancel();
    value = co_await awaiting;
    shards.stop_all();
  });
  EXPECT_EQ(value, 42);
}

TEST(RunOn, ARemoteTaskCancelledOnItsOwnLoopGivesTheAwaiterCancelledError) {
  asyncio::Shards shards(2);
  std::string error;
  bool awaiter_cancelled = true;
  auto cancelled_there = []() -> Coro<int> {
    asyncio::current_task().cancel();  // by something on the remote loop, not by the awaiter
    co_await asyncio::sleep(0ms);
    co_return 1;
  };
  shards.run([&](std::size_t shard) -> Coro<void> {
    if (shard != 0) co_return co_await serve_until_stopped();
    error = co_await error_of(asyncio::run_on(shards.loop(1), cancelled_there()));
    awaiter_cancelled = asyncio::current_task().cancelling() > 0;
    shards.stop_all();
  });
  EXPECT_EQ(error, "cancelled");
  EXPECT_FALSE(awaiter_cancelled);  // nobody asked the awaiting task to stop
}

TEST(RunOn, TargetLoopClosedWhileAwaitedGivesRuntimeError) {
  auto origin = asyncio::new_event_loop();
  std::promise<void> started;
  std::future<void> started_future = started.get_future();
  auto forever = [&]() -> Coro<int> {
    started.set_value();
    co_await asyncio::sleep(3600s);
    co_return 0;
  };
  ClosingTarget target;
  auto main = [&]() -> Coro<std::string> {
    auto closer = [&]() -> Coro<void> {
      co_await asyncio::to_thread([&] { started_future.wait(); });
      target.close_soon();
    };
    auto closing = asyncio::create_task(closer());
    std::string error = co_await error_of(asyncio::run_on(*target.loop, forever()));
    co_await closing;
    co_return error;
  };
  const std::string error = origin->run_until_complete(main());
  target.thread.join();
  EXPECT_NE(error.find("closed before the coroutine finished"), std::string::npos) << error;
  // A loop closed already refuses at once.
  auto again = [&]() -> Coro<std::string> {
    co_return co_await error_of(asyncio::run_on(*target.loop, thread_here()));
  };
  EXPECT_NE(origin->run_until_complete(again()).find("closed before the coroutine started"),
            std::string::npos);
  origin->close();
}

// A cancellation that comes once the remote coroutine finished, while its value is on its way
// back, is too late for the remote task: the awaiting task raises it instead of the value, as a
// task awaiting a Task that is done already does (Python's _must_cancel).
TEST(RunOn, ACancellationAfterTheRemoteCoroutineFinishedIsRaisedInsteadOfItsValue) {
  asyncio::Shards shards(2);
  std::promise<void> outcome_posted;
  std::future<void> outcome_posted_future = outcome_posted.get_future();
  bool cancel_accepted = false;
  std::string outcome;
  auto quick = [&]() -> Coro<int> {
    // Runs after run_on's done callback, which was queued when this returned: the value has
    // been posted to the awaiting loop by then.
    asyncio::get_running_loop().call_soon(
        [&] { asyncio::get_running_loop().call_soon([&] { outcome_posted.set_value(); }); });
    co_return 1;
  };
  shards.run([&](std::size_t shard) -> Coro<void> {
    if (shard != 0) co_return co_await serve_until_stopped();
    auto awaiting = asyncio::create_task(error_of(asyncio::run_on(shards.loop(1), quick())));
    co_await asyncio::sleep(0ms);  // the start is posted
    // This loop does not run meanwhile, so the value cannot wake the awaiting task first.
    if (outcome_posted_future.wait_for(10s) != std::future_status::ready) {
      ADD_FAILURE() << "the remote coroutine did not finish";
    }
    cancel_accepted = awaiting.cancel();
    outcome = co_await awaiting;
    shards.stop_all();
  });
  EXPECT_TRUE(cancel_accepted);
  EXPECT_EQ(outcome, "cancelled");
}

// The target loop closes while a remote task that swallowed the awaiter's cancellation still
// runs: the awaiter raises CancelledError, what it was asked to do, not RuntimeError.
TEST(RunOn, TargetLoopClosedAfterTheAwaiterWasCancelledGivesCancelledError) {
  auto origin = asyncio::new_event_loop();
  std::promise<void> started, swallowed;
  std::future<void> started_future = started.get_future();
  std::future<void> swallowed_future = swallowed.get_future();
  auto stubborn = [&]() -> Coro<int> {
    started.set_value();
    try {
      co_await asyncio::sleep(3600s);
    } catch (const asyncio::CancelledError&) {
      swallowed.set_value();
    }
    co_await asyncio::sleep(3600s);
    co_return 0;
  };
  ClosingTarget target;
  auto main = [&]() -> Coro<std::string> {
    auto awaiting = asyncio::create_task(error_of(asyncio::run_on(*target.loop, stubborn())));
    co_await asyncio::to_thread([&] { started_future.wait_for(10s); });
    awaiting.cancel();
    co_await asyncio::to_thread([&] { swallowed_future.wait_for(10s); });
    target.close_soon();
    co_return co_await awaiting;
  };
  const std::string error = origin->run_until_complete(main());
  EXPECT_EQ(error, "cancelled");
  origin->close();
}

// 4 loops; each sends 2,500 round trips to each other loop, concurrently: every value comes back.
TEST(RunOn, ManyRoundTripsBetweenFourLoops) {
  constexpr int rounds = 2'500;
  asyncio::Shards shards(4);
  std::atomic<long> sum{0};
  std::atomic<int> finished{0};
  auto echo = [](int value) -> Coro<int> { co_return value; };
  shards.run([&](std::size_t shard) -> Coro<void> {
    auto to = [&](std::size_t other) -> Coro<void> {
      for (int i = 0; i < rounds; ++i) sum += co_await asyncio::run_on(shards.loop(other), echo(i));
    };
    std::vector<asyncio::Task<void>> peers;
    for (std::size_t other = 0; other < shards.size(); ++other) {
      if (other != shard) peers.push_back(asyncio::create_task(to(other)));
    }
    for (auto& peer : peers) co_await peer;
    if (++finished == 4) shards.stop_all();  // every shard has its answers: all may stop
    co_await serve_until_stopped();
  });
  EXPECT_EQ(sum, 4L * 3 * (rounds * (rounds - 1L) / 2));
}

}  // namespace
