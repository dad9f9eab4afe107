// The loop watching fds: add_reader / add_writer and their removal, wait_readable /
// wait_writable and cancellation, hang-ups and errors without spinning, and no stale event
// for an fd whose number was reused within one batch of events. Runs on the selector named
// by ASYNCIO_SELECTOR (CI runs the suite once per backend).
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "support/asyncio_test.hpp"
#include "support/counting_selector.hpp"
#include "support/fds.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio_test::Fd;
using asyncio_test::Pipe;
using asyncio_test::SocketPair;

namespace {

struct FdWatchTest : asyncio_test::CountingLoopFixture {
  /// Runs `n` iterations that each poll the selector once. (A stop scheduled with call_soon
  /// would end an iteration that skipped the poll, as the loop does while callbacks are ready.)
  void run_iterations(int n) {
    for (int i = 0; i < n; ++i) {
      loop->call_later(0s, [this] { loop->stop(); });
      loop->run_forever();
    }
  }
  bool watched(int fd) {
    // io_uring has no selector to ask: the loop's count (the tests watch one fd at a time).
    if (on_io_uring()) return loop->stats().fds > 0;
    return loop->selector().get_key(fd) != nullptr;
  }
  bool on_io_uring() const { return loop->backend_name() == "io_uring"; }
  static Coro<void> nap() { co_await asyncio::sleep(50ms); }
};

TEST_F(FdWatchTest, ReaderRunsEachIterationTheFdIsReadableUntilRemoved) {
  Pipe p;
  int calls = 0;
  std::string seen;
  loop->add_reader(
      p.r,
      [&](const std::string& tag) {
        ++calls;
        seen = tag;
      },
      std::string("bound"));
  run_iterations(3);
  EXPECT_EQ(calls, 0);
  ASSERT_EQ(::write(p.w, "x", 1), 1);
  run_iterations(3);  // level-triggered: still readable, called every time
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(seen, "bound");
  EXPECT_TRUE(loop->remove_reader(p.r));
  EXPECT_FALSE(loop->remove_reader(p.r));
  run_iterations(2);
  EXPECT_EQ(calls, 3);
  EXPECT_FALSE(watched(p.r));
}

TEST_F(FdWatchTest, WriterAndReaderOnOneFd) {
  SocketPair s;
  int reads = 0, writes = 0;
  loop->add_writer(s.a, [&] {
    ++writes;
    loop->remove_writer(s.a);  // removing itself from inside its call
  });
  loop->add_reader(s.a, [&] { ++reads; });
  run_iterations(2);
  EXPECT_EQ(writes, 1);
  EXPECT_EQ(reads, 0);
  ASSERT_EQ(::write(s.b, "x", 1), 1);
  run_iterations(1);
  EXPECT_EQ(reads, 1);
  if (!on_io_uring()) {
    EXPECT_EQ(loop->selector().get_key(s.a)->events, asyncio::selectors::EVENT_READ);
  }
  loop->remove_reader(s.a);
}

TEST_F(FdWatchTest, AddReaderReplacesTheReader) {
  Pipe p;
  std::vector<int> calls;
  loop->add_reader(p.r, [&] { calls.push_back(1); });
  loop->add_reader(p.r, [&] { calls.push_back(2); });
  ASSERT_EQ(::write(p.w, "x", 1), 1);
  run_iterations(1);
  EXPECT_EQ(calls, std::vector<int>{2});
  loop->remove_reader(p.r);
}

TEST_F(FdWatchTest, ExceptionFromAReaderIsReportedAndTheReaderStays) {
  Pipe p;
  int calls = 0;
  loop->add_reader(p.r, [&] {
    ++calls;
    throw std::runtime_error("boom");
  });
  ASSERT_EQ(::write(p.w, "x", 1), 1);
  run_iterations(2);
  EXPECT_EQ(calls, 2);
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0].message, "Exception in callback");
  EXPECT_EQ(asyncio_test::what(reports[0].exception), "boom");
  loop->remove_reader(p.r);
}

TEST_F(FdWatchTest, WaitReadableWakesTheTask) {
  Pipe p;
  auto body = [&]() -> Coro<int> {
    co_await loop->wait_readable(p.r);
    char c = 0;
    co_return static_cast<int>(::read(p.r, &c, 1));
  };
  auto task = loop->create_task(body());
  run_iterations(3);
  EXPECT_FALSE(task.done());
  EXPECT_TRUE(watched(p.r));
  ASSERT_EQ(::write(p.w, "x", 1), 1);
  EXPECT_EQ(loop->run_until_complete(task), 1);
  run_iterations(1);
  EXPECT_FALSE(watched(p.r));
}

