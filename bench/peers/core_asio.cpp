// Boost.Asio (C++20 coroutines) versions of bench_core's workloads, written as fast as Asio
// allows: one io_context with concurrency hint 1, post() as sleep(0), co_spawn per task.
// Prints "<name> <value>" lines; --quick shrinks the counts.
#include <boost/asio.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

double ns_since(Clock::time_point start) {
  return std::chrono::duration<double, std::nano>(Clock::now() - start).count();
}

long rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string key;
  long value = 0;
  while (status >> key) {
    if (key == "VmRSS:") {
      status >> value;
      return value * 1024;
    }
    status.ignore(1 << 20, '\n');
  }
  return 0;
}

// Tasks suspended on one shared timer that never expires (Asio's nearest thing to a Future).
double pending_task_bytes(int n) {
  asio::io_context ctx{1};
  asio::steady_timer never(ctx, asio::steady_timer::time_point::max());
  long before = rss_bytes();
  for (int i = 0; i < n; ++i) {
    asio::co_spawn(
        ctx,
        [&never]() -> asio::awaitable<void> {
          try {
            co_await never.async_wait(asio::use_awaitable);
          } catch (const boost::system::system_error&) {
          }
        },
        asio::detached);
  }
  ctx.poll();  // every coroutine runs to its wait
  long after = rss_bytes();
  never.cancel();
  ctx.run();
  return static_cast<double>(after - before) / n;
}

asio::awaitable<void> yield_once() { co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable); }

// co_spawn n coroutines that yield once; a counter finishes the "gather".
double spawn(int n) {
  asio::io_context ctx{1};
  int remaining = n;
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    asio::co_spawn(ctx, yield_once(), [&remaining](std::exception_ptr) { --remaining; });
  }
  ctx.run();
  double result = ns_since(start) / n;
  return remaining == 0 ? result : -1;
}

double sleep0(int n) {
  asio::io_context ctx{1};
  double result = 0;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        auto executor = co_await asio::this_coro::executor;
        auto start = Clock::now();
        for (int i = 0; i < n; ++i) co_await asio::post(executor, asio::use_awaitable);
        result = ns_since(start) / n;
      },
      asio::detached);
  ctx.run();
  return result;
}

double timer_overhead(int n) {
  asio::io_context ctx{1};
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> delay_us(0, 50'000);
  int fired = 0;
  std::vector<std::unique_ptr<asio::steady_timer>> timers;
  timers.reserve(n);
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    timers.push_back(std::make_unique<asio::steady_timer>(ctx, std::chrono::microseconds(delay_us(rng))));
    timers.back()->async_wait([&fired](boost::system::error_code) { ++fired; });
  }
  ctx.run();
  return fired == n ? (ns_since(start) - 50e6) / n : -1;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const int scale = quick ? 10 : 1;
  std::printf("pending_task_bytes %.1f\n", pending_task_bytes(quick ? 10'000 : 100'000));
  std::printf("spawn_ns %.1f\n", spawn(200'000 / scale));
  std::printf("sleep0_ns %.2f\n", sleep0(10'000'000 / scale));
  std::printf("timer_overhead_ns %.1f\n", timer_overhead(quick ? 100'000 : 1'000'000));
}
