// Boost.Asio (C++20 coroutines) peer of bench_io: two coroutines bounce one byte over a Unix
// socket pair on one io_context (epoll). Prints "pingpong_epoll <round trips per second>".
#include <chrono>
#include <cstdio>

#include "asio_common.hpp"

namespace {

using Socket = asio::basic_stream_socket<asio::local::stream_protocol, Executor>;

Awaitable<void> pinger(Socket& socket, int round_trips) {
  char byte = 'x';
  for (int i = 0; i < round_trips; ++i) {
    co_await asio::async_write(socket, asio::buffer(&byte, 1), use_awaitable);
    co_await socket.async_read_some(asio::buffer(&byte, 1), use_awaitable);
  }
}

Awaitable<void> ponger(Socket& socket, int round_trips) {
  char byte = 'y';
  for (int i = 0; i < round_trips; ++i) {
    co_await socket.async_read_some(asio::buffer(&byte, 1), use_awaitable);
    co_await asio::async_write(socket, asio::buffer(&byte, 1), use_awaitable);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  if (!parse_args(argc, argv, quick)) return 2;
  const int round_trips = quick ? 20'000 : 200'000;
  asio::io_context io(kConcurrencyHint);
  Socket a(io.get_executor()), b(io.get_executor());
  asio::local::connect_pair(a, b);
  asio::co_spawn(io, pinger(a, round_trips), asio::detached);
  asio::co_spawn(io, ponger(b, round_trips), asio::detached);
  const auto start = Clock::now();
  io.run();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("pingpong_epoll %.0f\n", round_trips / seconds);
}
