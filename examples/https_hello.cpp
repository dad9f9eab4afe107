// The HTTP "hello" server of http_hello.cpp over TLS: Python's
//   ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH); ctx.load_cert_chain(cert, key)
//   server = await asyncio.start_server(handler, host, port, ssl=ctx)
// It offers ALPN "http/1.1" (curl then speaks HTTP/1.1 to it).
//   example_https_hello CERT KEY [PORT] [--seconds N]    (PORT 8443 by default; 0: a free one)
//   curl --cacert CERT https://localhost:8443/
//   wrk -c 50 -d 10s https://localhost:8443/
// It stops after N seconds with --seconds, and on SIGINT (Ctrl-C) or SIGTERM.
#include <asyncio/asyncio.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "hello_http.hpp"
#include "stop_signals.hpp"

namespace {

asyncio::Coro<> close_after(asyncio::Server& server, double seconds) {
  co_await asyncio::sleep(std::chrono::duration<double>(seconds));
  server.close();
}

asyncio::Coro<> main_coro(std::string cert, std::string key, int port, double seconds) {
  auto context = asyncio::ssl::create_default_context(asyncio::ssl::Purpose::CLIENT_AUTH);
  context->load_cert_chain(cert, key);
  context->set_alpn_protocols(std::vector<std::string>{"http/1.1"});
  asyncio::ServerOptions options;
  options.backlog = 1024;
  options.ssl = context;
  asyncio::Server server =
      co_await asyncio::start_server(hello_http::serve_client, "127.0.0.1", port, options);
  for (const asyncio::SocketAddress& address : server.addresses()) {
    std::printf("Serving on https://%s/\n", address.to_string().c_str());
  }
  if (seconds > 0) asyncio::create_task(close_after(server, seconds));
  asyncio::create_task(close_on_stop_signal(server));
  co_await server.serve_forever();  // until the server is closed
  co_await server.wait_closed();
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each line out at once, also into a pipe or file
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s CERT KEY [PORT] [--seconds N]\n", argv[0]);
    return 2;
  }
  int port = 8443;
  double seconds = 0;
  for (int i = 3; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else {
      port = std::atoi(argv[i]);
    }
  }
  try {
    asyncio::run(main_coro(argv[1], argv[2], port, seconds));
  } catch (const std::exception& error) {  // a certificate that cannot be loaded, a busy port
    std::fprintf(stderr, "error: %s\n", error.what());
    return 1;
  }
}
