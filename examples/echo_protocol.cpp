// Python's "TCP Echo Server" with a Protocol (asyncio docs, Transports and Protocols): each
// connection's first message is printed, sent back, and the connection closed.
//   example_echo_protocol [PORT] [--once]
// PORT is 8888 by default; 0 lets the OS pick a free one (the "Serving on" line tells which).
// --once exits after the first client; Ctrl-C (SIGINT) or SIGTERM stops it any time.
#include <asyncio/asyncio.hpp>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "repr.hpp"
#include "stop_signals.hpp"

// With --once: the server, closed when its first client has gone (null otherwise).
asyncio::Server* close_after_client = nullptr;

// class EchoServerProtocol(asyncio.Protocol):
class EchoServerProtocol : public asyncio::Protocol {
 public:
  void connection_made(std::shared_ptr<asyncio::Transport> transport) override {
    const auto peername =
        std::any_cast<asyncio::SocketAddress>(transport->get_extra_info("peername"));
    std::printf("Connection from %s\n", peername.to_string().c_str());
    transport_ = std::move(transport);
  }

  void data_received(std::string_view data) override {
    std::printf("Data received: %s\n", repr(std::string(data)).c_str());
    std::printf("Send: %s\n", repr(std::string(data)).c_str());
    transport_->write(data);
    std::printf("Close the client socket\n");
    transport_->close();
  }

  void connection_lost(std::exception_ptr) override {
    if (close_after_client) close_after_client->close();  // ends serve_forever()
  }

 private:
  std::shared_ptr<asyncio::Transport> transport_;
};

// async def main():
asyncio::Coro<> main_coro(int port, bool once) {
  // server = await loop.create_server(lambda: EchoServerProtocol(), '127.0.0.1', 8888)
  asyncio::Server server = co_await asyncio::create_server(
      [] { return std::make_shared<EchoServerProtocol>(); }, "127.0.0.1", port);
  for (const asyncio::SocketAddress& address : server.addresses())
    std::printf("Serving on %s\n", address.to_string().c_str());
  if (once) close_after_client = &server;
  asyncio::create_task(close_on_stop_signal(server));
  co_await server.serve_forever();  // async with server: await server.serve_forever()
  co_await server.wait_closed();
}

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each line out at once, also into a pipe or file
  int port = 8888;
  bool once = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--once")
      once = true;
    else
      port = std::atoi(argv[i]);
  }
  asyncio::run(main_coro(port, once));
}
