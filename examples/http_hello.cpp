// A minimal HTTP/1.1 server on streams: every request gets "200 OK" and "Hello, world!\n", with
// keep-alive (the handler is in hello_http.hpp, shared with https_hello.cpp).
//   example_http_hello [PORT] [--seconds N] [--shards N]
//     PORT 8080 by default (0 picks a free one, without --shards); --shards N serves the port
//     from N loops on N threads (0: one per CPU), each listening with SO_REUSEPORT.
//   curl -v http://127.0.0.1:8080/ http://127.0.0.1:8080/again    (two requests, one connection)
//   wrk -c 50 -d 10s http://127.0.0.1:8080/
// It stops after N seconds with --seconds, and on SIGINT (Ctrl-C) or SIGTERM.
#include <asyncio/asyncio.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "hello_http.hpp"
#include "stop_signals.hpp"

namespace {

asyncio::Coro<> close_after(asyncio::Server& server, double seconds) {
  co_await asyncio::sleep(std::chrono::duration<double>(seconds));
  server.close();
}

/// One shard's server with --shards: Shards owns SIGINT and SIGTERM, and stops every shard.
asyncio::Coro<> shard_main(std::size_t shard, int port, double seconds) {
  asyncio::Server server = co_await asyncio::start_server(hello_http::serve_client, "127.0.0.1",
                                                          port, {.reuse_port = true});
  if (shard == 0)
    std::printf("Serving on http://127.0.0.1:%d/ from %zu shards\n", port,
                asyncio::Shards::current()->size());
  if (seconds > 0) asyncio::create_task(close_after(server, seconds));
  co_await server.serve_forever();
  co_await server.wait_closed();
}

asyncio::Coro<> main_coro(int port, double seconds) {
  asyncio::Server server =
      co_await asyncio::start_server(hello_http::serve_client, "127.0.0.1", port);
  for (const asyncio::SocketAddress& address : server.addresses()) {
    std::printf("Serving on http://%s/\n", address.to_string().c_str());
  }
  if (seconds > 0) asyncio::create_task(close_after(server, seconds));
  asyncio::create_task(close_on_stop_signal(server));
  co_await server.serve_forever();  // until the server is closed
  co_await server.wait_closed();
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each line out at once, also into a pipe or file
  int port = 8080;
  double seconds = 0;
  int shards = -1;  // none: one loop, on this thread
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else if (std::string_view(argv[i]) == "--shards" && i + 1 < argc) {
      shards = std::atoi(argv[++i]);
    } else {
      port = std::atoi(argv[i]);
    }
  }
  if (shards < 0) {
    asyncio::run(main_coro(port, seconds));
    return 0;
  }
  try {
    asyncio::run_sharded(static_cast<std::size_t>(shards),
                         [&](std::size_t shard) { return shard_main(shard, port, seconds); });
  } catch (const asyncio::KeyboardInterrupt&) {  // Ctrl-C stopped every shard: a normal end
  }
}