TEST_F(FdWatchTest, CancelledWaitLeavesTheFdUnwatched) {
  Pipe p;
  auto body = [&]() -> Coro<void> { co_await loop->wait_writable(p.r); };  // never writable
  auto task = loop->create_task(body());
  run_iterations(2);
  EXPECT_TRUE(watched(p.r));
  task.cancel();
  EXPECT_THROW(loop->run_until_complete(task), asyncio::CancelledError);
  run_iterations(1);
  EXPECT_FALSE(watched(p.r));
  // The fd can be waited on again.
  loop->add_writer(p.w, [&] { loop->remove_writer(p.w); });
  run_iterations(1);
}

TEST_F(FdWatchTest, TwoWaitersOnOneDirectionIsAnError) {
  Pipe p;
  auto waiter = [&]() -> Coro<void> { co_await loop->wait_readable(p.r); };
  auto first = loop->create_task(waiter());
  auto second = loop->create_task(waiter());
  run_iterations(2);
  ASSERT_TRUE(second.done());
  EXPECT_THROW(second.result(), asyncio::RuntimeError);
  EXPECT_FALSE(first.done());
  first.cancel();
  EXPECT_THROW(loop->run_until_complete(first), asyncio::CancelledError);
}

TEST_F(FdWatchTest, RemoveReaderWakesATaskWaitingOnTheFd) {
  Pipe p;
  auto body = [&]() -> Coro<void> { co_await loop->wait_readable(p.r); };
  auto task = loop->create_task(body());
  run_iterations(1);
  EXPECT_TRUE(loop->remove_reader(p.r));
  loop->run_until_complete(task);  // woken, not left hanging
}

TEST_F(FdWatchTest, LoopClosedWithWatchersFreesThemAndDestroysWaitingTasks) {
  Pipe p;
  auto body = [&]() -> Coro<void> { co_await loop->wait_readable(p.r); };
  auto task = loop->create_task(body());
  loop->add_reader(p.w, [] {});
  loop->add_writer(p.w, [] {});
  run_iterations(1);
  loop->close();                  // LeakSanitizer: no watcher left behind
  EXPECT_EQ(reports.size(), 1u);  // "Task was destroyed but it is pending!"
}

TEST_F(FdWatchTest, HangUpWakesTheReaderOnceAndTheLoopThenSleeps) {
  SocketPair s;
  int wakeups = 0;
  auto reader = [&]() -> Coro<std::string> {
    std::string all;
    for (;;) {
      ++wakeups;
      std::string chunk = co_await loop->sock_recv(s.a, 100);
      if (chunk.empty()) co_return all;  // EOF
      all += chunk;
    }
  };
  auto task = loop->create_task(reader());
  run_iterations(2);
  ASSERT_EQ(::write(s.b, "bye", 3), 3);
  s.b.close();
  EXPECT_EQ(loop->run_until_complete(task), "bye");
  EXPECT_LE(wakeups, 3);
  // The fd is still open and hung up, but nobody watches it: the loop must sleep, not spin.
  const std::size_t before = polls();
  loop->run_until_complete(nap());
  EXPECT_LE(polls() - before, 5u);
}

TEST_F(FdWatchTest, ErrorOnTheSocketWakesTheWriterWithTheErrorAndTheLoopThenSleeps) {
  // The peer closes with data unread: the kernel resets the connection.
  SocketPair s;
  ASSERT_EQ(::write(s.b, "unread", 6), 6);
  auto writer = [&]() -> Coro<int> {
    const std::string block(1 << 20, 'x');
    try {
      for (int i = 0; i < 100; ++i) co_await loop->sock_sendall(s.a, block);
    } catch (const std::system_error& e) {
      co_return e.code().value();
    }
    co_return 0;
  };
  auto task = loop->create_task(writer());
  run_iterations(2);  // the writer fills the buffer and waits
  s.b.close();
  const int error = loop->run_until_complete(task);
  EXPECT_TRUE(error == EPIPE || error == ECONNRESET) << error;
  const std::size_t before = polls();
  loop->run_until_complete(nap());
  EXPECT_LE(polls() - before, 5u);
}

