// The io_uring backend's own behaviour (the rest of the suite runs on it with
// ASYNCIO_SELECTOR=io_uring): choosing it, falling back, cancelling requests in flight (a task
// cancelled, a loop closed, a transport closed: the kernel never writes into memory that was
// given back, and what it did not receive stays in the socket), more requests than ring
// entries, a drained buffer ring, short sends, and a peer that resets the connection.
#include <sys/socket.h>

#include <array>
#include <cstdlib>
#include <numeric>
#include <thread>

#include "support/asyncio_test.hpp"
#include "support/fds.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio_test::Fd;
using asyncio_test::Listener;
using asyncio_test::make_socket;
using asyncio_test::SocketPair;

namespace {

/// A fixture whose loop is on io_uring (the test is skipped where the kernel refuses it).
struct UringTest : asyncio_test::LoopFixture {
  void SetUp() override { use(asyncio::IoUringOptions{}); }

  void use(const asyncio::IoUringOptions& options) {
    loop->close();
    loop = asyncio::new_event_loop(options);
    record_reports();
    if (loop->backend_name() != "io_uring") GTEST_SKIP() << "io_uring is not available here";
  }

  /// `fd`'s bytes that a plain non-blocking recv(2) finds now.
  static std::string pending_bytes(int fd) {
    char buffer[256];
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
    return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
  }
};

/// Restores ASYNCIO_SELECTOR when it goes.
struct SelectorVariable {
  std::optional<std::string> saved;
  SelectorVariable() {
    if (const char* value = std::getenv("ASYNCIO_SELECTOR")) saved = value;
  }
  ~SelectorVariable() {
    if (saved)
      ::setenv("ASYNCIO_SELECTOR", saved->c_str(), 1);
    else
      ::unsetenv("ASYNCIO_SELECTOR");
  }
};

TEST_F(UringTest, ChosenByOptionsOrByTheEnvironmentAndHasNoSelector) {
  EXPECT_EQ(loop->backend_name(), "io_uring");
  EXPECT_THROW(loop->selector(), asyncio::RuntimeError);
  SelectorVariable restore;
  ::setenv("ASYNCIO_SELECTOR", "io_uring", 1);
  EXPECT_EQ(asyncio::new_event_loop()->backend_name(), "io_uring");
  // A selector given explicitly wins; the selectors module knows no io_uring selector.
  EXPECT_EQ(asyncio::new_event_loop(asyncio::selectors::make_selector("poll"))->backend_name(),
            "poll");
  EXPECT_EQ(asyncio::EventLoop(asyncio::selectors::make_default_selector()).backend_name(),
            "epoll");
  ::setenv("ASYNCIO_SELECTOR", "epoll", 1);
  EXPECT_EQ(asyncio::new_event_loop()->backend_name(), "epoll");
}

TEST_F(UringTest, ARefusedRingFallsBackToEpollAndSaysSoInDebugMode) {
  auto refused = asyncio::new_event_loop(asyncio::IoUringOptions{.entries = 0});  // EINVAL
  EXPECT_EQ(refused->backend_name(), "epoll");
  testing::internal::CaptureStderr();
  refused->set_debug(true);
  refused->set_debug(true);  // said once
  const std::string said = testing::internal::GetCapturedStderr();
  EXPECT_EQ(said,
            "asyncio: io_uring is not available here (Invalid argument): this loop uses "
            "epoll\n");
  // It works as any epoll loop.
  SocketPair pair;
  ASSERT_EQ(::send(pair.b, "x", 1, 0), 1);
  EXPECT_EQ(refused->run_until_complete(refused->sock_recv(pair.a, 10)), "x");
}

TEST_F(UringTest, ACancelledReceiveLeavesTheBytesInTheSocket) {
  SocketPair pair;
  std::array<std::byte, 64> buffer{};
  asyncio::Task<std::size_t> receiving = loop->create_task(loop->sock_recv_into(pair.a, buffer));
  run_iterations(3);  // the receive is in the kernel
  EXPECT_FALSE(receiving.done());
  receiving.cancel();
  EXPECT_TRUE(run(asyncio_test::throws<asyncio::CancelledError>(receiving)));
  EXPECT_TRUE(receiving.cancelled());
  // The request is gone from the kernel: what comes now is not taken by it.
  ASSERT_EQ(::send(pair.b, "after", 5, 0), 5);
  EXPECT_EQ(pending_bytes(pair.a), "after");
  EXPECT_EQ(buffer[0], std::byte{0});
}

TEST_F(UringTest, AClosedLoopCancelsItsRequestsBeforeTheirFramesGo) {
  std::vector<SocketPair> pairs(8);
  for (SocketPair& pair : pairs) {
    // Each task's buffer lives in its frame, which the closing loop destroys.
    loop->create_task([](asyncio::EventLoop& loop, int fd) -> Coro<std::string> {
      std::array<std::byte, 4096> buffer{};
      const std::size_t n = co_await loop.sock_recv_into(fd, buffer);
      co_return std::string(reinterpret_cast<const char*>(buffer.data()), n);
    }(*loop, pair.a));
  }
  run_iterations(3);
  loop->close();  // frames destroyed with their receives in flight
  for (SocketPair& pair : pairs) {
    ASSERT_EQ(::send(pair.b, "still here", 10, 0), 10);
    EXPECT_EQ(pending_bytes(pair.a), "still here");
  }
}

/// A protocol that keeps what it receives and how the connection ended.
struct Collector : asyncio::Protocol {
  std::shared_ptr<asyncio::Transport> transport;
  std::string received;
  bool eof = false, lost = false;
  std::exception_ptr lost_with;
  void connection_made(std::shared_ptr<asyncio::Transport> t) override { transport = std::move(t); }
  void data_received(std::string_view data) override { received += data; }
  bool eof_received() override {
    eof = true;
    return false;
  }
  void connection_lost(std::exception_ptr error) override {
    lost = true;
    lost_with = std::move(error);
  }
};

TEST_F(UringTest, ATransportClosedWithItsReceiveInFlightEndsTheConnection) {
  SocketPair pair;
  auto collector = run([&]() -> Coro<std::shared_ptr<Collector>> {
    auto [transport, protocol] = co_await asyncio::connect_accepted_socket(
        [] { return std::make_shared<Collector>(); }, pair.a.release());
    co_return protocol;
  }());
  run_iterations(2);  // its receive is in the kernel
  collector->transport->close();
  run_iterations(2);
  EXPECT_TRUE(collector->lost);
  char byte;
  EXPECT_EQ(::recv(pair.b, &byte, 1, MSG_DONTWAIT), 0);  // the peer sees the end at once
  // And abort() with bytes arriving meanwhile.
  SocketPair other;
  auto second = run([&]() -> Coro<std::shared_ptr<Collector>> {
    auto [transport, protocol] = co_await asyncio::connect_accepted_socket(
        [] { return std::make_shared<Collector>(); }, other.a.release());
    co_return protocol;
  }());
  run_iterations(2);
  ASSERT_EQ(::send(other.b, "late", 4, 0), 4);
  second->transport->abort();
  run_iterations(3);
  EXPECT_TRUE(second->lost);
  EXPECT_EQ(second->received, "");
}

TEST_F(UringTest, MoreRequestsThanRingEntriesAllComplete) {
  use({.entries = 4});
  constexpr int count = 64;
  std::vector<SocketPair> pairs(count);
  auto all = [&]() -> Coro<std::vector<std::string>> {
    std::vector<asyncio::Task<std::string>> tasks;
    for (SocketPair& pair : pairs) tasks.push_back(loop->create_task(loop->sock_recv(pair.a, 64)));
    co_await asyncio::sleep(0ms);  // 64 receives submitted through a queue of 4
    for (int i = 0; i < count; ++i)
      co_await loop->sock_sendall(pairs[i].b, "message " + std::to_string(i));
    std::vector<std::string> got;
    for (auto& task : tasks) got.push_back(co_await task);
    co_return got;
  };
  const std::vector<std::string> got = run(all());
  for (int i = 0; i < count; ++i) EXPECT_EQ(got[i], "message " + std::to_string(i));
}

TEST_F(UringTest, ADrainedBufferRingLosesNothing) {
  // Two buffers of 64 bytes for eight connections that each get 10,000 bytes at once: the
  // multishot receives keep ending with ENOBUFS and must start again.
  use({.receive_buffers = 2, .receive_buffer_size = 64});
  constexpr int count = 8;
  std::vector<SocketPair> pairs(count);
  std::vector<std::shared_ptr<Collector>> collectors;
  std::vector<std::string> sent;
  run([&]() -> Coro<void> {
    for (SocketPair& pair : pairs) {
      auto [transport, protocol] = co_await asyncio::connect_accepted_socket(
          [] { return std::make_shared<Collector>(); }, pair.a.release());
      collectors.push_back(protocol);
    }
    for (int i = 0; i < count; ++i) {
      std::string data(10'000, '\0');
      for (std::size_t j = 0; j < data.size(); ++j) data[j] = static_cast<char>('a' + (i + j) % 26);
      EXPECT_EQ(::send(pairs[i].b, data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
      ::shutdown(pairs[i].b, SHUT_WR);
      sent.push_back(std::move(data));
    }
    co_await asyncio_test::wait_until(
        [&] {
          return std::all_of(collectors.begin(), collectors.end(), [](auto& c) { return c->eof; });
        },
        10s, "every connection's EOF");
  }());
  for (int i = 0; i < count; ++i) EXPECT_EQ(collectors[i]->received, sent[i]) << i;
}

TEST_F(UringTest, ShortSendsStillSendEverything) {
  SocketPair pair;
  int small = 4096;
  ASSERT_EQ(::setsockopt(pair.b, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  std::string payload(4 << 20, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7 % 251);
  auto reader = [&]() -> Coro<std::string> {
    std::string got;
    while (got.size() < payload.size()) {
      std::string chunk = co_await loop->sock_recv(pair.a, 1000);  // slower than the sender
      if (chunk.empty()) break;
      got += chunk;
    }
    co_return got;
  };
  auto both = [&]() -> Coro<std::string> {
    auto [_, got] = co_await asyncio::gather(loop->sock_sendall(pair.b, payload), reader());
    co_return got;
  };
  EXPECT_TRUE(run(both()) == payload);
}

/// Resets the TCP connection `fd` (SO_LINGER 0, then close): the peer gets ECONNRESET.
void reset(Fd& fd) {
  linger hard{1, 0};
  ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard), 0);
  fd = Fd();
}

TEST_F(UringTest, APeerResetMidReceiveIsConnectionReset) {
  Listener listener("127.0.0.1");
  auto scenario = [&]() -> Coro<int> {
    Fd client = make_socket(AF_INET);
    co_await loop->sock_connect(client, listener.address);
    auto [accepted, _] = co_await loop->sock_accept(listener.fd);
    Fd server(accepted);
    asyncio::Task<std::string> receiving = loop->create_task(loop->sock_recv(server, 100));
    co_await asyncio::sleep(0ms);  // the receive goes to the kernel
    reset(client);
    try {
      co_await receiving;
    } catch (const std::system_error& error) {
      co_return error.code().value();
    }
    co_return 0;
  };
  EXPECT_EQ(run(scenario()), ECONNRESET);
}

TEST_F(UringTest, APeerResetLosesATransportsConnectionWithConnectionReset) {
  Listener listener("127.0.0.1");
  auto scenario = [&]() -> Coro<std::shared_ptr<Collector>> {
    Fd client = make_socket(AF_INET);
    co_await loop->sock_connect(client, listener.address);
    auto [accepted, _] = co_await loop->sock_accept(listener.fd);
    auto [transport, protocol] = co_await asyncio::connect_accepted_socket(
        [] { return std::make_shared<Collector>(); }, accepted);
    co_await asyncio::sleep(0ms);  // its receive goes to the kernel
    reset(client);
    co_await asyncio_test::wait_until([&] { return protocol->lost; }, 10s, "connection_lost");
    co_return protocol;
  };
  std::shared_ptr<Collector> collector = run(scenario());
  ASSERT_TRUE(collector->lost_with);
  try {
    std::rethrow_exception(collector->lost_with);
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code().value(), ECONNRESET);
  }
}

/// 64 KiB of a repeating pattern: what a peer sent before the transport started to receive.
std::string pattern_of_64_kib() {
  std::string data(64 * 1024, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + i % 23);
  return data;
}

/// A connected TCP socket whose peer already sent `data` (the server's end, accepted), and the
/// peer: what the kernel holds before the transport's first receive.
std::pair<Fd, Fd> accepted_with_bytes_waiting(const std::string& data) {
  Listener listener("127.0.0.1");
  Fd client = make_socket(AF_INET);
  if (::connect(client, listener.address.data(), listener.address.size()) != 0 &&
      errno != EINPROGRESS) {
    ADD_FAILURE() << "connect: " << errno;
  }
  Fd server(::accept4(listener.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
  std::size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(client, data.data() + sent, data.size() - sent, 0);
    if (n <= 0) {
      ADD_FAILURE() << "send: " << errno;
      break;
    }
    sent += static_cast<std::size_t>(n);
  }
  return {std::move(server), std::move(client)};
}

// One read's bytes fill several of the ring's buffers, one completion each; the kernel says in
// all but the last that the socket had more. They reach the protocol as one read, as a recv(2)
// on epoll gives them: one data_received (an echo answers with one send, not sixteen).
TEST_F(UringTest, AReadThatFillsSeveralBuffersReachesAProtocolAsOne) {
  use({.receive_buffer_size = 4096});
  const std::string data = pattern_of_64_kib();  // 16 buffers
  auto [server, client] = accepted_with_bytes_waiting(data);
  struct Counter : Collector {
    int calls = 0;
    void data_received(std::string_view bytes) override {
      ++calls;
      Collector::data_received(bytes);
    }
  };
  auto counter = run([&, fd = server.release()]() -> Coro<std::shared_ptr<Counter>> {
    auto [transport, protocol] =
        co_await asyncio::connect_accepted_socket([] { return std::make_shared<Counter>(); }, fd);
    co_await asyncio_test::wait_until([&] { return protocol->received.size() >= data.size(); }, 10s,
                                      "64 KiB");
    co_return protocol;
  }());
  EXPECT_EQ(counter->received, data);
  EXPECT_EQ(counter->calls, 1);
}

// The same for a BufferedProtocol: as few get_buffer/buffer_updated rounds as its buffer allows
// (seven of 10,000 bytes for 64 KiB, not one per ring buffer), the bytes in order.
TEST_F(UringTest, AReadThatFillsSeveralBuffersFillsABufferedProtocolsBufferWhole) {
  use({.receive_buffer_size = 4096});
  const std::string data = pattern_of_64_kib();
  auto [server, client] = accepted_with_bytes_waiting(data);
  struct SmallBuffer : asyncio::BufferedProtocol {
    std::array<char, 10'000> buffer;
    std::string received;
    int rounds = 0;
    std::span<char> get_buffer(std::size_t) override { return buffer; }
    void buffer_updated(std::size_t n) override {
      ++rounds;
      received.append(buffer.data(), n);
    }
  };
  auto small = run([&, fd = server.release()]() -> Coro<std::shared_ptr<SmallBuffer>> {
    auto [transport, protocol] = co_await asyncio::connect_accepted_socket(
        [] { return std::make_shared<SmallBuffer>(); }, fd);
    co_await asyncio_test::wait_until([&] { return protocol->received.size() >= data.size(); }, 10s,
                                      "64 KiB");
    transport->close();
    co_return protocol;
  }());
  EXPECT_EQ(small->received, data);
  EXPECT_EQ(small->rounds, 7);
}

// A single-thread ring (asyncio::run's loop on io_uring) produces completions only when the
// loop enters the kernel for them: a loop that never waits, because a task always yields,
// must still enter when the kernel has some, or the receive below would never complete.
TEST_F(UringTest, ASingleThreadRingCompletesWhileTheLoopNeverWaits) {
  use({.single_thread = true});
  SocketPair pair;
  const int limit = 1'000'000;
  const int spins = run([&]() -> Coro<int> {
    asyncio::Task<std::string> receiving = loop->create_task(loop->sock_recv(pair.a, 100));
    int n = 0;
    while (!receiving.done() && n < limit) {
      co_await asyncio::sleep(0s);
      // The bytes come once the receive waits in the kernel: its completion is then work the
      // kernel defers to the loop's next entry.
      if (++n == 100) {
        EXPECT_EQ(::send(pair.b, "ping", 4, 0), 4);
      }
    }
    EXPECT_EQ(co_await receiving, "ping");
    co_return n;
  }());
  EXPECT_LT(spins, limit);
}

// The kernel lets only the thread that made a single-thread ring use it: run from another, the
// loop says so instead of failing in the kernel, and stays usable on its own thread.
TEST_F(UringTest, ASingleThreadLoopRunOnAnotherThreadRaisesRuntimeError) {
  use({.single_thread = true});
  std::string error;
  std::thread other([&] {
    try {
      loop->run_until_complete([]() -> Coro<void> { co_await asyncio::sleep(0s); }());
    } catch (const asyncio::RuntimeError& e) {
      error = e.what();
    }
  });
  other.join();
  EXPECT_NE(error.find("single-thread"), std::string::npos) << error;
  EXPECT_EQ(run([]() -> Coro<int> {
              co_await asyncio::sleep(1ms);
              co_return 7;
            }()),
            7);
}

TEST_F(UringTest, PausedReadingHoldsWhatArrivesAndHandsItOverOnResume) {
  SocketPair pair;
  struct Pauser : Collector {
    int calls_while_paused = 0;
    void data_received(std::string_view data) override {
      calls_while_paused += !transport->is_reading();
      Collector::data_received(data);
      transport->pause_reading();
    }
  };
  auto pauser = run([&]() -> Coro<std::shared_ptr<Pauser>> {
    auto [transport, protocol] = co_await asyncio::connect_accepted_socket(
        [] { return std::make_shared<Pauser>(); }, pair.a.release());
    co_return protocol;
  }());
  std::string sent;
  for (int i = 0; i < 200; ++i) {
    const std::string piece = "piece " + std::to_string(i) + ";";
    ASSERT_EQ(::send(pair.b, piece.data(), piece.size(), 0), static_cast<ssize_t>(piece.size()));
    sent += piece;
    run_iterations(1);
  }
  ::shutdown(pair.b, SHUT_WR);
  run([&]() -> Coro<void> {
    while (!pauser->eof) {
      pauser->transport->resume_reading();
      co_await asyncio::sleep(0ms);
      co_await asyncio::sleep(0ms);
    }
  }());
  EXPECT_EQ(pauser->received, sent);
  EXPECT_EQ(pauser->calls_while_paused, 0);
}

}  // namespace
