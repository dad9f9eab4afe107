// An echo server with a BufferedProtocol: the transport reads straight into the protocol's own
// buffer (get_buffer / buffer_updated) and the bytes go back from there, with no copy between
// the socket and the protocol's memory. Each connection is echoed until the client closes it.
//   example_echo_buffered [PORT] [--once]
// PORT is 8888 by default; 0 lets the OS pick a free one (the "Serving on" line tells which).
// --once exits after the first client; Ctrl-C (SIGINT) or SIGTERM stops it any time.
#include <asyncio/asyncio.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "stop_signals.hpp"

asyncio::Server* close_after_client = nullptr;

class EchoBufferedProtocol : public asyncio::BufferedProtocol {
 public:
  void connection_made(std::shared_ptr<asyncio::Transport> transport) override {
    transport_ = std::move(transport);
  }

  // Where the next read goes: the protocol's buffer, whole.
  std::span<char> get_buffer(std::size_t) override { return buffer_; }

  // The transport wrote n bytes at the start of buffer_: send them back. What the socket does
  // not take now the transport copies into its write buffer; pause_writing stops reading
  // until it drains, so a client that does not read cannot make the server buffer without end.
  void buffer_updated(std::size_t n) override {
    transport_->write(std::string_view(buffer_.data(), n));
    echoed_ += n;
  }

  void pause_writing() override { transport_->pause_reading(); }
  void resume_writing() override { transport_->resume_reading(); }

  void connection_lost(std::exception_ptr) override {
    std::printf("Echoed %zu bytes\n", echoed_);
    if (close_after_client) close_after_client->close();
  }

 private:
  std::shared_ptr<asyncio::Transport> transport_;
  std::array<char, 64 * 1024> buffer_;
  std::size_t echoed_ = 0;
};

asyncio::Coro<> main_coro(int port, bool once) {
  asyncio::Server server = co_await asyncio::create_server(
      [] { return std::make_shared<EchoBufferedProtocol>(); }, "127.0.0.1", port);
  for (const asyncio::SocketAddress& address : server.addresses())
    std::printf("Serving on %s\n", address.to_string().c_str());
  if (once) close_after_client = &server;
  asyncio::create_task(close_on_stop_signal(server));
  co_await server.serve_forever();
  co_await server.wait_closed();
}

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
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