// Two fds become ready in one batch. Whichever callback runs first closes the other fd and
// gives its number to a new socket, which it watches; the event already collected for the old
// fd must not reach the new watcher (the new socket is never readable).
void reused_fd_gets_no_stale_event(FdWatchTest& t, bool remove_before_close) {
  SocketPair x, y;
  ASSERT_EQ(::write(x.b, "x", 1), 1);
  ASSERT_EQ(::write(y.b, "y", 1), 1);
  int stale_calls = 0, first_calls = 0;
  Fd replacement;
  auto take_over = [&](Fd& victim) {
    ++first_calls;
    const int number = victim;
    if (remove_before_close) t.loop->remove_reader(number);
    victim.close();
    replacement = asyncio_test::make_socket(AF_UNIX, SOCK_DGRAM);
    ASSERT_EQ(static_cast<int>(replacement), number);
    t.loop->add_reader(number, [&] { ++stale_calls; });
    t.loop->remove_reader(x.a == -1 ? y.a : x.a);  // the first reader is done
  };
  t.loop->add_reader(x.a, [&] { take_over(y.a); });
  t.loop->add_reader(y.a, [&] { take_over(x.a); });
  t.run_iterations(3);
  EXPECT_EQ(first_calls, 1);
  EXPECT_EQ(stale_calls, 0);
  t.loop->remove_reader(replacement);
}

TEST_F(FdWatchTest, FdClosedAfterRemoveAndReusedInOneBatchGetsNoStaleEvent) {
  reused_fd_gets_no_stale_event(*this, true);
}

TEST_F(FdWatchTest, FdClosedWhileWatchedAndReusedInOneBatchGetsNoStaleEvent) {
  reused_fd_gets_no_stale_event(*this, false);
}

TEST_F(FdWatchTest, ReusedFdNumberIsWatchedForItsNewOwner) {
  // Closed while watched, reused, watched again in the same iteration with the same events:
  // the new fd's events arrive (epoll forgot the old registration when the fd was closed), and
  // the loop, which would otherwise block forever, does not.
  Pipe p;
  int old_calls = 0;
  loop->add_reader(p.r, [&] { ++old_calls; });
  run_iterations(1);
  const int number = p.r;
  p.r.close();
  Pipe q;
  ASSERT_EQ(static_cast<int>(q.r), number);
  auto got_data = loop->create_future<void>();
  loop->add_reader(q.r, [&] {
    loop->remove_reader(q.r);
    got_data.set_result();
  });
  ASSERT_EQ(::write(q.w, "x", 1), 1);
  auto wait = [&]() -> Coro<void> { co_await asyncio::wait_for(got_data, 10s); };
  loop->run_until_complete(wait());
  EXPECT_EQ(old_calls, 0);
  if (!on_io_uring() && loop->selector().forgets_closed_fds()) {
    EXPECT_GE(refreshes, 1u);
  }
}

TEST_F(FdWatchTest, RewatchingABusyFdCostsNoSystemCall) {
  // Ping-pong: each side stops and starts waiting between two polls; the events prove the
  // registrations current, so none is re-armed.
  SocketPair s;
  auto side = [&](int fd, bool first) -> Coro<void> {
    std::byte byte{};
    for (int i = 0; i < 200; ++i) {
      if (first) co_await loop->sock_sendall(fd, "x");
      co_await loop->sock_recv_into(fd, {&byte, 1});
      if (!first) co_await loop->sock_sendall(fd, "y");
    }
  };
  auto both = [&]() -> Coro<void> { co_await asyncio::gather(side(s.a, true), side(s.b, false)); };
  loop->run_until_complete(both());
  EXPECT_EQ(refreshes, 0u);
  EXPECT_LE(polls(), 200u * 2 + 10);  // about one poll per message
}

TEST_F(FdWatchTest, WatchingAnFdThatIsNotOpenIsAnErrorOrWakesTheWatcher) {
  // epoll refuses it at once; select and poll report it ready, so its owner meets EBADF.
  int calls = 0;
  try {
    loop->add_reader(1000, [&] {
      ++calls;
      loop->remove_reader(1000);
    });
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EBADF);
    return;
  }
  run_iterations(2);
  EXPECT_EQ(calls, 1);
}

