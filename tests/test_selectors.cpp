// selectors: the same behaviour from SelectSelector, PollSelector and EpollSelector on real
// pipes and sockets (register / modify / unregister, readiness, hang-ups, timeouts from zero to
// many hours, signals during a wait, closed fds, errors), and what only one backend does.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <atomic>
#include <semaphore>
#include <system_error>
#include <thread>

#include "support/asyncio_test.hpp"
#include "support/fds.hpp"

using namespace std::chrono_literals;
using namespace asyncio::selectors;
using asyncio_test::Pipe;
using asyncio_test::SocketPair;
using Clock = std::chrono::steady_clock;

namespace {

struct SelectorTest : ::testing::TestWithParam<const char*> {
  std::unique_ptr<Selector> sel = make_selector(GetParam());
};

INSTANTIATE_TEST_SUITE_P(Backends, SelectorTest, ::testing::Values("select", "poll", "epoll"),
                         [](const auto& info) { return std::string(info.param); });

TEST_P(SelectorTest, ReportsReadinessWithTheKeyData) {
  Pipe p;
  int tag = 0;
  sel->register_fd(p.r, EVENT_READ, &tag);
  sel->register_fd(p.w, EVENT_WRITE);
  EXPECT_EQ(sel->size(), 2u);

  auto ready = sel->select(0ns);
  ASSERT_EQ(ready.size(), 1u);  // only the write end is ready
  EXPECT_EQ(ready[0].key.fd, p.w);
  EXPECT_EQ(ready[0].events, EVENT_WRITE);

  ASSERT_EQ(::write(p.w, "x", 1), 1);
  sel->unregister(p.w);
  ready = sel->select(1s);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].key.fd, p.r);
  EXPECT_EQ(ready[0].key.data, &tag);
  EXPECT_EQ(ready[0].events, EVENT_READ);
}

TEST_P(SelectorTest, BothEventsOfOneFd) {
  SocketPair s;
  sel->register_fd(s.a, EVENT_READ | EVENT_WRITE);
  auto ready = sel->select(0ns);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].events, EVENT_WRITE);
  ASSERT_EQ(::write(s.b, "x", 1), 1);
  ready = sel->select(1s);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].events, EVENT_READ | EVENT_WRITE);
}

TEST_P(SelectorTest, ZeroTimeoutPollsWithoutWaiting) {
  Pipe p;
  sel->register_fd(p.r, EVENT_READ);
  const auto start = Clock::now();
  EXPECT_TRUE(sel->select(0ns).empty());
  EXPECT_TRUE(sel->select(-5s).empty());  // a deadline already past
  EXPECT_LT(Clock::now() - start, 1s);
}

TEST_P(SelectorTest, TimeoutWithNothingReadyWaitsAtLeastThatLong) {
  Pipe p;
  sel->register_fd(p.r, EVENT_READ);
  for (auto timeout : {std::chrono::nanoseconds(1), std::chrono::nanoseconds(300us),
                       std::chrono::nanoseconds(5ms)}) {
    const auto start = Clock::now();
    EXPECT_TRUE(sel->select(timeout).empty());
    EXPECT_GE(Clock::now() - start, timeout);  // rounded up, never down
  }
}

TEST_P(SelectorTest, ManyHoursTimeoutStillReturnsAtOnceWhenReady) {
  Pipe p;
  sel->register_fd(p.w, EVENT_WRITE);
  const auto start = Clock::now();
  // The last: what the loop asks for when its only timer is a deadline that never comes.
  for (auto timeout : {std::chrono::nanoseconds(10h), std::chrono::nanoseconds(24h * 400),
                       std::chrono::nanoseconds::max() - Clock::now().time_since_epoch()}) {
    auto ready = sel->select(timeout);  // no overflow into a negative or zero wait
    ASSERT_EQ(ready.size(), 1u);
    EXPECT_EQ(ready[0].key.fd, p.w);
  }
  EXPECT_LT(Clock::now() - start, 1s);
}

TEST_P(SelectorTest, NoTimeoutWaitsUntilAnotherThreadMakesAnFdReady) {
  Pipe p, watchdog;
  sel->register_fd(p.r, EVENT_READ);
  sel->register_fd(watchdog.r, EVENT_READ);
  std::binary_semaphore returned{0};
  std::thread writer([&] {
    ASSERT_EQ(::write(p.w, "x", 1), 1);
    // Ends a wait that has not noticed the write 10 s later, which then fails the test.
    if (!returned.try_acquire_for(10s)) {
      ASSERT_EQ(::write(watchdog.w, "!", 1), 1);
    }
  });
  auto ready = sel->select(std::nullopt);
  returned.release();
  writer.join();
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].key.fd, p.r) << "select() was still waiting 10 s after the fd became ready";
}

TEST_P(SelectorTest, ModifyChangesEventsAndData) {
  Pipe p;
  sel->register_fd(p.w, EVENT_READ);
  EXPECT_TRUE(sel->select(0ns).empty());
  int tag = 0;
  sel->modify(p.w, EVENT_WRITE, &tag);
  auto ready = sel->select(0ns);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].key.data, &tag);
  EXPECT_EQ(sel->get_key(p.w)->events, EVENT_WRITE);
}

