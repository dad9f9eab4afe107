// Boost.Asio (C++20 coroutines) peer of bench_core: spawn, sleep(0), timer overhead and memory per
// pending task on one io_context, written as fast as Asio allows; with --count, also coroutines
// sleeping random delays and coroutines receiving from a channel with a deadline. Prints
// "<name> <value>" lines.
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/channel.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <random>
#include <vector>

#include "../median_of.hpp"
#include "../resident_memory.hpp"
#include "asio_common.hpp"

namespace {

using Timer = asio::basic_waitable_timer<Clock, asio::wait_traits<Clock>, Executor>;

// sleep(0): post the coroutine's continuation to the back of the ready queue. post(deferred)
// measured fastest of post(executor, use_awaitable), post(use_awaitable) and post(deferred).
auto yield_to_loop() { return asio::post(asio::deferred); }

// --- pending_task_bytes: n coroutines suspended on one shared timer that never expires ---
// (Asio's nearest thing to a never-completed Future.) Frames, wait operations and everything
// co_spawn allocates per coroutine are counted.
Awaitable<void> wait_on(Timer& never) {
  // as_tuple: the final cancel() completes the wait with operation_aborted instead of throwing.
  auto [error] = co_await never.async_wait(asio::as_tuple(use_awaitable));
  (void)error;
}

double pending_task_bytes(int n) {
  asio::io_context ctx{kConcurrencyHint};
  Timer never(ctx.get_executor(), Timer::time_point::max());
  int finished = 0;
  long before = rss_bytes();
  for (int i = 0; i < n; ++i) {
    asio::co_spawn(ctx.get_executor(), wait_on(never),
                   [&finished](std::exception_ptr) { ++finished; });
  }
  ctx.poll();  // every coroutine runs up to its wait; the timer never fires, so poll() returns
  long after = rss_bytes();
  never.cancel();
  ctx.run();
  if (finished != n) {
    std::fprintf(stderr, "pending_task_bytes: %d of %d coroutines finished\n", finished, n);
    return NAN;
  }
  return static_cast<double>(after - before) / n;
}

// --- spawn_ns: co_spawn n coroutines that yield once; a countdown plays gather ---
Awaitable<void> yield_once() { co_await yield_to_loop(); }

// spawn_done_ns: the same with coroutines that finish without suspending (Asio has no eager
// start: co_spawn always runs a coroutine from the io_context).
Awaitable<void> finish_at_once() { co_return; }

double spawn(int n, bool finish_at_once_instead = false) {
  asio::io_context ctx{kConcurrencyHint};
  int remaining = n;
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    asio::co_spawn(ctx.get_executor(), finish_at_once_instead ? finish_at_once() : yield_once(),
                   [&remaining](std::exception_ptr) { --remaining; });
  }
  ctx.run();  // returns once every coroutine and its completion handler have run
  double result = ns_since(start) / n;
  if (remaining != 0) {
    std::fprintf(stderr, "spawn: %d of %d coroutines did not finish\n", remaining, n);
    return NAN;
  }
  return result;
}

// --- sleep0_ns: one coroutine yielding to the loop n times ---
Awaitable<void> yield_n_times(int n, double& result) {
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) co_await yield_to_loop();
  result = ns_since(start) / n;
}

double sleep0(int n) {
  asio::io_context ctx{kConcurrencyHint};
  double result = NAN;
  asio::co_spawn(ctx.get_executor(), yield_n_times(n, result), asio::detached);
  ctx.run();
  return result;
}

