// Our server of the echo benchmarks (compare.py echo), on StreamReader / StreamWriter: each
// connection's handler reads up to 64 KiB with reader.read, writes it back with writer.write and
// waits in writer.drain, until end of file. Listens on 127.0.0.1:PORT (backlog 1024); exits with
// status 0 on SIGINT or SIGTERM. Usage: echo_server PORT
#include <asyncio/asyncio.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <system_error>

#include "stop_signals.hpp"  // examples/stop_signals.hpp: close_on_stop_signal(server)

namespace {

asyncio::Coro<> echo(asyncio::StreamReader reader, asyncio::StreamWriter writer) {
  try {
    for (;;) {
      std::string data = co_await reader.read(65536);
      if (data.empty()) break;
      writer.write(data);
      co_await writer.drain();
    }
  } catch (const std::system_error&) {  // reset by the peer
  }
  writer.close();
  co_await writer.wait_closed();
}

asyncio::Coro<> serve(int port) {
  asyncio::Server server = co_await asyncio::start_server(echo, "127.0.0.1", port,
                                                          asyncio::ServerOptions{.backlog = 1024});
  asyncio::create_task(close_on_stop_signal(server));
  co_await server.serve_forever();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  asyncio::run(serve(std::atoi(argv[1])));
}
