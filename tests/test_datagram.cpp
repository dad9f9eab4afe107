// Datagram endpoints over real loopback UDP sockets (IPv4 and IPv6): send and receive both
// ways, waiting for a datagram, truncation, errors from the network (ECONNREFUSED), binding a
// busy port, and closing under a waiting receiver.
#include <sys/socket.h>

#include "support/asyncio_test.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio::DatagramEndpoint;
using asyncio::DatagramOptions;

namespace {

using DatagramTest = asyncio_test::LoopFixture;

/// A bound endpoint on `host` and an endpoint connected to it.
Coro<std::pair<DatagramEndpoint, DatagramEndpoint>> server_and_client(std::string host) {
  DatagramOptions bound;
  bound.local_host = host;
  DatagramEndpoint server = co_await asyncio::create_datagram_endpoint(bound);
  DatagramOptions connected;
  connected.remote_host = host;
  connected.remote_port = server.sockname().port();
  DatagramEndpoint client = co_await asyncio::create_datagram_endpoint(connected);
  co_return std::pair{server, client};
}

class DatagramFamilyTest : public DatagramTest,
                           public ::testing::WithParamInterface<const char*> {};

TEST_P(DatagramFamilyTest, SendsAndReceivesBothWays) {
  run([&]() -> Coro<void> {
    auto [server, client] = co_await server_and_client(GetParam());
    EXPECT_EQ(client.peername(), server.sockname());
    auto receiving = asyncio::create_task(server.recvfrom());
    co_await asyncio::sleep(0s);
    EXPECT_FALSE(receiving.done());  // waits for a datagram
    co_await client.send("ping");
    auto [data, sender] = co_await receiving;
    EXPECT_EQ(data, "ping");
    EXPECT_EQ(sender, client.sockname());
    co_await server.sendto("pong", sender);
    const std::string reply = co_await client.recv();
    EXPECT_EQ(reply, "pong");
    co_await server.sendto("", sender);  // an empty datagram is a datagram
    const std::string empty = co_await client.recv();
    EXPECT_EQ(empty, "");
  }());
}

INSTANTIATE_TEST_SUITE_P(Families, DatagramFamilyTest, ::testing::Values("127.0.0.1", "::1"));

TEST_F(DatagramTest, LongDatagramIsTruncatedToTheSizeAsked) {
  run([&]() -> Coro<void> {
    auto [server, client] = co_await server_and_client("127.0.0.1");
    co_await client.send(std::string(1000, 'd'));
    auto [data, sender] = co_await server.recvfrom(10);
    EXPECT_EQ(data, std::string(10, 'd'));
  }());
}

// Linux reports the ICMP "port unreachable" of a connected UDP socket on its next call.
TEST_F(DatagramTest, NetworkErrorsSurfaceAsSystemError) {
  run([&]() -> Coro<void> {
    auto [server, client] = co_await server_and_client("127.0.0.1");
    server.close();
    EXPECT_TRUE(server.is_closing());
    co_await client.send("anyone?");
    try {
      co_await client.recv();
      ADD_FAILURE() << "received from a closed port";
    } catch (const std::system_error& error) {
      EXPECT_EQ(error.code().value(), ECONNREFUSED);
    }
  }());
}

TEST_F(DatagramTest, BindingABusyPortIsSystemError) {
  run([&]() -> Coro<void> {
    auto [server, client] = co_await server_and_client("127.0.0.1");
    DatagramOptions same;
    same.local_host = "127.0.0.1";
    same.local_port = server.sockname().port();
    try {
      co_await asyncio::create_datagram_endpoint(same);
      ADD_FAILURE() << "bound a busy port";
    } catch (const std::system_error& error) {
      EXPECT_EQ(error.code().value(), EADDRINUSE);
    }
  }());
}

// CPython's test_create_datagram_endpoint_no_matching_family: ValueError, before any socket.
TEST_F(DatagramTest, ALocalAndARemoteAddressOfNoCommonFamilyAreInvalid) {
  run([&]() -> Coro<void> {
    DatagramOptions mismatched;
    mismatched.local_host = "::1";
    mismatched.remote_host = "127.0.0.1";
    mismatched.remote_port = 9;
    try {
      co_await asyncio::create_datagram_endpoint(mismatched);
      ADD_FAILURE() << "made an endpoint";
    } catch (const std::invalid_argument& error) {
      EXPECT_STREQ(error.what(), "can not get address information");
    }
  }());
}

TEST_F(DatagramTest, CloseWakesAWaitingReceiverWithEbadf) {
  run([&]() -> Coro<void> {
    auto [server, client] = co_await server_and_client("127.0.0.1");
    auto receiving = asyncio::create_task(server.recvfrom());
    co_await asyncio::sleep(0s);
    server.close();
    try {
      co_await receiving;
      ADD_FAILURE() << "received on a closed endpoint";
    } catch (const std::system_error& error) {
      EXPECT_EQ(error.code().value(), EBADF);
    }
    EXPECT_EQ(server.socket(), -1);
  }());
  EXPECT_TRUE(reports.empty());
}

}  // namespace
