// selectors::EpollSelector on real pipes: register / modify / unregister, readiness, timeouts
// and errors.
#include <fcntl.h>
#include <unistd.h>

#include <system_error>

#include "support/asyncio_test.hpp"

using namespace std::chrono_literals;
using namespace asyncio::selectors;

namespace {

struct Pipe {
  int r = -1, w = -1;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category());
    r = fds[0];
    w = fds[1];
  }
  ~Pipe() {
    if (r >= 0) ::close(r);
    if (w >= 0) ::close(w);
  }
};

TEST(EpollSelector, ReportsReadinessWithTheKeyData) {
  EpollSelector sel;
  Pipe p;
  int tag = 0;
  sel.register_fd(p.r, EVENT_READ, &tag);
  sel.register_fd(p.w, EVENT_WRITE);
  EXPECT_EQ(sel.size(), 2u);

  auto ready = sel.select(0ns);
  ASSERT_EQ(ready.size(), 1u);  // only the write end is ready
  EXPECT_EQ(ready[0].key.fd, p.w);
  EXPECT_EQ(ready[0].events, EVENT_WRITE);

  ASSERT_EQ(::write(p.w, "x", 1), 1);
  sel.unregister(p.w);
  ready = sel.select(1s);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].key.fd, p.r);
  EXPECT_EQ(ready[0].key.data, &tag);
  EXPECT_EQ(ready[0].events, EVENT_READ);
}

TEST(EpollSelector, TimeoutWithNothingReady) {
  EpollSelector sel;
  Pipe p;
  sel.register_fd(p.r, EVENT_READ);
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(sel.select(5ms).empty());
  EXPECT_GE(std::chrono::steady_clock::now() - start, 5ms);
  EXPECT_TRUE(sel.select(0ns).empty());
  EXPECT_TRUE(sel.select(std::chrono::nanoseconds(1)).empty());  // under a millisecond
}

TEST(EpollSelector, ModifyChangesEventsAndData) {
  EpollSelector sel;
  Pipe p;
  sel.register_fd(p.w, EVENT_READ);
  EXPECT_TRUE(sel.select(0ns).empty());
  int tag = 0;
  sel.modify(p.w, EVENT_WRITE, &tag);
  auto ready = sel.select(0ns);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].key.data, &tag);
  EXPECT_EQ(sel.get_key(p.w)->events, EVENT_WRITE);
}

TEST(EpollSelector, PeerCloseWakesTheReader) {
  EpollSelector sel;
  Pipe p;
  sel.register_fd(p.r, EVENT_READ);
  ::close(p.w);
  p.w = -1;
  auto ready = sel.select(1s);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].events, EVENT_READ);
}

TEST(EpollSelector, Errors) {
  EpollSelector sel;
  Pipe p;
  EXPECT_THROW(sel.register_fd(p.r, 0), std::invalid_argument);
  EXPECT_THROW(sel.register_fd(p.r, 8), std::invalid_argument);
  EXPECT_THROW(sel.register_fd(-1, EVENT_READ), std::invalid_argument);
  sel.register_fd(p.r, EVENT_READ);
  EXPECT_THROW(sel.register_fd(p.r, EVENT_READ), std::invalid_argument);
  EXPECT_THROW(sel.unregister(p.w), std::invalid_argument);
  EXPECT_THROW(sel.modify(p.w, EVENT_READ), std::invalid_argument);
  try {
    sel.register_fd(1000, EVENT_READ);  // not an open fd
    FAIL();
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EBADF);
  }
  EXPECT_EQ(sel.get_key(p.w), nullptr);
  EXPECT_EQ(sel.unregister(p.r).fd, p.r);
  EXPECT_EQ(sel.size(), 0u);
}

TEST(EpollSelector, TheLoopWaitsOnTheSelectorItIsGiven) {
  auto selector = std::make_unique<EpollSelector>();
  EpollSelector* raw = selector.get();
  asyncio::EventLoop loop(std::move(selector));
  EXPECT_EQ(&loop.selector(), raw);
}

}  // namespace
