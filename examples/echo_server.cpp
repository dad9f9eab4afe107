// Python's "TCP echo server using streams" (asyncio docs): each client's messages are printed
// with its address and sent back, until the client closes the connection.
//   example_echo_server [PORT] [--once]
// PORT is 8888 by default; 0 lets the OS pick a free one (the "Serving on" line tells which).
// --once exits after the first client; Ctrl-C (SIGINT) or SIGTERM stops it any time.
#include <asyncio/asyncio.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "repr.hpp"
#include "stop_signals.hpp"

// With --once: the server, closed when its first client has gone (null otherwise).
asyncio::Server* close_after_client = nullptr;

// async def handle_echo(reader, writer):
asyncio::Coro<> handle_echo(asyncio::StreamReader reader, asyncio::StreamWriter writer) {
  const std::string addr = writer.peername().to_string();  // writer.get_extra_info('peername')
  for (;;) {
    std::string data = co_await reader.read(100);  // data = await reader.read(100)
    if (data.empty()) break;                       // end of file: the client closed
    std::printf("Received %s from %s\n", repr(data).c_str(), addr.c_str());
    std::printf("Send: %s\n", repr(data).c_str());
    writer.write(data);
    co_await writer.drain();
  }
  std::printf("Close the connection\n");
  writer.close();
  co_await writer.wait_closed();
  if (close_after_client) close_after_client->close();  // ends serve_forever()
}

// async def main():
asyncio::Coro<> main_coro(int port, bool once) {
  // server = await asyncio.start_server(handle_echo, '127.0.0.1', 8888)
  asyncio::Server server = co_await asyncio::start_server(handle_echo, "127.0.0.1", port);
  for (const asyncio::SocketAddress& address : server.addresses()) {  // server.sockets
    std::printf("Serving on %s\n", address.to_string().c_str());
  }
  if (once) close_after_client = &server;
  asyncio::create_task(close_on_stop_signal(server));
  co_await server.serve_forever();  // await server.serve_forever(): until the server is closed
  co_await server.wait_closed();
}

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each line out at once, also into a pipe or file
  int port = 8888;
  bool once = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--once") {
      once = true;
    } else {
      port = std::atoi(argv[i]);
    }
  }
  asyncio::run(main_coro(port, once));
}
