// Boost.Asio (C++20 coroutines) TLS peer of the echo benchmarks (compare.py tls_echo): the echo
// server of echo_asio.cpp over asio::ssl::stream (OpenSSL), with the same certificate and
// OpenSSL's default TLS 1.3 settings. A coroutine per connection does the server handshake,
// then reads up to 64 KiB with async_read_some and writes it back with async_write, until end
// of file or an error. Listens on 127.0.0.1:PORT (backlog 1024); exits with status 0 on SIGINT
// or SIGTERM. Usage: bench_echo_asio_tls PORT CERT KEY
#include <boost/asio/ssl.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "asio_common.hpp"

namespace {

using Acceptor = asio::basic_socket_acceptor<asio::ip::tcp, Executor>;
using Socket = asio::basic_stream_socket<asio::ip::tcp, Executor>;
using TLSStream = asio::ssl::stream<Socket>;

constexpr std::size_t kReadSize = 65536;

Awaitable<void> echo(std::unique_ptr<TLSStream> stream) {
  auto [handshake_error] = co_await stream->async_handshake(asio::ssl::stream_base::server,
                                                            asio::as_tuple(use_awaitable));
  if (handshake_error) co_return;
  auto buffer = std::make_unique_for_overwrite<char[]>(kReadSize);
  for (;;) {
    auto [read_error, n] = co_await stream->async_read_some(asio::buffer(buffer.get(), kReadSize),
                                                            asio::as_tuple(use_awaitable));
    if (read_error) co_return;  // end of file, or reset by the peer
    auto [write_error, written] = co_await asio::async_write(*stream, asio::buffer(buffer.get(), n),
                                                             asio::as_tuple(use_awaitable));
    if (write_error) co_return;
  }
}

Awaitable<void> accept_connections(Acceptor& acceptor, asio::ssl::context& context) {
  for (;;) {
    auto [error, socket] = co_await acceptor.async_accept(asio::as_tuple(use_awaitable));
    if (error == asio::error::operation_aborted) co_return;
    if (error) continue;  // e.g. a connection reset before it was accepted
    socket.set_option(asio::ip::tcp::no_delay(true));
    asio::co_spawn(acceptor.get_executor(),
                   echo(std::make_unique<TLSStream>(std::move(socket), context)), asio::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s PORT CERT KEY\n", argv[0]);
    return 2;
  }
  asio::ssl::context context(asio::ssl::context::tls_server);
  context.use_certificate_chain_file(argv[2]);
  context.use_private_key_file(argv[3], asio::ssl::context::pem);
  asio::io_context io(kConcurrencyHint);
  Acceptor acceptor(io.get_executor());
  const asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"),
                                         static_cast<unsigned short>(std::atoi(argv[1])));
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(1024);
  asio::signal_set stop_signals(io, SIGINT, SIGTERM);
  stop_signals.async_wait([&](const boost::system::error_code&, int) { io.stop(); });
  asio::co_spawn(io, accept_connections(acceptor, context), asio::detached);
  io.run();
}