TEST_P(SelectorTest, PeerCloseWakesTheReaderOfAPipe) {
  Pipe p;
  sel->register_fd(p.r, EVENT_READ);
  p.w.close();
  auto ready = sel->select(1s);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].events, EVENT_READ);
}

TEST_P(SelectorTest, HangUpOrErrorWakesReaderAndWriter) {
  SocketPair s;
  sel->register_fd(s.a, EVENT_READ | EVENT_WRITE);
  s.b.close();
  auto ready = sel->select(1s);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].events, EVENT_READ | EVENT_WRITE);
}

TEST_P(SelectorTest, Errors) {
  Pipe p;
  EXPECT_THROW(sel->register_fd(p.r, 0), std::invalid_argument);
  EXPECT_THROW(sel->register_fd(p.r, 8), std::invalid_argument);
  EXPECT_THROW(sel->register_fd(-1, EVENT_READ), std::invalid_argument);
  sel->register_fd(p.r, EVENT_READ);
  EXPECT_THROW(sel->register_fd(p.r, EVENT_READ), std::invalid_argument);
  EXPECT_THROW(sel->unregister(p.w), std::invalid_argument);
  EXPECT_THROW(sel->modify(p.w, EVENT_READ), std::invalid_argument);
  EXPECT_THROW(sel->modify(p.r, 0), std::invalid_argument);
  EXPECT_EQ(sel->get_key(p.w), nullptr);
  EXPECT_EQ(sel->unregister(p.r).fd, p.r);
  EXPECT_EQ(sel->size(), 0u);
  EXPECT_TRUE(sel->select(0ns).empty());
}

// A signal handler installed without SA_RESTART makes every blocking wait fail with EINTR.
std::atomic<int> signals_seen{0};
void count_signal(int) { signals_seen.fetch_add(1, std::memory_order_relaxed); }

TEST_P(SelectorTest, SignalStormDuringAWaitIsNeverAnError) {
  struct sigaction action {
  }, old{};
  action.sa_handler = count_signal;
  sigemptyset(&action.sa_mask);
  ASSERT_EQ(::sigaction(SIGUSR1, &action, &old), 0);
  Pipe p;
  sel->register_fd(p.r, EVENT_READ);
  const pthread_t waiter = ::pthread_self();
  std::atomic<bool> done{false};
  std::atomic<int> sent{0};
  signals_seen = 0;
  std::thread storm([&] {
    for (int i = 0; i < 2000 && !done; ++i) {
      ::pthread_kill(waiter, SIGUSR1);
      ++sent;
    }
    ASSERT_EQ(::write(p.w, "x", 1), 1);  // then the fd becomes ready
  });
  // Waits until the fd is ready: interrupted waits come back empty, none throws.
  std::size_t empty_results = 0;
  const auto give_up = Clock::now() + 30s;
  for (;;) {
    const auto& ready = sel->select(10s);
    if (!ready.empty()) {
      EXPECT_EQ(ready[0].key.fd, p.r);
      break;
    }
    ++empty_results;
    if (Clock::now() >= give_up) {
      ADD_FAILURE() << "gave up after 30 s waiting for the pipe to become readable";
      break;
    }
  }
  done = true;
  storm.join();
  ::sigaction(SIGUSR1, &old, nullptr);
  EXPECT_GT(signals_seen.load(), 0);
  // Every empty result was an interrupted wait. (Not compared with signals_seen: pending
  // signals coalesce, and ThreadSanitizer defers handlers.)
  EXPECT_LE(empty_results, static_cast<std::size_t>(sent.load()));
}

TEST_P(SelectorTest, UnregisterAfterTheFdWasClosedIsNotAnError) {
  Pipe p;
  const int fd = p.r;
  sel->register_fd(fd, EVENT_READ);
  p.r.close();
  EXPECT_EQ(sel->unregister(fd).fd, fd);
  EXPECT_EQ(sel->size(), 0u);
}

TEST_P(SelectorTest, RefreshRearmsAnFdWhoseNumberWasReused) {
  // Closing a registered fd drops it from an epoll set; a new fd with the same number is then
  // unknown to the kernel until refresh().
  Pipe p;
  const int fd = p.r;
  sel->register_fd(fd, EVENT_READ);
  p.r.close();
  Pipe q;  // its read end reuses the number
  ASSERT_EQ(static_cast<int>(q.r), fd);
  ASSERT_EQ(::write(q.w, "x", 1), 1);
  sel->refresh(fd);
  auto ready = sel->select(1s);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].key.fd, fd);
}

TEST_P(SelectorTest, CloseForgetsEverything) {
  Pipe p;
  sel->register_fd(p.r, EVENT_READ);
  sel->close();
  EXPECT_EQ(sel->size(), 0u);
  EXPECT_EQ(sel->get_key(p.r), nullptr);
}

