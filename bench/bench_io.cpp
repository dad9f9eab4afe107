// The I/O workload of the comparison with CPython asyncio and Boost.Asio (see compare.py):
// two tasks bounce one byte over a Unix socket pair, each with sock_sendall and
// sock_recv_into, on a loop with each selector backend. Prints "pingpong_<backend> <round
// trips per second>" lines; --quick shrinks the count.
#include <sys/socket.h>
#include <unistd.h>

#include <asyncio/asyncio.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <system_error>

using asyncio::Coro;
using Clock = std::chrono::steady_clock;

namespace {

Coro<void> pinger(asyncio::EventLoop& loop, int fd, int round_trips) {
  std::byte byte{};
  for (int i = 0; i < round_trips; ++i) {
    co_await loop.sock_sendall(fd, "x");
    co_await loop.sock_recv_into(fd, {&byte, 1});
  }
}

Coro<void> ponger(asyncio::EventLoop& loop, int fd, int round_trips) {
  std::byte byte{};
  for (int i = 0; i < round_trips; ++i) {
    co_await loop.sock_recv_into(fd, {&byte, 1});
    co_await loop.sock_sendall(fd, "y");
  }
}

double ping_pong(const char* backend, int round_trips) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
    throw std::system_error(errno, std::generic_category(), "socketpair");
  }
  asyncio::EventLoop loop(asyncio::selectors::make_selector(backend));
  auto both = [&]() -> Coro<void> {
    co_await asyncio::gather(pinger(loop, fds[0], round_trips), ponger(loop, fds[1], round_trips));
  };
  const auto start = Clock::now();
  loop.run_until_complete(both());
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  ::close(fds[0]);
  ::close(fds[1]);
  return round_trips / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const int round_trips = quick ? 20'000 : 200'000;
  for (const char* backend : {"epoll", "poll", "select"}) {
    std::printf("pingpong_%s %.0f\n", backend, ping_pong(backend, round_trips));
  }
}
