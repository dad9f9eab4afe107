// Unix signals: add_signal_handler / remove_signal_handler on real signals sent by this process,
// by another thread and by another process (a storm of 10,000), with the loop asleep in its
// selector; dispositions put back; misuse refused; and asyncio::run's Ctrl-C, in this process
// and in a child sent SIGINT. The loop's selector is the one ASYNCIO_SELECTOR names.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "support/asyncio_test.hpp"
#include "support/counting_selector.hpp"
#include "support/signal_disposition.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio_test::disposition;
using asyncio_test::wait_until;

namespace {

/// Sets a disposition for the test and puts the one before back at the end.
struct Disposition {
  int sig;
  struct sigaction before;
  Disposition(int sig, void (*handler)(int)) : sig(sig) {
    struct sigaction action {};
    action.sa_handler = handler;
    ::sigaction(sig, &action, &before);
  }
  ~Disposition() { ::sigaction(sig, &before, nullptr); }
};

using SignalTest = asyncio_test::CountingLoopFixture;

TEST_F(SignalTest, HandlerRunsOnTheLoopAsAnOrdinaryCallbackWithItsArguments) {
  int calls = 0;
  int given = 0;
  asyncio::EventLoop* running = nullptr;
  loop->add_signal_handler(
      SIGUSR1,
      [&](int value) {
        ++calls;
        given = value;
        running = &asyncio::get_running_loop();  // a callback of the loop, not a C handler
      },
      42);
  run([&]() -> Coro<void> {
    ::kill(::getpid(), SIGUSR1);
    co_await wait_until([&] { return calls > 0; }, 10s, "the handler");
  }());
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(given, 42);
  EXPECT_EQ(running, loop.get());
  EXPECT_TRUE(reports.empty());
}

asyncio::ContextVar<int> signal_test_var("signal_test_var");

// Python's Handle: the callback runs in a copy of the context current at add_signal_handler.
TEST_F(SignalTest, HandlerRunsInACopyOfTheContextItWasAddedIn) {
  int seen = 0;
  run([&]() -> Coro<void> {
    signal_test_var.set(7);
    loop->add_signal_handler(SIGUSR1, [&] {
      seen = signal_test_var.get(-1);
      signal_test_var.set(8);  // the copy's: the adder's context keeps 7
    });
    signal_test_var.set(9);  // after the copy: the handler does not see it
    ::kill(::getpid(), SIGUSR1);
    co_await wait_until([&] { return seen != 0; }, 10s, "the handler");
    EXPECT_EQ(signal_test_var.get(), 9);
  }());
  EXPECT_EQ(seen, 7);
  EXPECT_TRUE(loop->remove_signal_handler(SIGUSR1));
}

TEST_F(SignalTest, SignalDeliveredToAnotherThreadReachesTheLoop) {
  std::thread::id ran_on;
  loop->add_signal_handler(SIGUSR1, [&] { ran_on = std::this_thread::get_id(); });
  run([&]() -> Coro<void> {
    std::thread other([] { ::pthread_kill(::pthread_self(), SIGUSR1); });  // to that thread
    other.join();
    co_await wait_until([&] { return ran_on != std::thread::id(); }, 10s, "the handler");
  }());
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

TEST_F(SignalTest, SignalWakesALoopAsleepInItsSelector) {
  // The loop has nothing to do but wait for the signal: no timer is due for a minute (the
  // fixture's limit), so only the signal's wake-up can end this run early.
  asyncio::Future<void> arrived = loop->create_future<void>();
  loop->add_signal_handler(SIGUSR1, [&] { arrived.set_result(); });
  std::thread sender;
  // The signal goes to the sender thread itself, so that the C handler runs there and only its
  // eventfd write can wake the loop. (Sent to the process, it may land on the loop's thread
  // instead, asleep in poll(), where ThreadSanitizer may hold the handler back indefinitely.)
  loop->call_soon([&] { sender = std::thread([] { ::pthread_kill(::pthread_self(), SIGUSR1); }); });
  const auto start = std::chrono::steady_clock::now();
  run(arrived);
  sender.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 30s);
}

TEST_F(SignalTest, StormFromAnotherProcessIsCoalescedAndNeitherLosesNorSpinsTheLoop) {
  std::atomic<long> calls = 0;  // counted on the loop's thread only
  loop->add_signal_handler(SIGUSR1, [&] { ++calls; });
  constexpr long storm = 10000;
  run([&]() -> Coro<void> {
    asyncio::Process sender = co_await asyncio::create_subprocess_exec(
        ASYNCIO_TEST_CHILD, "storm", std::to_string(::getpid()), std::to_string(storm));
    EXPECT_EQ(co_await sender.wait(), 0);
    co_await wait_until([&] { return calls > 0; }, 10s, "the storm's handler calls");
  }());
  EXPECT_GE(calls, 1);
  EXPECT_LE(calls, storm);
  EXPECT_LE(polls_during(50ms), 20u) << "the loop spins after the storm";
  // Still handled after the storm.
  const long before = calls;
  run([&]() -> Coro<void> {
    ::kill(::getpid(), SIGUSR1);
    co_await wait_until([&] { return calls > before; }, 10s, "the handler after the storm");
  }());
  EXPECT_TRUE(reports.empty());
}

TEST_F(SignalTest, ReplacingAHandlerCallsOnlyTheNewOne) {
  int first = 0, second = 0;
  loop->add_signal_handler(SIGUSR2, [&] { ++first; });
  loop->add_signal_handler(SIGUSR2, [&] { ++second; });
  run([&]() -> Coro<void> {
    ::kill(::getpid(), SIGUSR2);
    co_await wait_until([&] { return second > 0; }, 10s, "the new handler");
  }());
  EXPECT_EQ(first, 0);
}

TEST_F(SignalTest, RemoveGivesBackThePreviousDispositionAndSaysWhetherThereWasAHandler) {
  Disposition ignored(SIGUSR2, SIG_IGN);
  EXPECT_FALSE(loop->remove_signal_handler(SIGUSR2));
  loop->add_signal_handler(SIGUSR2, [] {});
  EXPECT_NE(disposition(SIGUSR2), SIG_IGN);
  EXPECT_TRUE(loop->remove_signal_handler(SIGUSR2));
  EXPECT_EQ(disposition(SIGUSR2), SIG_IGN);
  EXPECT_FALSE(loop->remove_signal_handler(SIGUSR2));
}

TEST_F(SignalTest, AHandlerRemovedAfterItsSignalArrivedIsNotCalled) {
  Disposition ignored(SIGUSR1, SIG_IGN);  // what remove() puts back
  int calls = 0;
  loop->add_signal_handler(SIGUSR1, [&] { ++calls; });
  ::kill(::getpid(), SIGUSR1);  // caught now; the loop learns of it on its next poll
  loop->call_soon([&] { loop->remove_signal_handler(SIGUSR1); });
  run_iterations(3);
  EXPECT_EQ(calls, 0);
}

TEST_F(SignalTest, CloseGivesBackEveryDisposition) {
  loop->add_signal_handler(SIGUSR1, [] {});
  loop->add_signal_handler(SIGUSR2, [] {});
  EXPECT_NE(disposition(SIGUSR1), SIG_DFL);
  loop->close();
  EXPECT_EQ(disposition(SIGUSR1), SIG_DFL);
  EXPECT_EQ(disposition(SIGUSR2), SIG_DFL);
  EXPECT_THROW(loop->add_signal_handler(SIGUSR1, [] {}), asyncio::RuntimeError);
}

// As Python's: ValueError (std::invalid_argument) for a number out of range; RuntimeError for
// a signal that cannot be caught, whose handler removal just finds none.
TEST_F(SignalTest, SignalsThatCannotBeHandledAreRefused) {
  for (const int sig : {0, -1, NSIG, 1000}) {
    EXPECT_THROW(loop->add_signal_handler(sig, [] {}), std::invalid_argument) << sig;
    EXPECT_THROW(loop->remove_signal_handler(sig), std::invalid_argument) << sig;
  }
  // The C library keeps the first real-time signals for itself (sigaction says EINVAL).
  for (const int sig : {SIGKILL, SIGSTOP, 32}) {
    EXPECT_THROW(loop->add_signal_handler(sig, [] {}), asyncio::RuntimeError) << sig;
    EXPECT_FALSE(loop->remove_signal_handler(sig)) << sig;
  }
}

TEST_F(SignalTest, ASignalHasOneHandlingLoopInTheProcess) {
  auto other = asyncio::new_event_loop();
  loop->add_signal_handler(SIGUSR1, [] {});
  EXPECT_THROW(other->add_signal_handler(SIGUSR1, [] {}), asyncio::RuntimeError);
  other->add_signal_handler(SIGUSR2, [] {});  // another signal is free
  loop->remove_signal_handler(SIGUSR1);
  other->add_signal_handler(SIGUSR1, [] {});
  other->close();
}

TEST_F(SignalTest, ALoopOnAnotherThreadHandlesSignals) {
  std::atomic<bool> handled = false;
  std::thread thread([&] {
    auto own = asyncio::new_event_loop();
    asyncio::Future<void> arrived = own->create_future<void>();
    own->add_signal_handler(SIGUSR1, [&] {
      handled = true;
      arrived.set_result();
    });
    own->call_soon([] { ::kill(::getpid(), SIGUSR1); });
    own->call_later(30s, [&] { own->stop(); });  // gives up rather than hang
    own->run_until_complete(arrived);
  });
  thread.join();
  EXPECT_TRUE(handled);
}

TEST_F(SignalTest, AnExceptionFromAHandlerGoesToTheExceptionHandler) {
  bool called = false;
  loop->add_signal_handler(SIGUSR1, [&] {
    called = true;
    throw std::runtime_error("handler failed");
  });
  run([&]() -> Coro<void> {
    ::kill(::getpid(), SIGUSR1);
    co_await wait_until([&] { return called; }, 10s, "the handler");
  }());
  EXPECT_EQ(reported("Exception in callback"), 1u);
}

// --- asyncio::run and Ctrl-C ------------------------------------------------------------------

TEST(RunAndSigint, FirstSigintCancelsMainAndRunThrowsKeyboardInterrupt) {
  bool unwound = false;
  auto main = [&]() -> Coro<int> {
    ::kill(::getpid(), SIGINT);
    try {
      co_await asyncio::sleep(std::chrono::hours(1));
    } catch (const asyncio::CancelledError&) {
      unwound = true;
      throw;
    }
    co_return 0;
  };
  EXPECT_THROW(asyncio::run(main()), asyncio::KeyboardInterrupt);
  EXPECT_TRUE(unwound);
  EXPECT_EQ(disposition(SIGINT), SIG_DFL);
}

TEST(RunAndSigint, AMainThatSwallowsTheCancellationReturnsItsValue) {
  auto main = []() -> Coro<int> {
    ::kill(::getpid(), SIGINT);
    try {
      co_await asyncio::sleep(std::chrono::hours(1));
    } catch (const asyncio::CancelledError&) {
      asyncio::current_task().uncancel();
      co_return 7;
    }
    co_return 0;
  };
  EXPECT_EQ(asyncio::run(main()), 7);
}

TEST(RunAndSigint, SigintIsLeftAloneWhenItIsNotAtItsDefault) {
  Disposition ignored(SIGINT, SIG_IGN);
  auto main = []() -> Coro<int> {
    ::kill(::getpid(), SIGINT);  // ignored
    co_await asyncio::sleep(10ms);
    co_return 1;
  };
  EXPECT_EQ(asyncio::run(main()), 1);
  EXPECT_EQ(disposition(SIGINT), SIG_IGN);
}

/// Runs the test child in `mode` and reads its stdout until "ready".
Coro<asyncio::Process> start_ready(const char* mode) {
  asyncio::Process child = co_await asyncio::create_subprocess_exec(
      ASYNCIO_TEST_CHILD, mode, asyncio::SubprocessOptions{.stdout = asyncio::subprocess::PIPE});
  EXPECT_EQ(co_await child.stdout->readline(), "ready\n");
  co_return child;
}

TEST_F(SignalTest, CtrlCInAChildRunsItsFinallyAndEndsWithKeyboardInterrupt) {
  run([]() -> Coro<void> {
    asyncio::Process child = co_await start_ready("sigint-finally");
    child.send_signal(SIGINT);
    EXPECT_EQ(co_await child.stdout->read(), "finally\nKeyboardInterrupt\n");
    EXPECT_EQ(co_await child.wait(), 130);
  }());
}

TEST_F(SignalTest, ASecondCtrlCEndsTheChildByTheDefaultDisposition) {
  run([]() -> Coro<void> {
    asyncio::Process child = co_await start_ready("sigint-stubborn");
    child.send_signal(SIGINT);
    EXPECT_EQ(co_await child.stdout->readline(), "finally\n");
    child.send_signal(SIGINT);
    EXPECT_EQ(co_await child.wait(), -SIGINT);
  }());
}

}  // namespace