// --- timer_overhead_ns: n timers of random 0-50 ms delay, wall time beyond the longest ---
// Creating the timers (one steady_timer each, as Python creates a TimerHandle each) is timed.
double timer_overhead(int n) {
  asio::io_context ctx{kConcurrencyHint};
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> delay_us(0, 50'000);
  int fired = 0;
  auto start = Clock::now();
  std::vector<Timer> timers;
  timers.reserve(n);  // no reallocation: a timer must not move while it has a wait pending
  for (int i = 0; i < n; ++i) {
    Timer& timer =
        timers.emplace_back(ctx.get_executor(), std::chrono::microseconds(delay_us(rng)));
    timer.async_wait([&fired](const boost::system::error_code&) { ++fired; });
  }
  ctx.run();
  double elapsed = ns_since(start);
  if (fired != n) {
    std::fprintf(stderr, "timer_overhead: %d of %d timers fired\n", fired, n);
    return NAN;
  }
  return (elapsed - 50e6) / n;
}

// --- sleeping_tasks_ns: n coroutines each sleeping a random 0-50 ms on a timer in its frame;
// a countdown plays gather; wall time beyond 50 ms ---
Awaitable<void> sleep_for(std::chrono::microseconds delay) {
  Timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(use_awaitable);
}

double sleeping_tasks(int n) {
  asio::io_context ctx{kConcurrencyHint};
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> delay_us(0, 50'000);
  std::vector<std::chrono::microseconds> delays(n);  // drawn before the clock starts
  for (auto& delay : delays) delay = std::chrono::microseconds(delay_us(rng));
  int remaining = n;
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    asio::co_spawn(ctx.get_executor(), sleep_for(delays[i]),
                   [&remaining](std::exception_ptr) { --remaining; });
  }
  ctx.run();
  double elapsed = ns_since(start);
  if (remaining != 0) {
    std::fprintf(stderr, "sleeping_tasks: %d of %d coroutines did not finish\n", remaining, n);
    return NAN;
  }
  return (elapsed - 50e6) / n;
}

// --- wait_for_ns: n coroutines each receiving from one channel with a 10 s deadline (Asio's
// idiom: the receive || a timer, awaitable_operators); 90% get an item, the rest time out;
// wall time beyond the deadline ---
using Channel = asio::experimental::channel<Executor, void(boost::system::error_code, int)>;
constexpr auto kWaitDeadline = std::chrono::seconds(10);

Awaitable<void> receive_within(Channel& channel, int& received) {
  using namespace asio::experimental::awaitable_operators;
  Timer deadline(co_await asio::this_coro::executor, kWaitDeadline);
  auto outcome =
      co_await (channel.async_receive(use_awaitable) || deadline.async_wait(use_awaitable));
  if (outcome.index() == 0) ++received;
}

// Asio's channel finds a cancelled receive by walking its queue of waiting receives, so each
// timeout costs O(waiting): measured here, 10^5 coroutines take 0.4 s beyond the deadline and
// 10^6 did not finish in 40 minutes. Counts above kWaitForLimit are refused (the report shows
// no figure) rather than run for hours.
constexpr int kWaitForLimit = 100'000;

double wait_for_items(int n) {
  if (n > kWaitForLimit) {
    std::fprintf(stderr, "wait_for: %d coroutines: refused above %d (quadratic in Asio)\n", n,
                 kWaitForLimit);
    return NAN;
  }
  asio::io_context ctx{kConcurrencyHint};
  Channel channel(ctx.get_executor());
  int remaining = n;
  int received = 0;
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    asio::co_spawn(ctx.get_executor(), receive_within(channel, received),
                   [&remaining](std::exception_ptr) { --remaining; });
  }
  ctx.poll();  // every coroutine waits in its receive
  for (int i = 0; i < n - n / 10; ++i) channel.try_send(boost::system::error_code{}, i);
  ctx.run();
  double elapsed = ns_since(start);
  if (remaining != 0 || received != n - n / 10) {
    std::fprintf(stderr, "wait_for: %d unfinished, %d of %d received\n", remaining, received,
                 n - n / 10);
    return NAN;
  }
  return (elapsed - std::chrono::duration<double, std::nano>(kWaitDeadline).count()) / n;
}

/// `--count WORKLOAD N`: runs one workload with N tasks or timers (how its cost scales).
int run_one(const char* workload, int n) {
  double value;
  if (std::strcmp(workload, "pending_task_bytes") == 0) {
    value = pending_task_bytes(n);
  } else if (std::strcmp(workload, "spawn_ns") == 0) {
    value = spawn(n);
  } else if (std::strcmp(workload, "timer_overhead_ns") == 0) {
    value = timer_overhead(n);
  } else if (std::strcmp(workload, "sleeping_tasks_ns") == 0) {
    value = sleeping_tasks(n);
  } else if (std::strcmp(workload, "wait_for_ns") == 0) {
    value = wait_for_items(n);
  } else {
    std::fprintf(stderr, "unknown workload %s\n", workload);
    return 2;
  }
  std::printf("%s %.1f\n", workload, value);
  return std::isnan(value) ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::strcmp(argv[1], "--count") == 0)
    return run_one(argv[2], std::atoi(argv[3]));
  bool quick;
  if (!parse_args(argc, argv, quick)) return 2;
  const int scale = quick ? 10 : 1;
  double results[5];
  // Memory first, as bench_core does, while the heap holds nothing freed that tasks could reuse.
  results[0] = pending_task_bytes(quick ? 10'000 : 100'000);
  std::printf("pending_task_bytes %.1f\n", results[0]);
  results[1] = median_of(5, [&] { return spawn(200'000 / scale); });
  std::printf("spawn_ns %.1f\n", results[1]);
  results[2] = median_of(5, [&] { return spawn(200'000 / scale, true); });
  std::printf("spawn_done_ns %.1f\n", results[2]);
  results[3] = sleep0(10'000'000 / scale);
  std::printf("sleep0_ns %.2f\n", results[3]);
  results[4] = timer_overhead(quick ? 100'000 : 1'000'000);
  std::printf("timer_overhead_ns %.1f\n", results[4]);
  for (double result : results) {
    if (std::isnan(result)) return 1;
  }
  return 0;
}
