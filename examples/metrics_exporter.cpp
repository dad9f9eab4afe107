// Exports the loop's counters (loop.stats()) in Prometheus' text format over HTTP: GET /metrics
// on 127.0.0.1:PORT answers format_prometheus(loop.stats()), as a scrape target. The first
// argument is the port (0: any free one, printed). With --fast it scrapes itself once, prints
// what it got and ends.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "asyncio/asyncio.hpp"

asyncio::Coro<> serve_metrics(asyncio::StreamReader reader, asyncio::StreamWriter writer) {
  const std::string request = co_await reader.readuntil("\r\n\r\n");
  const bool metrics = request.starts_with("GET /metrics ");
  const std::string body = metrics ? asyncio::format_prometheus(asyncio::get_running_loop().stats())
                                   : std::string("not found\n");
  writer.write(std::string(metrics ? "HTTP/1.1 200 OK\r\n" : "HTTP/1.1 404 Not Found\r\n") +
               "Content-Type: text/plain; version=0.0.4\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
  co_await writer.drain();
  writer.close();
  co_await writer.wait_closed();
}

asyncio::Coro<> scrape(int port) {
  auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port);
  writer.write("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  co_await writer.drain();
  const std::string response = co_await reader.read();
  std::fwrite(response.data(), 1, response.size(), stdout);
  writer.close();
  co_await writer.wait_closed();
}

asyncio::Coro<> main_coro(int port, bool fast) {
  asyncio::Server server = co_await asyncio::start_server(serve_metrics, "127.0.0.1", port);
  port = asyncio::SocketAddress::local_of(server.sockets().at(0)).port();
  std::printf("metrics on http://127.0.0.1:%d/metrics\n", port);
  std::fflush(stdout);
  if (fast) {
    co_await scrape(port);
    server.close();
    co_await server.wait_closed();
    co_return;
  }
  co_await server.serve_forever();
}

int main(int argc, char** argv) {
  int port = 0;
  bool fast = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--fast")
      fast = true;
    else
      port = std::atoi(argv[i]);
  }
  asyncio::run(main_coro(port, fast));
}
