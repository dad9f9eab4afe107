// Boost.Asio (C++20 coroutines) peer of the echo benchmarks (compare.py echo): an echo server on
// one io_context with the single-thread concurrency hint. A coroutine per connection reads up to
// 64 KiB with async_read_some into its own buffer and writes it back with async_write, until end
// of file or an error. Listens on 127.0.0.1:PORT (backlog 1024); exits with status 0 on SIGINT
// or SIGTERM. Usage: bench_echo_asio PORT
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "asio_common.hpp"

namespace {

using Acceptor = asio::basic_socket_acceptor<asio::ip::tcp, Executor>;
using Socket = asio::basic_stream_socket<asio::ip::tcp, Executor>;

constexpr std::size_t kReadSize = 65536;

Awaitable<void> echo(Socket socket) {
  auto buffer = std::make_unique_for_overwrite<char[]>(kReadSize);
  for (;;) {
    auto [read_error, n] = co_await socket.async_read_some(asio::buffer(buffer.get(), kReadSize),
                                                           asio::as_tuple(use_awaitable));
    if (read_error) co_return;  // end of file, or reset by the peer
    auto [write_error, written] = co_await asio::async_write(socket, asio::buffer(buffer.get(), n),
                                                             asio::as_tuple(use_awaitable));
    if (write_error) co_return;
  }
}

Awaitable<void> accept_connections(Acceptor& acceptor) {
  for (;;) {
    auto [error, socket] = co_await acceptor.async_accept(asio::as_tuple(use_awaitable));
    if (error == asio::error::operation_aborted) co_return;
    if (error) continue;  // e.g. a connection reset before it was accepted
    socket.set_option(asio::ip::tcp::no_delay(true));
    asio::co_spawn(acceptor.get_executor(), echo(std::move(socket)), asio::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
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
  asio::co_spawn(io, accept_connections(acceptor), asio::detached);
  io.run();
}