// A regular file is always ready. epoll refuses to watch one (EPERM, Python's PermissionError),
// and so must io_uring, whose poll requests would otherwise call the reader without end; poll
// and select report it ready, as Python's PollSelector and SelectSelector do.
TEST(FdWatch, WatchingARegularFileIsRefusedWhereEpollRefusesIt) {
  asyncio_test::Fd file(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
  ASSERT_GE(file.fd, 0);
  auto loop = asyncio::new_event_loop();  // on the backend itself (the fixture's counts polls)
  const std::string_view backend = loop->backend_name();
  const bool refused = backend == "epoll" || backend == "io_uring";
  try {
    loop->add_reader(file.fd, [] {});
    EXPECT_FALSE(refused) << backend;
    EXPECT_TRUE(loop->remove_reader(file.fd));
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EPERM);
    EXPECT_TRUE(refused) << backend;
  }
  loop->close();
}

void ignore_signal(int) {}

TEST_F(FdWatchTest, SignalStormDuringAWaitChangesNothing) {
  // A handler without SA_RESTART: every blocking call the loop makes may fail with EINTR.
  struct sigaction action {
  }, old{};
  action.sa_handler = ignore_signal;
  sigemptyset(&action.sa_mask);
  ASSERT_EQ(::sigaction(SIGUSR2, &action, &old), 0);
  SocketPair s;
  const pthread_t loop_thread = ::pthread_self();
  std::atomic<bool> stop{false};
  std::thread storm([&] {
    for (int i = 0; i < 5000 && !stop; ++i) ::pthread_kill(loop_thread, SIGUSR2);
    ASSERT_EQ(::write(s.b, "after the storm", 15), 15);
  });
  auto body = [&]() -> Coro<std::string> {
    co_await asyncio::sleep(5ms);                  // a timed wait in the storm
    co_return co_await loop->sock_recv(s.a, 100);  // an fd wait until the storm is over
  };
  const std::string got = run(body());
  stop = true;
  storm.join();
  ::sigaction(SIGUSR2, &old, nullptr);
  EXPECT_EQ(got, "after the storm");
  EXPECT_TRUE(reports.empty());
}

TEST_F(FdWatchTest, AddReaderOnAClosedLoopIsAnError) {
  Pipe p;
  loop->close();
  EXPECT_THROW(loop->add_reader(p.r, [] {}), asyncio::RuntimeError);
}

// Forwards to the default backend and counts unregister() calls made for an fd that was
// already closed (which epoll refuses with EBADF: the registration could not be removed).
class ClosedFdSpottingSelector final : public asyncio::selectors::Selector {
 public:
  explicit ClosedFdSpottingSelector(int* late) : late_(late) {}
  const asyncio::selectors::SelectorKey& register_fd(int fd, unsigned events, void* data) override {
    inner_->register_fd(fd, events, data);
    return add_key(fd, events, data);
  }
  asyncio::selectors::SelectorKey unregister(int fd) override {
    if (::fcntl(fd, F_GETFD) < 0) ++*late_;
    inner_->unregister(fd);
    return remove_key(fd);
  }
  const asyncio::selectors::SelectorKey& modify(int fd, unsigned events, void* data) override {
    inner_->modify(fd, events, data);
    remove_key(fd);
    return add_key(fd, events, data);
  }
  const std::vector<asyncio::selectors::ReadyKey>& select(
      std::optional<std::chrono::nanoseconds> timeout) override {
    return inner_->select(timeout);
  }
  void close() override {
    inner_->close();
    clear_keys();
  }
  void refresh(int fd) override { inner_->refresh(fd); }
  bool forgets_closed_fds() const noexcept override { return inner_->forgets_closed_fds(); }

 private:
  std::unique_ptr<Selector> inner_ = asyncio::selectors::make_default_selector();
  int* late_;
};

TEST(FdRemoval, StreamsAndServersTakeTheirFdOutOfTheSelectorBeforeClosingIt) {
  int late = 0;
  auto loop = asyncio::new_event_loop(std::make_unique<ClosedFdSpottingSelector>(&late));
  auto body = []() -> Coro<void> {
    SocketPair pair;
    auto [reader, writer] = asyncio::open_stream(pair.a.release());
    writer.write("x");
    writer.close();  // closes the fd once flushed: now
    co_await writer.wait_closed();
    co_await asyncio::sleep(1ms);  // a poll (timers wait in one), before the number is reused
    auto server = co_await asyncio::start_server(
        [](asyncio::StreamReader, asyncio::StreamWriter) -> Coro<void> { co_return; }, "127.0.0.1",
        0);
    server.close();
    co_await server.wait_closed();
    co_await asyncio::sleep(1ms);
  };
  loop->run_until_complete(body());
  loop->close();
  EXPECT_EQ(late, 0);
}

}  // namespace
