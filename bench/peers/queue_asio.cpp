// Boost.Asio (C++20 coroutines) peer of bench_sync's queue workload: producer -> consumer
// handoff through an experimental::channel of capacity 128, one io_context, one thread.
// Prints "queue_handoff_ns <value>". Asio has no asynchronous mutex, so there is no lock_ns.
#include <boost/asio/experimental/channel.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>

#include "../median_of.hpp"

#include "asio_common.hpp"

namespace {

using Channel = asio::experimental::channel<Executor, void(boost::system::error_code, int)>;

Awaitable<void> produce(Channel& channel, int n) {
  for (int i = 0; i < n; ++i)
    co_await channel.async_send(boost::system::error_code{}, i, use_awaitable);
}

Awaitable<void> consume(Channel& channel, int n, long& sum) {
  for (int i = 0; i < n; ++i) sum += co_await channel.async_receive(use_awaitable);
}

double queue_handoff(int n) {
  asio::io_context ctx{kConcurrencyHint};
  Channel channel(ctx.get_executor(), 128);
  long sum = 0;
  int finished = 0;
  auto done = [&finished](std::exception_ptr error) {
    if (error) std::rethrow_exception(error);
    ++finished;
  };
  auto start = Clock::now();
  asio::co_spawn(ctx.get_executor(), produce(channel, n), done);
  asio::co_spawn(ctx.get_executor(), consume(channel, n, sum), done);
  ctx.run();
  double result = ns_since(start) / n;
  if (finished != 2 || sum != static_cast<long>(n) * (n - 1) / 2) {
    std::fprintf(stderr, "queue_handoff: %d of 2 coroutines finished, sum %ld\n", finished, sum);
    return NAN;
  }
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick;
  if (!parse_args(argc, argv, quick)) return 2;
  const double result = median_of(5, [&] { return queue_handoff(quick ? 200'000 : 2'000'000); });
  std::printf("queue_handoff_ns %.2f\n", result);
  return std::isnan(result) ? 1 : 0;
}
