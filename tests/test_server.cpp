// start_server / open_connection over real loopback TCP (IPv4 and IPv6) and Unix sockets:
// echo, name resolution, errors, handler failures, closing a server with live connections,
// serve_forever, a peer that resets mid-write, and accepting under EMFILE without spinning.
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <optional>
#include <vector>

#include "support/asyncio_test.hpp"
#include "support/counting_selector.hpp"
#include "support/fds.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio::Server;
using asyncio::StreamReader;
using asyncio::StreamWriter;

namespace {

using ServerTest = asyncio_test::CountingLoopFixture;

/// Echoes lines until EOF, then closes.
Coro<void> echo_lines(StreamReader reader, StreamWriter writer) {
  for (;;) {
    std::string line = co_await reader.readline();
    if (line.empty()) break;
    writer.write(line);
    co_await writer.drain();
  }
  writer.close();
  co_await writer.wait_closed();
}

/// Connects to host:port, sends each message as a line, and gives back the replies.
Coro<std::vector<std::string>> chat(std::string host, std::uint16_t port,
                                    std::vector<std::string> messages) {
  auto [reader, writer] = co_await asyncio::open_connection(host, port);
  std::vector<std::string> replies;
  for (const std::string& message : messages) {
    writer.write(message + "\n");
    replies.push_back(co_await reader.readline());
  }
  writer.write_eof();
  replies.push_back(co_await reader.read());  // "" once the server closed
  writer.close();
  co_await writer.wait_closed();
  co_return replies;
}

class TcpFamilyTest : public ServerTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(TcpFamilyTest, EchoesOverLoopback) {
  const std::string host = GetParam();
  auto replies = run([&]() -> Coro<std::vector<std::string>> {
    Server server = co_await asyncio::start_server(echo_lines, host, 0);
    EXPECT_TRUE(server.is_serving());
    EXPECT_EQ(server.sockets().size(), 1u);
    const std::uint16_t port = server.addresses().at(0).port();
    auto first = asyncio::create_task(chat(host, port, std::vector<std::string>{"hello", "world"}));
    auto second =
        asyncio::create_task(chat(host, port, std::vector<std::string>{std::string(50000, 'x')}));
    auto [a, b] = co_await asyncio::gather(first, second);
    a.insert(a.end(), b.begin(), b.end());
    server.close();
    co_await server.wait_closed();
    EXPECT_TRUE(server.sockets().empty());
    co_return a;
  }());
  EXPECT_TRUE(replies == (std::vector<std::string>{"hello\n", "world\n", "",
                                                   std::string(50000, 'x') + "\n", ""}));
  EXPECT_TRUE(reports.empty());
}

INSTANTIATE_TEST_SUITE_P(Families, TcpFamilyTest, ::testing::Values("127.0.0.1", "::1"));

// "localhost" is a name: it is resolved on the executor.
TEST_F(ServerTest, OpenConnectionResolvesNames) {
  auto replies = run([&]() -> Coro<std::vector<std::string>> {
    Server server = co_await asyncio::start_server(echo_lines, "127.0.0.1", 0);
    const std::vector<std::string> messages{
        "via localhost"};  // (g++ 12 rejects the list inside co_await)
    auto got = co_await chat("localhost", server.addresses().at(0).port(), messages);
    co_return got;
  }());
  EXPECT_EQ(replies.at(0), "via localhost\n");
}

// Host "" resolves to both loopback addresses, ::1 and 127.0.0.1: a server on only one of them
// is still reached, as each address is tried in turn.
TEST_F(ServerTest, OpenConnectionTriesEachAddressInTurn) {
  for (const char* host : {"127.0.0.1", "::1"}) {
    auto replies = run([&]() -> Coro<std::vector<std::string>> {
      const auto loopbacks = co_await asyncio::getaddrinfo("", 0, AF_UNSPEC, SOCK_STREAM);
      EXPECT_EQ(loopbacks.size(), 2u);
      Server server = co_await asyncio::start_server(echo_lines, host, 0);
      const std::vector<std::string> messages{
          "either"};  // (g++ 12 rejects the list inside co_await)
      auto replies = co_await chat("", server.addresses().at(0).port(), messages);
      co_return replies;
    }());
    EXPECT_EQ(replies.at(0), "either\n") << host;
  }
}

TEST_F(ServerTest, GetaddrinfoAnswersNumericHostsAndReportsBadOnes) {
  run([&]() -> Coro<void> {
    auto answers = co_await asyncio::getaddrinfo("::1", 80, AF_UNSPEC, SOCK_STREAM);
    EXPECT_EQ(answers.size(), 1u);
    EXPECT_EQ(answers.at(0).address.to_string(), "[::1]:80");
    answers = co_await asyncio::getaddrinfo("", 8080, AF_INET, SOCK_STREAM, 0, AI_PASSIVE);
    EXPECT_EQ(answers.at(0).address.to_string(), "0.0.0.0:8080");
    try {
      co_await asyncio::getaddrinfo("not an address", 80, AF_UNSPEC, SOCK_STREAM, 0,
                                    AI_NUMERICHOST);
      ADD_FAILURE() << "a name resolved as a numeric address";
    } catch (const std::system_error& error) {
      EXPECT_EQ(error.code(), std::error_code(EAI_NONAME, asyncio::gai_category())) << error.what();
    }
  }());
}

TEST_F(ServerTest, ConnectionRefusedIsSystemError) {
  asyncio_test::Listener closed;  // a port nobody listens on once closed
  const std::uint16_t port = closed.address.port();
  closed.fd.close();
  run([&]() -> Coro<void> {
    try {
      co_await asyncio::open_connection("127.0.0.1", port);
      ADD_FAILURE() << "connected to a closed port";
    } catch (const std::system_error& error) {
      EXPECT_EQ(error.code().value(), ECONNREFUSED) << error.what();
    }
  }());
}

TEST_F(ServerTest, BindingABusyAddressIsSystemError) {
  asyncio_test::Listener taken;
  run([&]() -> Coro<void> {
    asyncio::ServerOptions options;
    options.reuse_address = false;
    try {
      co_await asyncio::start_server(echo_lines, "127.0.0.1", taken.address.port(), options);
      ADD_FAILURE() << "bound a busy port";
    } catch (const std::system_error& error) {
      EXPECT_EQ(error.code().value(), EADDRINUSE) << error.what();
    }
  }());
}

// Python keeps a transport's peername and sockname from its start: a peer that reset the
// connection before anyone asked is still named.
TEST_F(ServerTest, APeerThatResetTheConnectionIsStillNamed) {
  run([&]() -> Coro<void> {
    std::optional<asyncio::SocketAddress> peer, self;
    Server server = co_await asyncio::start_server(
        [&](StreamReader reader, StreamWriter writer) -> Coro<void> {
          try {
            co_await reader.read();
          } catch (const std::system_error&) {  // ECONNRESET
          }
          peer = writer.peername();
          self = writer.sockname();
        },
        "127.0.0.1", 0);
    asyncio_test::Fd client = asyncio_test::make_socket();
    co_await loop->sock_connect(client, server.addresses().at(0));
    const asyncio::SocketAddress ours = asyncio::SocketAddress::local_of(client);
    const linger reset{1, 0};
    EXPECT_EQ(::setsockopt(client, SOL_SOCKET, SO_LINGER, &reset, sizeof reset), 0);
    client.close();  // an RST
    co_await asyncio_test::wait_until([&] { return peer.has_value(); }, 10s,
                                      "the handler to see the reset");
    EXPECT_EQ(peer, ours);
    EXPECT_EQ(self, server.addresses().at(0));
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_F(ServerTest, ExtraInfoGivesBothAddressesAndTheSocket) {
  run([&]() -> Coro<void> {
    std::optional<asyncio::SocketAddress> server_saw_peer, server_saw_self;
    Server server = co_await asyncio::start_server(
        [&](StreamReader reader, StreamWriter writer) -> Coro<void> {
          server_saw_peer =
              std::any_cast<asyncio::SocketAddress>(writer.get_extra_info("peername"));
          server_saw_self = writer.sockname();
          co_await reader.read();
        },
        "127.0.0.1", 0);
    auto [reader, writer] =
        co_await asyncio::open_connection("127.0.0.1", server.addresses().at(0).port());
    EXPECT_EQ(std::any_cast<int>(writer.get_extra_info("socket")), writer.socket());
    EXPECT_FALSE(writer.get_extra_info("no such thing").has_value());
    const asyncio::SocketAddress ours = writer.sockname(), theirs = writer.peername();
    co_await asyncio_test::wait_until([&] { return server_saw_self.has_value(); }, 10s,
                                      "the handler to start");
    EXPECT_EQ(theirs, server.addresses().at(0));
    writer.close();
    co_await writer.wait_closed();
    EXPECT_EQ(writer.socket(), -1);
    EXPECT_EQ(writer.sockname(), ours);  // kept after the close
    server.close();
    co_await server.wait_closed();
    EXPECT_EQ(server_saw_peer, ours);
    EXPECT_EQ(server_saw_self, theirs);
  }());
}

// A handler that throws: the loop's exception handler hears of it, the connection closes, and
// the server goes on serving.
TEST_F(ServerTest, HandlerExceptionIsReportedAndClosesItsConnection) {
  run([&]() -> Coro<void> {
    Server server = co_await asyncio::start_server(
        [](StreamReader reader, StreamWriter) -> Coro<void> {
          if (co_await reader.readline() == "fail\n") throw std::runtime_error("handler failed");
        },
        "127.0.0.1", 0);
    const std::uint16_t port = server.addresses().at(0).port();
    auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port);
    writer.write("fail\n");
    const std::string reply = co_await reader.read();
    EXPECT_EQ(reply, "");                       // closed by the server
    const std::vector<std::string> messages{};  // (g++ 12 rejects the list inside co_await)
    auto replies = co_await chat("127.0.0.1", port, messages);
    EXPECT_EQ(replies, std::vector<std::string>{""});
  }());
  ASSERT_EQ(reported("Unhandled exception in client_connected_cb"), 1u);
  EXPECT_EQ(asyncio_test::what(reports.at(0).exception), "handler failed");
}

// close() stops listening and leaves the live connections open, as Python's: they keep being
// served, and wait_closed() waits for them; close_clients() then closes them: handlers blocked
// in a read see EOF, clients see EOF, wait_closed() returns once all are gone. (LeakSanitizer
// checks that every transport and frame is freed.)
TEST_F(ServerTest, CloseLeavesLiveConnectionsOpenAndWaitClosedWaitsForThem) {
  run([&]() -> Coro<void> {
    Server server = co_await asyncio::start_server(echo_lines, "127.0.0.1", 0);
    const std::uint16_t port = server.addresses().at(0).port();
    auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port);
    co_await asyncio_test::wait_until([&] { return server.active_connections() >= 1; }, 10s,
                                      "the server to take the connection");
    server.close();
    EXPECT_FALSE(server.is_serving());
    EXPECT_TRUE(server.sockets().empty());
    auto closing = asyncio::create_task(server.wait_closed());
    writer.write("still served\n");
    EXPECT_EQ(co_await reader.readline(), "still served\n");
    EXPECT_FALSE(closing.done());
    writer.close();
    co_await closing;
    EXPECT_EQ(server.active_connections(), 0u);
    const bool refused = co_await asyncio_test::throws<std::system_error>(
        asyncio::open_connection("127.0.0.1", port));
    EXPECT_TRUE(refused);
  }());
}

TEST_F(ServerTest, CloseClientsClosesLiveConnectionsAndWaitClosedWaitsForThem) {
  run([&]() -> Coro<void> {
    int handlers_done = 0;
    Server server = co_await asyncio::start_server(
        [&](StreamReader reader, StreamWriter) -> Coro<void> {
          const std::string got = co_await reader.read();
          EXPECT_EQ(got, "");
          ++handlers_done;
        },
        "127.0.0.1", 0);
    const std::uint16_t port = server.addresses().at(0).port();
    std::vector<asyncio::StreamPair> clients;
    for (int i = 0; i < 3; ++i)
      clients.push_back(co_await asyncio::open_connection("127.0.0.1", port));
    co_await asyncio_test::wait_until([&] { return server.active_connections() >= 3; }, 10s,
                                      "the server to take all three connections");
    server.close();
    EXPECT_EQ(server.active_connections(), 3u);
    server.close_clients();
    EXPECT_EQ(server.active_connections(), 0u);  // no bytes were buffered: closed at once
    co_await server.wait_closed();
    for (auto& [reader, writer] : clients) {
      const std::string got = co_await reader.read();
      EXPECT_EQ(got, "");
    }
    co_await asyncio_test::wait_until([&] { return handlers_done >= 3; }, 10s,
                                      "the three handlers to end");
    try {
      co_await asyncio::open_connection("127.0.0.1", port);
      ADD_FAILURE() << "connected to a closed server";
    } catch (const std::system_error& error) {
      EXPECT_EQ(error.code().value(), ECONNREFUSED);
    }
  }());
}

// Python's client_connected_cb may be a plain callable: it is called from connection_made, in
// no task; what it starts, it starts itself.
TEST_F(ServerTest, APlainCallableHandlerIsCalledAsTheConnectionIsMade) {
  run([&]() -> Coro<void> {
    std::vector<asyncio::Task<void>> started;
    bool in_a_task = true;
    Server server = co_await asyncio::start_server(
        [&](StreamReader reader, StreamWriter writer) {
          in_a_task = asyncio::current_task().valid();
          writer.write("welcome\n");
          started.push_back(asyncio::create_task(echo_lines(std::move(reader), writer)));
        },
        "127.0.0.1", 0);
    const std::vector<std::string> messages{"ping"};
    auto replies = co_await chat("127.0.0.1", server.addresses().at(0).port(), messages);
    EXPECT_FALSE(in_a_task);
    EXPECT_EQ(replies, (std::vector<std::string>{"welcome\n", "ping\n"}));  // then the end
    EXPECT_EQ(started.size(), 1u);
    co_await asyncio::gather(started);
    server.close();
    co_await server.wait_closed();

    const std::string path = (std::filesystem::temp_directory_path() /
                              ("asyncio-plain-" + std::to_string(::getpid()) + ".sock"))
                                 .string();
    Server unix_server = co_await asyncio::start_unix_server(
        [](StreamReader, StreamWriter writer) {
          writer.write("over unix\n");
          writer.close();
        },
        path);
    auto [reader, writer] = co_await asyncio::open_unix_connection(path);
    const std::string got = co_await reader.read();
    EXPECT_EQ(got, "over unix\n");
    writer.close();
    unix_server.close();
    co_await unix_server.wait_closed();
  }());
}

TEST_F(ServerTest, ANotYetServingServerRefusesConnections) {
  run([&]() -> Coro<void> {
    asyncio::ServerOptions options;
    options.start_serving = false;
    Server server = co_await asyncio::start_server(echo_lines, "127.0.0.1", 0, options);
    const std::uint16_t port = server.addresses().at(0).port();  // bound, so it has a port
    try {
      co_await asyncio::open_connection("127.0.0.1", port);
      ADD_FAILURE() << "connected to a server that does not listen yet";
    } catch (const std::system_error& error) {
      EXPECT_EQ(error.code().value(), ECONNREFUSED);
    }
    server.start_serving();
    const std::vector<std::string> messages{"ping"};
    auto replies = co_await chat("127.0.0.1", port, messages);
    EXPECT_EQ(replies.at(0), "ping\n");
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_F(ServerTest, DroppingTheLastHandleClosesTheServer) {
  run([&]() -> Coro<void> {
    std::uint16_t port;
    {
      Server server = co_await asyncio::start_server(echo_lines, "127.0.0.1", 0);
      port = server.addresses().at(0).port();
    }
    const bool refused = co_await asyncio_test::throws<std::system_error>(
        asyncio::open_connection("127.0.0.1", port));
    EXPECT_TRUE(refused);
  }());
}

TEST_F(ServerTest, ServeForeverReturnsOnCloseAndClosesWhenCancelled) {
  run([&]() -> Coro<void> {
    asyncio::ServerOptions options;
    options.start_serving = false;
    Server server = co_await asyncio::start_server(echo_lines, "127.0.0.1", 0, options);
    EXPECT_FALSE(server.is_serving());
    auto serving = asyncio::create_task(server.serve_forever());
    co_await asyncio::sleep(0s);
    EXPECT_TRUE(server.is_serving());
    const bool twice = co_await asyncio_test::throws<asyncio::RuntimeError>(server.serve_forever());
    EXPECT_TRUE(twice);
    const std::vector<std::string> messages{"ping"};  // (g++ 12 rejects the list inside co_await)
    auto replies = co_await chat("127.0.0.1", server.addresses().at(0).port(), messages);
    EXPECT_EQ(replies.at(0), "ping\n");
    server.close();
    co_await serving;  // returns: closed
    const bool closed =
        co_await asyncio_test::throws<asyncio::RuntimeError>(server.serve_forever());
    EXPECT_TRUE(closed);

    Server other = co_await asyncio::start_server(echo_lines, "127.0.0.1", 0);
    auto forever = asyncio::create_task(other.serve_forever());
    co_await asyncio::sleep(0s);
    forever.cancel();
    bool cancelled = false;
    try {
      co_await forever;
    } catch (const asyncio::CancelledError&) {
      cancelled = true;
    }
    EXPECT_TRUE(cancelled);
    EXPECT_TRUE(other.sockets().empty());
  }());
}

// The peer resets the connection (SO_LINGER 0) while the server writes: drain() raises
// ECONNRESET or EPIPE, the handler ends, and the loop sleeps afterwards.
TEST_F(ServerTest, PeerResetMidWriteRaisesAndNeverSpins) {
  std::optional<std::string> handler_error;
  run([&]() -> Coro<void> {
    Server server = co_await asyncio::start_server(
        [&](StreamReader, StreamWriter writer) -> Coro<void> {
          const std::string block(64 * 1024, 'r');
          try {
            for (;;) {
              writer.write(block);
              co_await writer.drain();
            }
          } catch (const std::system_error& error) {
            handler_error = std::to_string(error.code().value());
          }
        },
        "127.0.0.1", 0);
    auto [reader, writer] =
        co_await asyncio::open_connection("127.0.0.1", server.addresses().at(0).port());
    co_await reader.readexactly(100000);  // the server is writing
    const linger reset{1, 0};
    ::setsockopt(writer.socket(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    writer.abort();
    co_await asyncio_test::wait_until([&] { return handler_error.has_value(); }, 10s,
                                      "the handler's drain() to fail");
    server.close();
    co_await server.wait_closed();
  }());
  EXPECT_TRUE(*handler_error == std::to_string(ECONNRESET) ||
              *handler_error == std::to_string(EPIPE))
      << *handler_error;
  EXPECT_LE(polls_during(50ms), 5u);
}

// With descriptors exhausted, accept fails with EMFILE: the server pauses accepting for
// accept_retry_delay instead of spinning on the pending connection, reports it once per pause,
// and serves the connection once a descriptor is free again.
/// Makes, reports and describes a std::system_error, as the server does on EMFILE.
void warm_up_system_error() {
  const asyncio::ExceptionContext context{
      "warm-up",
      std::make_exception_ptr(std::system_error(EMFILE, std::generic_category(), "accept")), ""};
  EXPECT_FALSE(asyncio_test::what(context.exception).empty());
}

TEST_F(ServerTest, AcceptUnderEmfileNeitherSpinsNorDies) {
  rlimit saved;
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  struct Restore {
    rlimit limit;
    ~Restore() { ::setrlimit(RLIMIT_NOFILE, &limit); }
  } restore{saved};
  // While descriptors are exhausted, the test does nothing it has not done before: UBSan checks
  // a member access of a type it has not met yet through a pipe, which it could not open.
  auto poll_count = [this] { return polls(); };
  const auto pauses = [&seen = reports] {
    return std::count_if(seen.begin(), seen.end(), [](const asyncio::ExceptionContext& c) {
      return c.message == "socket.accept() out of system resource";
    });
  };
  run([&]() -> Coro<void> {
    int served = 0;
    asyncio::ServerOptions options;
    options.accept_retry_delay = 20ms;
    options.start_serving = false;  // serving starts once descriptors are exhausted
    Server server = co_await asyncio::start_server(
        [&](StreamReader, StreamWriter writer) -> Coro<void> {
          ++served;
          writer.write("welcome\n");
          co_return;
        },
        "127.0.0.1", 0, options);
    asyncio_test::Fd client = asyncio_test::make_socket();
    // The window below sleeps and the server reports a std::system_error: UBSan meets each of
    // these types here first.
    co_await asyncio::sleep(1ms);
    warm_up_system_error();
    {  // a connection accepted (on io_uring, by the server's accept, through its Acceptor)
      Server warm_up = co_await asyncio::start_server(
          [](StreamReader, StreamWriter) -> Coro<void> { co_return; }, "127.0.0.1", 0);
      asyncio_test::Fd other = asyncio_test::make_socket();
      co_await asyncio::get_running_loop().sock_connect(other, warm_up.addresses().at(0));
      char byte;
      co_await asyncio::get_running_loop().sock_recv_into(
          other, std::as_writable_bytes(std::span(&byte, 1)));
      warm_up.close();
      co_await warm_up.wait_closed();
      (void)poll_count();  // (the fixture's member call, met here first too)
    }
    // The lowest free number is taken, and the limit forbids any above it: accept has none.
    asyncio_test::Fd spare(::dup(0));
    rlimit low = saved;
    low.rlim_cur = static_cast<rlim_t>(spare.fd) + 1;
    EXPECT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
    server.start_serving();
    // Connecting takes no descriptor (the socket was made before); accepting it would.
    co_await asyncio::get_running_loop().sock_connect(client, server.addresses().at(0));
    // The window starts once accept has failed: it holds the retry due 20 ms after that
    // failure (timers run by deadline), so there are at least two reports however late the
    // loop gets to run.
    co_await asyncio_test::wait_until([&] { return pauses() > 0; }, 10s,
                                      "accept to fail with EMFILE");
    const std::size_t polls_before = poll_count();
    co_await asyncio::sleep(200ms);
    const std::size_t polls_paused = poll_count() - polls_before;
    const int served_paused = served;
    const auto reported_pauses = pauses();
    // Descriptors are free again: the fd taken, and the limit back.
    spare.close();
    ::setrlimit(RLIMIT_NOFILE, &saved);
    EXPECT_EQ(served_paused, 0);
    EXPECT_LE(polls_paused, 60u);  // ~10 pauses of 20 ms, a few polls each; a spin makes thousands
    EXPECT_GE(reported_pauses, 2);
    EXPECT_LE(reported_pauses, 20);
    co_await asyncio_test::wait_until([&] { return served > 0; }, 10s,
                                      "the connection to be served");
    const std::string reply = co_await asyncio::get_running_loop().sock_recv(client, 100);
    EXPECT_EQ(reply, "welcome\n");
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_F(ServerTest, UnixServerRemovesStaleAndOwnSocketFiles) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("asyncio-test-" + std::to_string(::getpid()) + ".sock"))
                               .string();
  {  // a stale socket file, left by a server that died
    asyncio_test::Fd stale = asyncio_test::make_socket(AF_UNIX);
    const asyncio::SocketAddress address = asyncio::SocketAddress::unix_path(path);
    ASSERT_EQ(::bind(stale, address.data(), address.size()), 0);
  }
  auto replies = run([&]() -> Coro<std::vector<std::string>> {
    Server server = co_await asyncio::start_unix_server(echo_lines, path);
    auto [reader, writer] = co_await asyncio::open_unix_connection(path);
    writer.write("over unix\n");
    std::vector<std::string> got;
    got.push_back(co_await reader.readline());
    writer.close();
    co_await writer.wait_closed();
    server.close();
    co_await server.wait_closed();
    co_return got;
  }());
  EXPECT_EQ(replies, std::vector<std::string>{"over unix\n"});
  EXPECT_FALSE(std::filesystem::exists(path));
}

// An abstract name (a leading NUL) is exactly its bytes, no NUL after them, as Python and every
// other program bind and connect it: a client outside this library reaches the server.
TEST_F(ServerTest, AnAbstractUnixNameIsExactlyItsBytes) {
  const std::string name = std::string(1, '\0') + "asyncio-test-" + std::to_string(::getpid());
  EXPECT_EQ(asyncio::SocketAddress::unix_path(name).size(),
            offsetof(sockaddr_un, sun_path) + name.size());
  EXPECT_EQ(asyncio::SocketAddress::unix_path(name).host(), name);
  auto reply = run([&]() -> Coro<std::string> {
    Server server = co_await asyncio::start_unix_server(echo_lines, name);
    asyncio_test::Fd client = asyncio_test::make_socket(AF_UNIX);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, name.data(), name.size());
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    EXPECT_EQ(::connect(client, reinterpret_cast<const sockaddr*>(&address), length), 0)
        << std::strerror(errno);
    EXPECT_EQ(::send(client, "raw\n", 4, MSG_NOSIGNAL), 4);
    std::string got = co_await asyncio::get_running_loop().sock_recv(client, 100);
    ::shutdown(client, SHUT_WR);  // its handler ends, so that wait_closed() can return
    auto [reader, writer] = co_await asyncio::open_unix_connection(name);
    writer.write("ours\n");
    got += co_await reader.readline();
    writer.close();
    co_await writer.wait_closed();
    server.close();
    co_await server.wait_closed();
    co_return got;
  }());
  EXPECT_EQ(reply, "raw\nours\n");
}

}  // namespace
