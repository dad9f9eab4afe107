// Python's "TCP echo client using streams" (asyncio docs): connects, sends a message, prints
// the reply, closes the connection.
//   example_echo_client [PORT] [MESSAGE]      (defaults: 8888, "Hello World!")
#include <asyncio/asyncio.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "repr.hpp"

// async def tcp_echo_client(message):
asyncio::Coro<> tcp_echo_client(std::string message, int port) {
  // reader, writer = await asyncio.open_connection('127.0.0.1', 8888)
  auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port);

  std::printf("Send: %s\n", repr(message).c_str());
  writer.write(message);
  co_await writer.drain();

  std::string data = co_await reader.read(100);
  std::printf("Received: %s\n", repr(data).c_str());

  std::printf("Close the connection\n");
  writer.close();
  co_await writer.wait_closed();
}

int main(int argc, char** argv) {
  const int port = argc > 1 ? std::atoi(argv[1]) : 8888;
  const std::string message = argc > 2 ? argv[2] : "Hello World!";
  asyncio::run(tcp_echo_client(message, port));  // asyncio.run(tcp_echo_client('Hello World!'))
}
