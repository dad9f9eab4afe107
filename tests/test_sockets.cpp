// The loop's socket coroutines on real loopback sockets (IPv4, IPv6, Unix, UDP): connect,
// accept, send and receive, datagrams, errors as std::system_error with errno, and no SIGPIPE.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <numeric>

#include "asyncio/detail/syscall.hpp"
#include "support/asyncio_test.hpp"
#include "support/fds.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio::SocketAddress;
using asyncio_test::Fd;
using asyncio_test::Listener;
using asyncio_test::make_socket;
using asyncio_test::Pipe;
using asyncio_test::SocketPair;

namespace {

struct SocketTest : asyncio_test::LoopFixture {
  /// Runs `coro` to completion; the errno of the std::system_error it fails with, else 0.
  template <class T>
  int errno_of(Coro<T> coro) {
    try {
      loop->run_until_complete(std::move(coro));
    } catch (const std::system_error& error) {
      return error.code().value();
    }
    return 0;
  }
};

// A client sends `size` bytes through a TCP connection to `host`; the server echoes the total.
void tcp_round_trip(asyncio::EventLoop& loop, const char* host, std::size_t size) {
  Listener listener(host);
  std::string payload(size, '\0');
  for (std::size_t i = 0; i < size; ++i) payload[i] = static_cast<char>('a' + i % 26);

  auto server = [&]() -> Coro<std::string> {
    auto [conn_fd, peer] = co_await loop.sock_accept(listener.fd);
    Fd conn(conn_fd);
    EXPECT_EQ(peer.host(), host);
    std::string received;
    for (;;) {
      std::string chunk = co_await loop.sock_recv(conn, 65536);
      if (chunk.empty()) break;
      received += chunk;
    }
    co_await loop.sock_sendall(conn, "got " + std::to_string(received.size()));
    co_return received;
  };
  auto client = [&]() -> Coro<std::string> {
    Fd fd = make_socket(listener.address.family());
    co_await loop.sock_connect(fd, listener.address);
    co_await loop.sock_sendall(fd, payload);
    ::shutdown(fd, SHUT_WR);
    std::string reply;
    std::array<std::byte, 64> buffer;
    for (;;) {
      const std::size_t n = co_await loop.sock_recv_into(fd, buffer);
      if (n == 0) break;
      reply.append(reinterpret_cast<const char*>(buffer.data()), n);
    }
    co_return reply;
  };
  auto both = [&]() -> Coro<std::tuple<std::string, std::string>> {
    co_return co_await asyncio::gather(server(), client());
  };
  auto [received, reply] = loop.run_until_complete(both());
  EXPECT_EQ(received, payload);
  EXPECT_EQ(reply, "got " + std::to_string(size));
}

TEST_F(SocketTest, TcpOverIpv4SmallAndLargerThanTheSocketBuffers) {
  tcp_round_trip(*loop, "127.0.0.1", 100);
  tcp_round_trip(*loop, "127.0.0.1", 8 << 20);  // sendall waits for writability many times
}

TEST_F(SocketTest, TcpOverIpv6) {
  Fd probe(::socket(AF_INET6, SOCK_STREAM, 0));
  const SocketAddress any6 = SocketAddress::ip("::1", 0);
  if (probe < 0 || ::bind(probe, any6.data(), any6.size()) != 0)
    GTEST_SKIP() << "no IPv6 loopback here";
  tcp_round_trip(*loop, "::1", 100'000);
}

TEST_F(SocketTest, UnixStreamAndUdpDatagrams) {
  SocketPair s;
  auto stream = [&]() -> Coro<std::string> {
    co_await loop->sock_sendall(s.a, "hello");
    co_return co_await loop->sock_recv(s.b, 100);
  };
  EXPECT_EQ(loop->run_until_complete(stream()), "hello");

  Fd receiver = make_socket(AF_INET, SOCK_DGRAM), sender = make_socket(AF_INET, SOCK_DGRAM);
  const SocketAddress local = SocketAddress::ip("127.0.0.1", 0);
  ASSERT_EQ(::bind(receiver, local.data(), local.size()), 0);
  ASSERT_EQ(::bind(sender, local.data(), local.size()), 0);
  const SocketAddress to = SocketAddress::local_of(receiver);
  auto datagrams = [&]() -> Coro<void> {
    auto receive = [&]() -> Coro<std::pair<std::string, SocketAddress>> {
      co_return co_await loop->sock_recvfrom(receiver, 100);
    };
    auto pending = asyncio::create_task(receive());  // waits: nothing sent yet
    co_await asyncio::sleep(0s);
    const std::size_t sent = co_await loop->sock_sendto(sender, "ping", to);
    EXPECT_EQ(sent, 4u);
    auto [data, from] = co_await pending;
    EXPECT_EQ(data, "ping");
    EXPECT_EQ(from, SocketAddress::local_of(sender));
  };
  loop->run_until_complete(datagrams());
}

// CPython's test_sock_client_racing: once the task that calls sock_connect has taken a step,
// the connection is under way, so a peer waiting for it outside the loop (here, the test itself,
// in a blocking wait for the listener, as CPython's test does) gets it; on io_uring too, where
// the request would otherwise wait for the loop's next poll.
TEST_F(SocketTest, SockConnectIsUnderWayOnceItsTaskTookAStep) {
  Listener listener;
  auto body = [&]() -> Coro<bool> {
    Fd fd = make_socket();
    auto connecting = asyncio::create_task(loop->sock_connect(fd, listener.address));
    co_await asyncio::sleep(0s);
    pollfd incoming{listener.fd, POLLIN, 0};
    const bool arrived = ::poll(&incoming, 1, 5000) == 1;  // blocks the loop, as CPython's test
    co_await connecting;
    co_return arrived;
  };
  EXPECT_TRUE(loop->run_until_complete(body()));
}

TEST_F(SocketTest, ConnectionRefusedIsASystemError) {
  Listener listener;
  const SocketAddress address = listener.address;
  listener.fd.close();  // nobody listens there any more
  auto connect = [&]() -> Coro<void> {
    Fd fd = make_socket();
    co_await loop->sock_connect(fd, address);
  };
  EXPECT_EQ(errno_of(connect()), ECONNREFUSED);
}

TEST_F(SocketTest, OsErrorsCarryErrno) {
  auto recv_bad = [&]() -> Coro<std::string> { co_return co_await loop->sock_recv(-1, 10); };
  EXPECT_EQ(errno_of(recv_bad()), EBADF);
  EXPECT_THROW(SocketAddress::ip("localhost", 80), std::invalid_argument);
}

TEST_F(SocketTest, DebugModeRefusesABlockingSocket) {
  loop->set_debug(true);
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  Fd a(fds[0]), b(fds[1]);
  auto recv = [&]() -> Coro<std::string> { co_return co_await loop->sock_recv(a, 10); };
  EXPECT_THROW(loop->run_until_complete(recv()), std::invalid_argument);
}

TEST_F(SocketTest, CancelledRecvLeavesTheSocketUnwatchedAndLosesNoData) {
  SocketPair s;
  auto recv = [&]() -> Coro<std::string> { co_return co_await loop->sock_recv(s.a, 10); };
  auto task = loop->create_task(recv());
  run_iterations(2);
  task.cancel();
  EXPECT_THROW(loop->run_until_complete(task), asyncio::CancelledError);
  EXPECT_EQ(::write(s.b, "data", 4), 4);
  EXPECT_EQ(loop->run_until_complete(recv()), "data");
}

// --- SIGPIPE ----------------------------------------------------------------------------------

bool sigpipe_is_default() {
  struct sigaction current {};
  ::sigaction(SIGPIPE, nullptr, &current);
  return current.sa_handler == SIG_DFL;
}

bool sigpipe_pending() {
  sigset_t pending;
  sigpending(&pending);
  return sigismember(&pending, SIGPIPE) == 1;
}

TEST_F(SocketTest, WritingToASocketWhosePeerHasGoneIsAnErrorNotSigpipe) {
  ASSERT_TRUE(sigpipe_is_default());  // a SIGPIPE would kill this test program
  SocketPair s;
  s.b.close();
  auto send = [&]() -> Coro<void> { co_await loop->sock_sendall(s.a, "into the void"); };
  const int error = errno_of(send());
  EXPECT_TRUE(error == EPIPE || error == ECONNRESET) << error;
  EXPECT_TRUE(sigpipe_is_default());
  EXPECT_FALSE(sigpipe_pending());
}

// sendfile(2) that sent part of a file before the peer went away returns the count with
// SIGPIPE raised all the same; the call's SIGPIPE is taken back whatever it returned.
TEST_F(SocketTest, ASigpipeRaisedByACallThatSentSomethingIsTakenBack) {
  ASSERT_TRUE(sigpipe_is_default());
  const ssize_t n = asyncio::detail::without_sigpipe([] {
    ::pthread_kill(::pthread_self(), SIGPIPE);  // as the kernel does inside the call
    return ssize_t{6144};
  });
  EXPECT_EQ(n, 6144);
  EXPECT_FALSE(sigpipe_pending());  // (and the program is alive)
}

TEST_F(SocketTest, WritingToAPipeWhoseReaderHasGoneIsAnErrorNotSigpipe) {
  ASSERT_TRUE(sigpipe_is_default());
  Pipe p;
  p.r.close();
  auto send = [&]() -> Coro<void> { co_await loop->sock_sendall(p.w, "into the void"); };
  EXPECT_EQ(errno_of(send()), EPIPE);
  EXPECT_TRUE(sigpipe_is_default());
  EXPECT_FALSE(sigpipe_pending());
}

TEST(SocketAddress, FormatsAndCompares) {
  EXPECT_EQ(SocketAddress::ip("127.0.0.1", 80).to_string(), "127.0.0.1:80");
  EXPECT_EQ(SocketAddress::ip("::1", 443).to_string(), "[::1]:443");
  EXPECT_EQ(SocketAddress::ip("::1", 443).port(), 443);
  EXPECT_EQ(SocketAddress::unix_path("/tmp/x.sock").to_string(), "/tmp/x.sock");
  EXPECT_EQ(SocketAddress::ip("10.0.0.1", 1), SocketAddress::ip("10.0.0.1", 1));
  EXPECT_FALSE(SocketAddress::ip("10.0.0.1", 1) == SocketAddress::ip("10.0.0.1", 2));
  EXPECT_THROW(SocketAddress::unix_path(std::string(200, 'x')), std::invalid_argument);
  EXPECT_EQ(SocketAddress().family(), AF_UNSPEC);
}

}  // namespace