TEST(SelectSelector, RefusesAnFdAtOrAboveFdSetsize) {
  SelectSelector sel;
  Pipe p;
  // A soft limit of 1024 descriptors (a common default) would forbid the fd this test needs.
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  if (saved.rlim_cur <= FD_SETSIZE && saved.rlim_max > FD_SETSIZE) {
    rlimit raised = saved;
    raised.rlim_cur = FD_SETSIZE + 1;
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &raised), 0);
  }
  struct Restore {
    rlimit limit;
    ~Restore() { ::setrlimit(RLIMIT_NOFILE, &limit); }
  } restore{saved};
  const int high = ::fcntl(p.r, F_DUPFD_CLOEXEC, FD_SETSIZE);
  if (high < 0) GTEST_SKIP() << "cannot open an fd >= FD_SETSIZE here (RLIMIT_NOFILE)";
  asyncio_test::Fd guard(high);
  try {
    sel.register_fd(high, EVENT_READ);
    FAIL() << "registered fd " << high;
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("FD_SETSIZE"), std::string::npos);
  }
  EXPECT_EQ(sel.size(), 0u);
  // Nothing was written out of bounds, and the selector still works.
  sel.register_fd(p.w, EVENT_WRITE);
  EXPECT_EQ(sel.select(0ns).size(), 1u);
}

TEST(SelectSelector, AnFdClosedWhileRegisteredIsReportedInsteadOfFailingEveryWait) {
  SelectSelector sel;
  Pipe p, q;
  const int fd = p.r;
  sel.register_fd(fd, EVENT_READ);
  sel.register_fd(q.r, EVENT_READ);
  p.r.close();
  auto ready = sel.select(1s);  // select(2) itself fails with EBADF
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].key.fd, fd);
  sel.unregister(fd);
  EXPECT_TRUE(sel.select(0ns).empty());
}

/// Registers the pipe's read end for reading, then closes it behind the selector's back;
/// returns its number.
int registered_then_closed(Selector& sel, Pipe& p) {
  const int fd = p.r;
  sel.register_fd(fd, EVENT_READ);
  p.r.close();
  return fd;
}

TEST(PollSelector, AnFdClosedWhileRegisteredIsReportedAsReady) {
  PollSelector sel;
  Pipe p;
  const int fd = registered_then_closed(sel, p);
  auto ready = sel.select(1s);  // POLLNVAL
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].key.fd, fd);
}

TEST(EpollSelector, RegisteringAnFdThatIsNotOpenIsAnOsError) {
  EpollSelector sel;
  try {
    sel.register_fd(1000, EVENT_READ);
    FAIL();
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EBADF);
  }
  EXPECT_EQ(sel.size(), 0u);  // the failed registration left no key behind
}

TEST(EpollSelector, AModifyTheKernelRefusesDropsTheKey) {
  EpollSelector sel;
  Pipe p;
  const int fd = registered_then_closed(sel, p);  // epoll forgot it
  try {
    sel.modify(fd, EVENT_READ | EVENT_WRITE);
    FAIL();
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EBADF);
  }
  EXPECT_EQ(sel.get_key(fd), nullptr);  // as Python's: unregistered, so the number is free again
  EXPECT_EQ(sel.size(), 0u);
}

TEST(EpollSelector, UnregisteringAnFdWhoseNumberARegularFileTookIsNoError) {
  EpollSelector sel;
  Pipe p;
  const int fd = registered_then_closed(sel, p);
  const int file = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);  // the lowest free number
  ASSERT_EQ(file, fd);
  EXPECT_NO_THROW(sel.unregister(fd));  // epoll_ctl says EPERM: a file epoll cannot watch
  EXPECT_EQ(sel.size(), 0u);
  ::close(file);
}

TEST(MakeSelector, ByNameAndFromTheEnvironment) {
  EXPECT_NE(dynamic_cast<SelectSelector*>(make_selector("select").get()), nullptr);
  EXPECT_NE(dynamic_cast<PollSelector*>(make_selector("poll").get()), nullptr);
  EXPECT_NE(dynamic_cast<EpollSelector*>(make_selector("epoll").get()), nullptr);
  EXPECT_THROW(make_selector("kqueue"), std::invalid_argument);

  const char* saved = std::getenv("ASYNCIO_SELECTOR");
  const std::string restore = saved ? saved : "";
  ::setenv("ASYNCIO_SELECTOR", "poll", 1);
  EXPECT_NE(dynamic_cast<PollSelector*>(make_default_selector().get()), nullptr);
  ::setenv("ASYNCIO_SELECTOR", "bogus", 1);
  EXPECT_THROW(make_default_selector(), std::invalid_argument);
  ::setenv("ASYNCIO_SELECTOR", "", 1);
  EXPECT_NE(dynamic_cast<DefaultSelector*>(make_default_selector().get()), nullptr);
  if (saved)
    ::setenv("ASYNCIO_SELECTOR", restore.c_str(), 1);
  else
    ::unsetenv("ASYNCIO_SELECTOR");
}

TEST(EventLoop, WaitsOnTheSelectorItIsGiven) {
  auto selector = std::make_unique<PollSelector>();
  PollSelector* raw = selector.get();
  asyncio::EventLoop loop(std::move(selector));
  EXPECT_EQ(&loop.selector(), raw);
}

}  // namespace
