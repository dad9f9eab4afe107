// Transports and protocols over real loopback sockets and pipes: the callback order Python
// guarantees, BufferedProtocol reading into the protocol's memory, write flow control
// (pause_writing / resume_writing), pause_reading, a callback that throws, eof_received keeping
// the connection open, set_protocol, the loop closing with transports open, pipes,
// connect_accepted_socket, create_connection's errors, local_addr, interleaving and Happy
// Eyeballs; and datagram endpoints (UDP and Unix) with DatagramProtocol.
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "asyncio/detail/connect.hpp"
#include "support/asyncio_test.hpp"
#include "support/fds.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio::Transport;

namespace {

using ProtocolTest = asyncio_test::LoopFixture;

/// Records every callback, in order, as one letter each: m(ade) d(ata) e(of) l(ost) p(ause)
/// r(esume); and keeps what arrived.
struct Recorder : asyncio::Protocol {
  std::string events;
  std::string received;
  std::shared_ptr<Transport> transport;
  std::exception_ptr lost_with;
  bool keep_open_at_eof = false;

  void connection_made(std::shared_ptr<Transport> t) override {
    events += 'm';
    transport = std::move(t);
  }
  void data_received(std::string_view data) override {
    events += 'd';
    received += data;
  }
  bool eof_received() override {
    events += 'e';
    return keep_open_at_eof;
  }
  void connection_lost(std::exception_ptr exc) override {
    events += 'l';
    lost_with = exc;
  }
  void pause_writing() override { events += 'p'; }
  void resume_writing() override { events += 'r'; }
  bool lost() const { return events.find('l') != std::string::npos; }
};

/// Echoes what it receives; at EOF, the transport closes (eof_received returns false).
struct Echo : asyncio::Protocol {
  std::shared_ptr<Transport> transport;
  void connection_made(std::shared_ptr<Transport> t) override { transport = std::move(t); }
  void data_received(std::string_view data) override { transport->write(data); }
};

/// The events with runs of data_received folded into one 'd'.
std::string folded(const std::string& events) {
  std::string out;
  for (char c : events)
    if (c != 'd' || out.empty() || out.back() != 'd') out += c;
  return out;
}

/// A Recorder's transport over one end of a Unix socketpair, and the other end (`peer`), which
/// the test reads and writes directly, and closes.
struct OverSocketpair {
  std::shared_ptr<Transport> transport;
  std::shared_ptr<Recorder> protocol;
  int peer;
};
Coro<OverSocketpair> recorder_over_socketpair() {
  int pair[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  auto [transport, protocol] = co_await asyncio::connect_accepted_socket(
      [] { return std::make_shared<Recorder>(); }, pair[0]);
  co_return OverSocketpair{std::move(transport), std::move(protocol), pair[1]};
}

/// Writes 1,000-byte chunks until `protocol` is paused; gives how many bytes were written.
std::size_t write_until_paused(Transport& transport, const Recorder& protocol) {
  const std::string chunk(1000, 'w');
  std::size_t written = 0;
  while (protocol.events.find('p') == std::string::npos) {
    transport.write(chunk);
    written += chunk.size();
  }
  return written;
}

/// The peer reads `count` bytes, the loop running between its reads.
Coro<void> peer_reads(int peer, std::size_t count) {
  std::size_t drained = 0;
  char sink[65536];
  while (drained < count) {
    const ssize_t n = ::recv(peer, sink, sizeof sink, MSG_DONTWAIT);
    if (n > 0) drained += static_cast<std::size_t>(n);
    co_await asyncio::sleep(0s);
  }
}

Coro<asyncio::Server> echo_server() {
  co_return co_await asyncio::create_server([] { return std::make_shared<Echo>(); }, "127.0.0.1",
                                            0);
}

std::uint16_t port_of(const asyncio::Server& server) { return server.addresses().at(0).port(); }

TEST_F(ProtocolTest, ClientSeesMadeDataEofLostInOrder) {
  run([&]() -> Coro<void> {
    asyncio::Server server = co_await echo_server();
    auto [transport, client] = co_await asyncio::create_connection(
        [] { return std::make_shared<Recorder>(); }, "127.0.0.1", port_of(server));
    static_assert(std::is_same_v<decltype(client), std::shared_ptr<Recorder>>);
    EXPECT_EQ(client->events, "m");
    EXPECT_EQ(client->transport, transport);
    std::string sent;
    for (int i = 0; i < 50; ++i) sent += "line " + std::to_string(i) + "\n";
    transport->write(sent);
    co_await asyncio_test::wait_until([&] { return client->received.size() == sent.size(); }, 10s,
                                      "the echo");
    transport->write_eof();  // the server's Echo closes at EOF: the client sees EOF, then loss
    co_await asyncio_test::wait_until([&] { return client->lost(); }, 10s, "connection_lost");
    EXPECT_EQ(client->received, sent);
    EXPECT_EQ(folded(client->events), "mdel");
    EXPECT_EQ(client->lost_with, nullptr);
    EXPECT_TRUE(transport->is_closing());
    server.close();
    co_await server.wait_closed();
  }());
}

// Python's _ensure_fd_no_transport: watching, or reading and writing, an fd an open transport
// uses would take it from under the transport (on epoll, replacing its watcher lost the
// connection). Once the connection is gone, the number is free again.
TEST_F(ProtocolTest, AnFdATransportUsesIsRefusedToAddReaderAndTheSockFunctions) {
  run([&]() -> Coro<void> {
    asyncio::Server server = co_await echo_server();
    auto [transport, client] = co_await asyncio::create_connection(
        [] { return std::make_shared<Recorder>(); }, "127.0.0.1", port_of(server));
    const int fd = std::any_cast<int>(transport->get_extra_info("socket"));
    auto& loop = asyncio::get_running_loop();
    EXPECT_THROW(loop.add_reader(fd, [] {}), asyncio::RuntimeError);
    EXPECT_THROW(loop.add_writer(fd, [] {}), asyncio::RuntimeError);
    EXPECT_THROW(loop.remove_reader(fd), asyncio::RuntimeError);
    EXPECT_THROW(loop.remove_writer(fd), asyncio::RuntimeError);
    const bool recv_refused =
        co_await asyncio_test::throws<asyncio::RuntimeError>(loop.sock_recv(fd, 10));
    EXPECT_TRUE(recv_refused);
    const bool send_refused =
        co_await asyncio_test::throws<asyncio::RuntimeError>(loop.sock_sendall(fd, "x"));
    EXPECT_TRUE(send_refused);
    transport->write("still open\n");  // the transport did not notice
    co_await asyncio_test::wait_until([&] { return client->received == "still open\n"; }, 10s,
                                      "the echo");
    EXPECT_EQ(folded(client->events), "md");
    transport->abort();
    co_await asyncio_test::wait_until([&] { return client->lost(); }, 10s, "connection_lost");
    asyncio_test::Fd other = asyncio_test::make_socket();  // may take the number again
    loop.add_reader(other, [] {});
    EXPECT_TRUE(loop.remove_reader(other));
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_F(ProtocolTest, ConnectionLostComesFromTheLoopNotFromInsideACallback) {
  struct ClosesInData : Recorder {
    void data_received(std::string_view data) override {
      Recorder::data_received(data);
      transport->close();
      events += 'c';  // close() returned before connection_lost ran
    }
  };
  run([&]() -> Coro<void> {
    asyncio::Server server = co_await echo_server();
    auto [transport, client] = co_await asyncio::create_connection(
        [] { return std::make_shared<ClosesInData>(); }, "127.0.0.1", port_of(server));
    transport->write("x");
    co_await asyncio_test::wait_until([&] { return client->lost(); }, 10s, "connection_lost");
    EXPECT_EQ(client->events, "mdcl");
    transport->write("ignored once lost");  // no effect, no error
    transport->close();                     // nor a second close
    server.close();
    co_await server.wait_closed();
  }());
}

// A connection lost in the loop's last iteration has its connection_lost queued, and close()
// drops the queue unrun: the protocol hears it all the same, so that it and its transport (the
// Recorder keeps the transport) let go of each other (LeakSanitizer would report the pair).
TEST_F(ProtocolTest, AConnectionLostJustBeforeTheLoopClosesIsToldAtTheClose) {
  OverSocketpair pair = run(recorder_over_socketpair());
  std::weak_ptr<Recorder> protocol = pair.protocol;
  loop->call_soon([&] {
    loop->stop();
    pair.transport->abort();  // connection_lost is queued for the next iteration
  });
  loop->run_forever();
  pair.transport.reset();
  EXPECT_FALSE(pair.protocol->lost());
  loop->close();
  EXPECT_EQ(pair.protocol->events, "ml");
  pair.protocol.reset();
  EXPECT_TRUE(protocol.expired());  // no cycle is left
  ::close(pair.peer);
}

TEST_F(ProtocolTest, BufferedProtocolReadsStraightIntoItsOwnBuffer) {
  // A tiny buffer: many get_buffer / buffer_updated pairs, every byte in order.
  struct Collector : asyncio::BufferedProtocol {
    char buffer[7];
    std::string received;
    std::size_t updates = 0;
    bool bad_pointer = false;
    bool lost = false;
    std::shared_ptr<Transport> transport;
    void connection_made(std::shared_ptr<Transport> t) override { transport = std::move(t); }
    std::span<char> get_buffer(std::size_t sizehint) override {
      EXPECT_GT(sizehint, 0u);
      return buffer;
    }
    void buffer_updated(std::size_t n) override {
      bad_pointer |= n > sizeof buffer;
      received.append(buffer, n);
      ++updates;
    }
    void connection_lost(std::exception_ptr) override { lost = true; }
  };
  run([&]() -> Coro<void> {
    asyncio::Server server = co_await echo_server();
    auto [transport, client] = co_await asyncio::create_connection(
        [] { return std::make_shared<Collector>(); }, "127.0.0.1", port_of(server));
    std::string sent;
    for (int i = 0; i < 1000; ++i) sent += static_cast<char>('a' + i % 26);
    transport->write(sent);
    co_await asyncio_test::wait_until([&] { return client->received.size() >= sent.size(); }, 10s,
                                      "the echo");
    EXPECT_EQ(client->received, sent);
    EXPECT_GE(client->updates, sent.size() / 7);
    EXPECT_FALSE(client->bad_pointer);
    transport->close();
    co_await asyncio_test::wait_until([&] { return client->lost; }, 10s, "connection_lost");
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_F(ProtocolTest, EmptyBufferFromGetBufferAbortsTheConnection) {
  struct NoRoom : asyncio::BufferedProtocol {
    std::exception_ptr lost_with;
    bool lost = false;
    std::span<char> get_buffer(std::size_t) override { return {}; }
    void buffer_updated(std::size_t) override { ADD_FAILURE() << "nothing was read"; }
    void connection_lost(std::exception_ptr exc) override {
      lost = true;
      lost_with = exc;
    }
  };
  run([&]() -> Coro<void> {
    asyncio::Server server = co_await echo_server();
    auto [transport, client] = co_await asyncio::create_connection(
        [] { return std::make_shared<NoRoom>(); }, "127.0.0.1", port_of(server));
    transport->write("x");
    co_await asyncio_test::wait_until([&] { return client->lost; }, 10s, "connection_lost");
    EXPECT_NE(asyncio_test::what(client->lost_with).find("empty buffer"), std::string::npos);
    EXPECT_EQ(reported("Fatal error: protocol.get_buffer() call failed."), 1u);
    server.close();
    co_await server.wait_closed();
  }());
}

// Python's _write_send: resume_writing() comes before the connection_lost() of a close() that
// waited for the buffer to empty.
TEST_F(ProtocolTest, APausedProtocolClosedWithABufferHearsResumeBeforeTheLoss) {
  run([&]() -> Coro<void> {
    auto [transport, writer, peer] = co_await recorder_over_socketpair();
    transport->set_write_buffer_limits(8192);
    const std::size_t written = write_until_paused(*transport, *writer);
    transport->close();
    co_await peer_reads(peer, written);
    co_await asyncio_test::wait_until([&] { return writer->lost(); }, 10s, "connection_lost");
    EXPECT_EQ(writer->events, "mprl");
    ::close(peer);
  }());
}

// A peer that resets before the server accepts: asking its address in connection_made gives an
// empty one (Python's None), not an error that would fail the protocol callback.
TEST_F(ProtocolTest, APeerAddressTheOsCannotTellIsEmptyNotAFailure) {
  struct AsksPeer : Recorder {
    asyncio::SocketAddress peer;
    void connection_made(std::shared_ptr<Transport> t) override {
      Recorder::connection_made(std::move(t));
      peer = std::any_cast<asyncio::SocketAddress>(transport->get_extra_info("peername"));
    }
  };
  std::shared_ptr<AsksPeer> served;
  run([&]() -> Coro<void> {
    asyncio::Server server = co_await asyncio::create_server(
        [&] {
          served = std::make_shared<AsksPeer>();
          return served;
        },
        "127.0.0.1", 0);
    {  // while the loop does not run: connect, send, reset
      const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      const asyncio::SocketAddress address =
          asyncio::SocketAddress::ip("127.0.0.1", port_of(server));
      EXPECT_EQ(::connect(client, address.data(), address.size()), 0);
      EXPECT_EQ(::send(client, "x", 1, MSG_NOSIGNAL), 1);
      const linger reset{1, 0};
      ::setsockopt(client, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
      ::close(client);
    }
    co_await asyncio_test::wait_until([&] { return served && served->lost(); }, 10s,
                                      "the server's connection_lost");
    EXPECT_EQ(reported("Exception in protocol.connection_made()"), 0u);
    EXPECT_EQ(served->events.front(), 'm');
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_F(ProtocolTest, PauseAndResumeWritingAlternateAtTheLimits) {
  struct Writer : Recorder {
    std::vector<std::size_t> sizes;  // the write buffer's size at each pause and resume
    void pause_writing() override {
      Recorder::pause_writing();
      sizes.push_back(transport->get_write_buffer_size());
    }
    void resume_writing() override {
      Recorder::resume_writing();
      sizes.push_back(transport->get_write_buffer_size());
    }
  };
  run([&]() -> Coro<void> {
    int pair[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    const int peer = pair[1];
    const int small = 4096;
    ::setsockopt(pair[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    ::setsockopt(peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    auto [transport, writer] = co_await asyncio::connect_accepted_socket(
        [] { return std::make_shared<Writer>(); }, pair[0]);
    const auto defaults = transport->get_write_buffer_limits();
    EXPECT_EQ(defaults.first, 16u * 1024);  // (low, high), as Python
    EXPECT_EQ(defaults.second, 64u * 1024);
    transport->set_write_buffer_limits(8192);
    EXPECT_EQ(transport->get_write_buffer_limits(),
              std::make_pair(std::size_t{2048}, std::size_t{8192}));
    EXPECT_THROW(transport->set_write_buffer_limits(100, 200), std::invalid_argument);
    const std::size_t written =
        write_until_paused(*transport, *writer);  // the peer reads nothing yet
    EXPECT_EQ(writer->events, "mp");
    EXPECT_GT(writer->sizes.at(0), 8192u);
    // The peer reads everything: the buffer drains, and resume_writing follows once.
    co_await peer_reads(peer, written);
    EXPECT_EQ(writer->events, "mpr");
    EXPECT_LE(writer->sizes.at(1), 2048u);
    transport->close();
    co_await asyncio_test::wait_until([&] { return writer->lost(); }, 10s, "connection_lost");
    ::close(peer);
  }());
}

// Python's _FlowControlMixin.set_write_buffer_limits: marks below the buffer pause the protocol
// at once; marks above it do not resume a paused one, only a send that drains the buffer does.
TEST_F(ProtocolTest, NewWriteLimitsPauseAtOnceButNeverResume) {
  run([&]() -> Coro<void> {
    auto [transport, writer, peer] = co_await recorder_over_socketpair();
    transport->set_write_buffer_limits(8192);
    const std::size_t written = write_until_paused(*transport, *writer);
    EXPECT_EQ(writer->events, "mp");
    transport->set_write_buffer_limits(1 << 24, 1 << 20);  // far above the buffer: still paused
    co_await asyncio::sleep(0s);
    EXPECT_EQ(writer->events, "mp");
    co_await peer_reads(peer, written);  // the buffer drains: now it resumes, once
    EXPECT_EQ(writer->events, "mpr");
    // With the marks far above, fill the socket until bytes stay buffered: no pause yet.
    const std::string chunk(65536, 'w');
    for (int i = 0; i < 1000 && transport->get_write_buffer_size() == 0; ++i)
      transport->write(chunk);
    EXPECT_GT(transport->get_write_buffer_size(), 0u);
    EXPECT_EQ(writer->events, "mpr");
    transport->set_write_buffer_limits(0);  // a high mark below the buffer: paused at once
    EXPECT_EQ(writer->events, "mprp");
    transport->abort();
    co_await asyncio_test::wait_until([&] { return writer->lost(); }, 10s, "connection_lost");
    ::close(peer);
  }());
}

TEST_F(ProtocolTest, PauseReadingStopsDataReceivedUntilResumeReading) {
  run([&]() -> Coro<void> {
    int pair[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    const int peer = pair[1];
    auto [transport, reader] = co_await asyncio::connect_accepted_socket(
        [] { return std::make_shared<Recorder>(); }, pair[0]);
    EXPECT_TRUE(transport->is_reading());
    transport->pause_reading();
    transport->pause_reading();  // a no-op when paused
    EXPECT_FALSE(transport->is_reading());
    EXPECT_EQ(::send(peer, "hello", 5, 0), 5);
    // The bytes wait in the socket, readable, while the loop turns.
    int pending = 0;
    for (int i = 0; i < 20; ++i) co_await asyncio::sleep(0s);
    EXPECT_EQ(::ioctl(pair[0], FIONREAD, &pending), 0);
    EXPECT_EQ(pending, 5);
    EXPECT_EQ(reader->events, "m");
    transport->resume_reading();
    EXPECT_TRUE(transport->is_reading());
    co_await asyncio_test::wait_until([&] { return reader->received == "hello"; }, 10s, "the data");
    transport->close();
    EXPECT_FALSE(transport->is_reading());
    transport->resume_reading();  // a no-op once closing
    co_await asyncio_test::wait_until([&] { return reader->lost(); }, 10s, "connection_lost");
    EXPECT_EQ(folded(reader->events), "mdl");
    ::close(peer);
  }());
}

// A paused transport stops taking bytes from its socket, so the peer meets flow control once the
// socket buffers are full (a few hundred KiB), also on io_uring, where the multishot receive
// would otherwise go on until its whole buffer ring (16 MiB) had filled the transport's memory.
TEST_F(ProtocolTest, APausedTransportLeavesThePeerToMeetFlowControl) {
  run([&]() -> Coro<void> {
    auto [transport, reader, peer] = co_await recorder_over_socketpair();
    EXPECT_EQ(::send(peer, "hello", 5, 0), 5);
    co_await asyncio_test::wait_until([&] { return reader->received == "hello"; }, 10s, "the data");
    transport->pause_reading();
    // The peer sends until its socket refuses more (at most 64 MiB, not to loop for ever).
    const std::string chunk(65536, 'x');
    std::size_t sent = 0;
    while (sent < (std::size_t{64} << 20)) {
      const ssize_t n = ::send(peer, chunk.data(), chunk.size(), MSG_DONTWAIT);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
    EXPECT_LT(sent, std::size_t{4} << 20);
    transport->abort();
    co_await asyncio_test::wait_until([&] { return reader->lost(); }, 10s, "connection_lost");
    ::close(peer);
  }());
}

TEST_F(ProtocolTest, ThrowingCallbackClosesOnlyItsTransportAndTheServerKeepsServing) {
  struct Fragile : asyncio::Protocol {
    std::shared_ptr<Transport> transport;
    void connection_made(std::shared_ptr<Transport> t) override { transport = std::move(t); }
    void data_received(std::string_view data) override {
      if (data.find("boom") != std::string_view::npos) throw std::runtime_error("boom");
      transport->write(data);
    }
  };
  run([&]() -> Coro<void> {
    asyncio::Server server =
        co_await asyncio::create_server([] { return std::make_shared<Fragile>(); }, "127.0.0.1", 0);
    const std::uint16_t port = port_of(server);
    auto [bad, bad_client] = co_await asyncio::create_connection(
        [] { return std::make_shared<Recorder>(); }, "127.0.0.1", port);
    auto [good, good_client] = co_await asyncio::create_connection(
        [] { return std::make_shared<Recorder>(); }, "127.0.0.1", port);
    bad->write("boom");
    co_await asyncio_test::wait_until([&] { return bad_client->lost(); }, 10s,
                                      "the failing connection to close");
    EXPECT_EQ(reported("Fatal error: protocol.data_received() call failed."), 1u);
    good->write("still here");
    co_await asyncio_test::wait_until([&] { return good_client->received == "still here"; }, 10s,
                                      "the other connection's echo");
    auto [late, late_client] = co_await asyncio::create_connection(
        [] { return std::make_shared<Recorder>(); }, "127.0.0.1", port);
    late->write("new");
    co_await asyncio_test::wait_until([&] { return late_client->received == "new"; }, 10s,
                                      "a new connection's echo");
    good->close();
    late->close();
    server.close();
    co_await server.wait_closed();
    EXPECT_EQ(server.active_connections(), 0u);
  }());
}

TEST_F(ProtocolTest, ThrowingConnectionMadeAbortsThatConnection) {
  struct Refuses : asyncio::Protocol {
    void connection_made(std::shared_ptr<Transport>) override {
      throw std::runtime_error("not today");
    }
  };
  run([&]() -> Coro<void> {
    asyncio::Server server =
        co_await asyncio::create_server([] { return std::make_shared<Refuses>(); }, "127.0.0.1", 0);
    auto [transport, client] = co_await asyncio::create_connection(
        [] { return std::make_shared<Recorder>(); }, "127.0.0.1", port_of(server));
    co_await asyncio_test::wait_until([&] { return client->lost(); }, 10s, "the server's abort");
    EXPECT_EQ(reported("Exception in protocol.connection_made()"), 1u);
    EXPECT_EQ(server.active_connections(), 0u);
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_F(ProtocolTest, EofReceivedReturningTrueKeepsTheConnectionOpenForWriting) {
  // The server answers after the client's EOF, then closes.
  struct AnswersAtEof : asyncio::Protocol {
    std::shared_ptr<Transport> transport;
    std::string got;
    void connection_made(std::shared_ptr<Transport> t) override { transport = std::move(t); }
    void data_received(std::string_view data) override { got += data; }
    bool eof_received() override {
      transport->write("you said: " + got);
      transport->close();
      return true;
    }
  };
  run([&]() -> Coro<void> {
    asyncio::Server server = co_await asyncio::create_server(
        [] { return std::make_shared<AnswersAtEof>(); }, "127.0.0.1", 0);
    auto [transport, client] = co_await asyncio::create_connection(
        [] {
          auto r = std::make_shared<Recorder>();
          r->keep_open_at_eof = true;
          return r;
        },
        "127.0.0.1", port_of(server));
    EXPECT_TRUE(transport->can_write_eof());
    transport->write("hi");
    transport->write_eof();
    auto error_of = [](auto call) {
      try {
        call();
      } catch (const asyncio::RuntimeError& e) {
        return std::string(e.what());
      }
      return std::string();
    };
    EXPECT_EQ(error_of([&] { transport->write("more"); }), "Cannot call write() after write_eof()");
    EXPECT_EQ(error_of([&] { transport->writelines({"more"}); }),
              "Cannot call writelines() after write_eof()");  // Python 3.12's
    co_await asyncio_test::wait_until([&] { return client->events.find('e') != std::string::npos; },
                                      10s, "EOF from the server");
    EXPECT_EQ(client->received, "you said: hi");
    // The client kept its side open: nothing closes it until it does.
    EXPECT_FALSE(client->lost());
    EXPECT_FALSE(transport->is_closing());
    transport->close();
    co_await asyncio_test::wait_until([&] { return client->lost(); }, 10s, "connection_lost");
    EXPECT_EQ(folded(client->events), "mdel");
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_F(ProtocolTest, SetProtocolHandsTheRestOfTheConnectionToAnother) {
  run([&]() -> Coro<void> {
    auto [transport, first, peer] = co_await recorder_over_socketpair();
    EXPECT_EQ(::send(peer, "one", 3, 0), 3);
    co_await asyncio_test::wait_until([&] { return first->received == "one"; }, 10s, "one");
    auto second = std::make_shared<Recorder>();
    transport->set_protocol(second);
    EXPECT_EQ(transport->get_protocol(), second);
    EXPECT_EQ(::send(peer, "two", 3, 0), 3);
    ::shutdown(peer, SHUT_WR);
    co_await asyncio_test::wait_until([&] { return second->lost(); }, 10s, "connection_lost");
    EXPECT_EQ(first->received, "one");
    EXPECT_EQ(second->received, "two");
    EXPECT_EQ(folded(second->events), "del");
    EXPECT_FALSE(first->lost());
    ::close(peer);
  }());
}

// What the protocol below sees of itself after handing its transport on (globals: the test must
// not read the protocol's own memory, which was freed before the fix).
std::weak_ptr<asyncio::Protocol> replaced_protocol;
bool replaced_alive_in_its_callback = false;

TEST_F(ProtocolTest, AProtocolReplacedInsideItsOwnCallbackLivesUntilTheCallbackReturns) {
  struct HandsOn : asyncio::Protocol {
    std::shared_ptr<Transport> transport;
    std::shared_ptr<Recorder> next = std::make_shared<Recorder>();
    void connection_made(std::shared_ptr<Transport> t) override { transport = std::move(t); }
    void data_received(std::string_view) override {
      std::shared_ptr<Transport> t = std::move(transport);  // the transport holds it alone now
      t->set_protocol(next);
      replaced_alive_in_its_callback = !replaced_protocol.expired();
      t->write("switched");  // `this` is still alive: Python's protocols are
    }
  };
  run([&]() -> Coro<void> {
    int pair[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    auto [transport, first] = co_await asyncio::connect_accepted_socket(
        [] { return std::make_shared<HandsOn>(); }, pair[0]);
    std::shared_ptr<Recorder> next = first->next;
    replaced_protocol = first;
    first.reset();
    EXPECT_EQ(::send(pair[1], "go", 2, 0), 2);
    co_await asyncio_test::wait_until([&] { return replaced_protocol.expired(); }, 10s,
                                      "the replaced protocol to go");
    EXPECT_TRUE(replaced_alive_in_its_callback);
    char reply[16] = {};
    EXPECT_EQ(::recv(pair[1], reply, sizeof reply, 0), 8);
    EXPECT_EQ(std::string(reply), "switched");
    EXPECT_EQ(transport->get_protocol(), next);
    transport->close();
    ::close(pair[1]);
  }());
}

TEST_F(ProtocolTest, StreamsAreAStreamReaderProtocolOverTheSameTransport) {
  run([&]() -> Coro<void> {
    asyncio::Server server = co_await echo_server();
    auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port_of(server));
    asyncio::Transport& transport = writer.get_transport();
    std::shared_ptr<asyncio::BaseProtocol> protocol = transport.get_protocol();
    EXPECT_EQ(protocol, reader.protocol());  // an owning pointer to the reader's protocol
    EXPECT_NE(std::dynamic_pointer_cast<asyncio::BufferedProtocol>(protocol), nullptr);
    transport.write("through the transport\n");
    EXPECT_EQ(co_await reader.readline(), "through the transport\n");
    writer.close();
    co_await writer.wait_closed();
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_F(ProtocolTest, ExtraInfoGivesAddressesAndTheSocket) {
  run([&]() -> Coro<void> {
    asyncio::Server server = co_await echo_server();
    auto [transport, client] = co_await asyncio::create_connection(
        [] { return std::make_shared<Recorder>(); }, "127.0.0.1", port_of(server));
    auto peer = std::any_cast<asyncio::SocketAddress>(transport->get_extra_info("peername"));
    auto own = std::any_cast<asyncio::SocketAddress>(transport->get_extra_info("sockname"));
    EXPECT_EQ(peer.port(), port_of(server));
    EXPECT_EQ(own.to_string().rfind("127.0.0.1", 0), 0u);
    EXPECT_GE(std::any_cast<int>(transport->get_extra_info("socket")), 0);
    EXPECT_FALSE(transport->get_extra_info("nothing").has_value());
    transport->abort();
    co_await asyncio_test::wait_until([&] { return client->lost(); }, 10s, "connection_lost");
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_F(ProtocolTest, ClosingTheLoopAbortsOpenTransportsAndTellsTheirProtocols) {
  std::shared_ptr<Recorder> paused;
  std::weak_ptr<Transport> transport_left;
  run([&]() -> Coro<void> {
    int pair[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    auto [transport, protocol] = co_await asyncio::connect_accepted_socket(
        [] { return std::make_shared<Recorder>(); }, pair[0]);
    transport->pause_reading();   // no watch left: only the loop's list knows it
    protocol->transport.reset();  // nobody holds the transport but itself
    paused = protocol;
    transport_left = transport;
    ::close(pair[1]);
  }());
  EXPECT_FALSE(paused->lost());
  EXPECT_FALSE(transport_left.expired());
  loop->close();
  EXPECT_EQ(paused->events, "ml");
  EXPECT_TRUE(transport_left.expired());  // and its fd closed (the fd leak check would say)
}

TEST_F(ProtocolTest, PipesAtTheProtocolLevel) {
  run([&]() -> Coro<void> {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    auto [read_end, reader] =
        co_await asyncio::connect_read_pipe([] { return std::make_shared<Recorder>(); }, fds[0]);
    auto [write_end, writer] =
        co_await asyncio::connect_write_pipe([] { return std::make_shared<Recorder>(); }, fds[1]);
    EXPECT_GE(std::any_cast<int>(read_end->get_extra_info("pipe")), 0);
    EXPECT_FALSE(read_end->can_write_eof());
    write_end->writelines({"through ", "the ", "pipe"});
    write_end->write_eof();  // closes the write end once flushed
    co_await asyncio_test::wait_until([&] { return reader->lost() && writer->lost(); }, 10s,
                                      "both ends to close");
    EXPECT_EQ(reader->received, "through the pipe");
    EXPECT_EQ(folded(reader->events), "mdel");
    EXPECT_EQ(writer->events, "ml");
  }());
}

// Python's read pipe calls data_received from its read callback and eof_received as a callback
// of its own: an error in either is reported, and the pipe goes on (to its end, at EOF).
TEST_F(ProtocolTest, ConnectAcceptedSocketRefusesADatagramSocket) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  run([&]() -> Coro<void> {
    const bool refused = co_await asyncio_test::throws<std::invalid_argument>(
        asyncio::connect_accepted_socket([] { return std::make_shared<Recorder>(); }, fd));
    EXPECT_TRUE(refused);  // Python's ValueError("A Stream Socket was expected, ...")
  }());
}

TEST_F(ProtocolTest, AReadPipesThrowingCallbacksAreReportedAndThePipeGoesOn) {
  struct Fragile : Recorder {
    void data_received(std::string_view data) override {
      Recorder::data_received(data);
      if (data.find("boom") != std::string_view::npos) throw std::runtime_error("boom");
    }
    bool eof_received() override {
      Recorder::eof_received();
      throw std::runtime_error("eof");
    }
  };
  run([&]() -> Coro<void> {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    asyncio_test::Fd write_end(fds[1]);
    auto [read_end, reader] =
        co_await asyncio::connect_read_pipe([] { return std::make_shared<Fragile>(); }, fds[0]);
    EXPECT_EQ(::write(write_end.fd, "boom", 4), 4);
    co_await asyncio_test::wait_until([&] { return reported("Exception in callback") == 1; }, 10s,
                                      "the error to be reported");
    EXPECT_FALSE(read_end->is_closing());
    EXPECT_EQ(::write(write_end.fd, "more", 4), 4);
    co_await asyncio_test::wait_until([&] { return reader->received == "boommore"; }, 10s,
                                      "the next bytes");
    write_end.close();  // EOF
    co_await asyncio_test::wait_until([&] { return reader->lost(); }, 10s, "connection_lost");
    EXPECT_EQ(reported("Exception in callback"), 2u);
    EXPECT_EQ(folded(reader->events), "mdel");
    EXPECT_EQ(reader->lost_with, nullptr);
  }());
}

TEST_F(ProtocolTest, WritePipeLosesItsConnectionWhenTheReaderGoes) {
  run([&]() -> Coro<void> {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    auto [write_end, writer] =
        co_await asyncio::connect_write_pipe([] { return std::make_shared<Recorder>(); }, fds[1]);
    ::close(fds[0]);
    co_await asyncio_test::wait_until([&] { return writer->lost(); }, 10s, "connection_lost");
    EXPECT_EQ(writer->lost_with, nullptr);  // nothing was buffered
  }());
}

TEST_F(ProtocolTest, RegularFileIsNotAPipe) {
  run([&]() -> Coro<void> {
    const int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    EXPECT_GE(fd, 0);
    const bool refused = co_await asyncio_test::throws<std::invalid_argument>(
        asyncio::connect_read_pipe([] { return std::make_shared<Recorder>(); }, fd));
    EXPECT_TRUE(refused);
    ::close(fd);  // left open, as Python leaves the caller's pipe
  }());
}

TEST_F(ProtocolTest, UnixConnectionAndServer) {
  const std::string path = "/tmp/asyncio-protocols-" + std::to_string(::getpid()) + ".sock";
  run([&]() -> Coro<void> {
    asyncio::Server server =
        co_await asyncio::create_unix_server([] { return std::make_shared<Echo>(); }, path);
    auto [transport, client] =
        co_await asyncio::create_unix_connection([] { return std::make_shared<Recorder>(); }, path);
    transport->write("over unix");
    co_await asyncio_test::wait_until([&] { return client->received == "over unix"; }, 10s,
                                      "the echo");
    transport->close();
    co_await asyncio_test::wait_until([&] { return client->lost(); }, 10s, "connection_lost");
    server.close();
    co_await server.wait_closed();
  }());
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
}

TEST_F(ProtocolTest, RefusedConnectionRaisesTheConnectError) {
  run([&]() -> Coro<void> {
    std::uint16_t port;
    {
      asyncio::Server server = co_await echo_server();
      port = port_of(server);
      server.close();
      co_await server.wait_closed();
    }
    bool made = false;
    try {
      co_await asyncio::create_connection(
          [&] {
            made = true;
            return std::make_shared<Recorder>();
          },
          "127.0.0.1", port);
      ADD_FAILURE() << "connected to a closed port";
    } catch (const std::system_error& error) {
      EXPECT_EQ(error.code().value(), ECONNREFUSED);
    }
    EXPECT_FALSE(made);  // the factory is called only for a connection
  }());
}

TEST_F(ProtocolTest, LocalAddrBindsTheClientSide) {
  run([&]() -> Coro<void> {
    asyncio::Server server = co_await echo_server();
    asyncio::ConnectionOptions options;
    options.local_addr = std::pair<std::string, std::uint16_t>("127.0.0.1", 0);
    auto [transport, client] = co_await asyncio::create_connection(
        [] { return std::make_shared<Recorder>(); }, "127.0.0.1", port_of(server), options);
    auto own = std::any_cast<asyncio::SocketAddress>(transport->get_extra_info("sockname"));
    EXPECT_EQ(own.to_string().rfind("127.0.0.1", 0), 0u);
    transport->close();
    options.local_addr = std::pair<std::string, std::uint16_t>("::1", 0);  // no IPv4 to bind
    const bool refused =
        co_await asyncio_test::throws<std::system_error>(asyncio::create_connection(
            [] { return std::make_shared<Recorder>(); }, "127.0.0.1", port_of(server), options));
    EXPECT_TRUE(refused);
    co_await asyncio_test::wait_until([&] { return client->lost(); }, 10s, "connection_lost");
    server.close();
    co_await server.wait_closed();
  }());
}

asyncio::AddressInfo address(int family, const char* text, std::uint16_t port) {
  asyncio::AddressInfo info;
  info.family = family;
  info.address = asyncio::SocketAddress::ip(text, port);
  return info;
}

TEST(InterleaveTest, AlternatesFamiliesAsPythonDoes) {
  std::vector<asyncio::AddressInfo> in = {
      address(AF_INET6, "::1", 1), address(AF_INET6, "::1", 2), address(AF_INET6, "::1", 3),
      address(AF_INET, "127.0.0.1", 4), address(AF_INET, "127.0.0.1", 5)};
  auto ports = [](const std::vector<asyncio::AddressInfo>& list) {
    std::vector<int> out;
    for (const auto& info : list) out.push_back(info.address.port());
    return out;
  };
  EXPECT_EQ(ports(asyncio::detail::interleave_addresses(in, 1)), (std::vector<int>{1, 4, 2, 5, 3}));
  EXPECT_EQ(ports(asyncio::detail::interleave_addresses(in, 2)), (std::vector<int>{1, 2, 4, 3, 5}));
}

/// A loopback listener whose accept queue is full: a connect to it neither succeeds nor fails
/// (the SYN is dropped), like an address that does not answer.
struct Blackhole {
  int listener = -1;
  std::vector<int> fillers;
  std::uint16_t port = 0;
  Blackhole() {
    listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    ::bind(listener, reinterpret_cast<sockaddr*>(&address), size);
    ::listen(listener, 0);
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &size);
    port = ntohs(address.sin_port);
    for (int i = 0; i < 16; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      fillers.push_back(fd);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&address), size) != 0 && errno == EINPROGRESS)
        return;  // this one hangs: the queue is full
    }
    ADD_FAILURE() << "the accept queue never filled";
  }
  ~Blackhole() {
    for (int fd : fillers) ::close(fd);
    ::close(listener);
  }
};

TEST_F(ProtocolTest, HappyEyeballsConnectsThroughTheSecondAddressAfterTheDelay) {
  run([&]() -> Coro<void> {
    Blackhole blackhole;
    asyncio::Server server = co_await echo_server();
    std::vector<asyncio::AddressInfo> targets = {address(AF_INET, "127.0.0.1", blackhole.port),
                                                 address(AF_INET, "127.0.0.1", port_of(server))};
    asyncio::ConnectionOptions options;
    options.happy_eyeballs_delay = 100ms;
    const auto started = loop->time();
    const int fd = co_await asyncio::detail::connect_to_any(targets, options);
    const auto took = loop->time() - started;
    EXPECT_GE(fd, 0);
    EXPECT_EQ(asyncio::SocketAddress::peer_of(fd).port(), port_of(server));
    EXPECT_GE(took, 100ms);  // the second attempt started only after the delay
    EXPECT_LT(took, 900ms);  // and not after the blackhole's SYN retry (1 s)
    ::close(fd);
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_F(ProtocolTest, HappyEyeballsStartsTheNextAttemptAtOnceWhenOneFails) {
  run([&]() -> Coro<void> {
    std::uint16_t closed_port;
    {
      asyncio::Server gone = co_await echo_server();
      closed_port = port_of(gone);
      gone.close();
      co_await gone.wait_closed();
    }
    asyncio::Server server = co_await echo_server();
    std::vector<asyncio::AddressInfo> targets = {address(AF_INET, "127.0.0.1", closed_port),
                                                 address(AF_INET, "127.0.0.1", port_of(server))};
    asyncio::ConnectionOptions options;
    options.happy_eyeballs_delay = 10s;  // never reached: the refusal starts the next at once
    const int fd = co_await asyncio::detail::connect_to_any(targets, options);
    EXPECT_EQ(asyncio::SocketAddress::peer_of(fd).port(), port_of(server));
    ::close(fd);
    // Every address refused: one error naming both.
    std::vector<asyncio::AddressInfo> dead = {address(AF_INET, "127.0.0.1", closed_port),
                                              address(AF_INET, "127.0.0.1", closed_port)};
    try {
      co_await asyncio::detail::connect_to_any(dead, options);
      ADD_FAILURE() << "connected to a closed port";
    } catch (const std::system_error& error) {
      EXPECT_EQ(error.code().value(), ECONNREFUSED);
      EXPECT_NE(std::string(error.what()).find("Multiple exceptions"), std::string::npos);
    }
    server.close();
    co_await server.wait_closed();
  }());
}

// --- Datagrams -----------------------------------------------------------------------------------

/// Records a datagram endpoint's callbacks: m(ade) g (datagram) x (error) l(ost).
struct DatagramRecorder : asyncio::DatagramProtocol {
  std::string events;
  std::vector<std::pair<std::string, asyncio::SocketAddress>> received;
  std::shared_ptr<asyncio::DatagramTransport> transport;
  std::exception_ptr error;
  bool echo = false;
  bool throw_on_datagram = false;

  void connection_made(std::shared_ptr<asyncio::DatagramTransport> t) override {
    events += 'm';
    transport = std::move(t);
  }
  void datagram_received(std::string_view data, const asyncio::SocketAddress& addr) override {
    events += 'g';
    if (throw_on_datagram) throw std::runtime_error("bad datagram");
    received.emplace_back(std::string(data), addr);
    if (echo) transport->sendto(data, addr);
  }
  void error_received(std::exception_ptr exc) override {
    events += 'x';
    error = exc;
  }
  void connection_lost(std::exception_ptr) override { events += 'l'; }
  bool lost() const { return events.find('l') != std::string::npos; }
};

Coro<std::pair<std::shared_ptr<asyncio::DatagramTransport>, std::shared_ptr<DatagramRecorder>>>
udp_echo_server() {
  asyncio::DatagramOptions options;
  options.local_host = "127.0.0.1";
  co_return co_await asyncio::create_datagram_endpoint(
      [] {
        auto p = std::make_shared<DatagramRecorder>();
        p->echo = true;
        return p;
      },
      options);
}

TEST_F(ProtocolTest, UdpEchoWithDatagramProtocols) {
  run([&]() -> Coro<void> {
    auto [server_transport, server] = co_await udp_echo_server();
    const auto server_address =
        std::any_cast<asyncio::SocketAddress>(server_transport->get_extra_info("sockname"));
    asyncio::DatagramOptions options;
    options.remote_host = "127.0.0.1";
    options.remote_port = server_address.port();
    auto [transport, client] = co_await asyncio::create_datagram_endpoint(
        [] { return std::make_shared<DatagramRecorder>(); }, options);
    EXPECT_EQ(client->events, "m");
    EXPECT_EQ(std::any_cast<asyncio::SocketAddress>(transport->get_extra_info("peername")),
              server_address);
    transport->sendto("ping");
    transport->sendto("pong", server_address);  // the connected peer's own address is allowed
    co_await asyncio_test::wait_until([&] { return client->received.size() == 2; }, 10s,
                                      "two echoes");
    EXPECT_EQ(client->received[0].first, "ping");
    EXPECT_EQ(client->received[1].first, "pong");
    EXPECT_EQ(client->received[0].second, server_address);
    EXPECT_THROW(transport->sendto("x", asyncio::SocketAddress::ip("127.0.0.1", 9)),
                 std::invalid_argument);
    EXPECT_THROW(server_transport->sendto("no address"), std::invalid_argument);
    EXPECT_EQ(transport->get_write_buffer_size(), 0u);
    transport->close();
    EXPECT_TRUE(transport->is_closing());
    transport->sendto("late");  // ignored once closed, as Python does
    server_transport->close();
    co_await asyncio_test::wait_until([&] { return client->lost() && server->lost(); }, 10s,
                                      "both to close");
    // Kept after the close, as Python's.
    EXPECT_EQ(std::any_cast<asyncio::SocketAddress>(server_transport->get_extra_info("sockname")),
              server_address);
    EXPECT_EQ(client->events, "mggl");
    EXPECT_EQ(server->events, "mggl");
  }());
}

TEST_F(ProtocolTest, DatagramErrorsGoToErrorReceivedAndTheTransportStaysOpen) {
  run([&]() -> Coro<void> {
    // A connected UDP socket to a port nobody listens on: ICMP port unreachable comes back
    // as ECONNREFUSED on the next receive.
    std::uint16_t closed_port;
    {
      auto [t, p] = co_await udp_echo_server();
      closed_port = std::any_cast<asyncio::SocketAddress>(t->get_extra_info("sockname")).port();
      t->close();
    }
    asyncio::DatagramOptions options;
    options.remote_host = "127.0.0.1";
    options.remote_port = closed_port;
    auto [transport, client] = co_await asyncio::create_datagram_endpoint(
        [] { return std::make_shared<DatagramRecorder>(); }, options);
    transport->sendto("anyone?");
    co_await asyncio_test::wait_until([&] { return client->error != nullptr; }, 10s,
                                      "error_received");
    try {
      std::rethrow_exception(client->error);
    } catch (const std::system_error& error) {
      EXPECT_EQ(error.code().value(), ECONNREFUSED);
    }
    EXPECT_FALSE(transport->is_closing());
    EXPECT_FALSE(client->lost());
    transport->abort();
    co_await asyncio_test::wait_until([&] { return client->lost(); }, 10s, "connection_lost");
  }());
}

// Python calls datagram_received from the transport's read callback: its error is reported and
// the endpoint stays open.
TEST_F(ProtocolTest, AThrowingDatagramReceivedIsReportedAndTheEndpointStaysOpen) {
  run([&]() -> Coro<void> {
    asyncio::DatagramOptions options;
    options.local_host = "127.0.0.1";
    auto [transport, fragile] = co_await asyncio::create_datagram_endpoint(
        [] {
          auto p = std::make_shared<DatagramRecorder>();
          p->throw_on_datagram = true;
          return p;
        },
        options);
    const auto address =
        std::any_cast<asyncio::SocketAddress>(transport->get_extra_info("sockname"));
    asyncio::DatagramOptions unbound;  // a variable: g++ 12 destroys a temporary one twice
    auto [sender, unused] = co_await asyncio::create_datagram_endpoint(
        [] { return std::make_shared<DatagramRecorder>(); }, unbound);
    sender->sendto("boom", address);
    co_await asyncio_test::wait_until([&] { return reported("Exception in callback") == 1; }, 10s,
                                      "the error to be reported");
    EXPECT_FALSE(transport->is_closing());
    fragile->throw_on_datagram = false;
    sender->sendto("fine", address);
    co_await asyncio_test::wait_until([&] { return fragile->received.size() == 1; }, 10s,
                                      "the next datagram");
    EXPECT_EQ(fragile->events, "mgg");
    transport->close();
    sender->close();
    co_await asyncio_test::wait_until([&] { return unused->lost(); }, 10s, "connection_lost");
  }());
}

TEST_F(ProtocolTest, UnixDatagramSockets) {
  const std::string base = "/tmp/asyncio-dgram-" + std::to_string(::getpid());
  run([&]() -> Coro<void> {
    asyncio::DatagramOptions server_options;
    server_options.local_path = base + "-server.sock";
    auto [server_transport, server] = co_await asyncio::create_datagram_endpoint(
        [] {
          auto p = std::make_shared<DatagramRecorder>();
          p->echo = true;
          return p;
        },
        server_options);
    asyncio::DatagramOptions client_options;
    client_options.local_path = base + "-client.sock";  // bound, so that replies can come back
    client_options.remote_path = base + "-server.sock";
    auto [transport, client] = co_await asyncio::create_datagram_endpoint(
        [] { return std::make_shared<DatagramRecorder>(); }, client_options);
    transport->sendto("over unix");
    co_await asyncio_test::wait_until([&] { return client->received.size() == 1; }, 10s,
                                      "the echo");
    EXPECT_EQ(client->received[0].first, "over unix");
    transport->close();
    server_transport->close();
    co_await asyncio_test::wait_until([&] { return client->lost() && server->lost(); }, 10s,
                                      "both to close");
  }());
  ::unlink((base + "-server.sock").c_str());
  ::unlink((base + "-client.sock").c_str());
}

TEST_F(ProtocolTest, ClosingTheLoopClosesOpenDatagramTransports) {
  std::shared_ptr<DatagramRecorder> left;
  run([&]() -> Coro<void> {
    auto [transport, protocol] = co_await udp_echo_server();
    protocol->transport.reset();
    left = protocol;
  }());
  EXPECT_FALSE(left->lost());
  loop->close();
  EXPECT_EQ(left->events, "ml");
}

}  // namespace
