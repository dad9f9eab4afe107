// The core runtime workloads of the comparison with CPython asyncio and Boost.Asio (see
// compare.py): task spawn (a task that yields once, also with a context variable set; one that
// finishes at once, lazily and eagerly), sleep(0) round trip, timer overhead, memory per pending
// task. Prints one "<name> <value>" line per workload; --quick shrinks the counts, and
// --count WORKLOAD N runs one workload with N tasks or timers.
#include <asyncio/asyncio.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "median_of.hpp"
#include "resident_memory.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;
using Clock = std::chrono::steady_clock;

namespace {

double ns_since(Clock::time_point start) {
  return std::chrono::duration<double, std::nano>(Clock::now() - start).count();
}

// --- pending_task_bytes: tasks suspended on one shared future, frame included ---
Coro<void> wait_on(asyncio::Future<void> future) { co_await future; }

Coro<double> pending_task_bytes(int n) {
  auto& loop = asyncio::get_running_loop();
  auto future = loop.create_future<void>();
  // The handles are the benchmark's, not the tasks' cost: their memory is touched beforehand.
  std::vector<asyncio::Task<void>> tasks(n);
  tasks.clear();
  long before = rss_bytes();
  for (int i = 0; i < n; ++i) tasks.push_back(asyncio::create_task(wait_on(future)));
  co_await asyncio::sleep(0s);  // every task runs to its await
  long after = rss_bytes();
  future.set_result();
  co_await asyncio::gather(tasks);
  co_return static_cast<double>(after - before) / n;
}

// --- spawn_ns: create_task + sleep(0) + gather, per task ---
Coro<void> yield_once() { co_await asyncio::sleep(0s); }

Coro<double> spawn(int n) {
  auto start = Clock::now();
  std::vector<asyncio::Task<void>> tasks;
  tasks.reserve(n);
  for (int i = 0; i < n; ++i) tasks.push_back(asyncio::create_task(yield_once()));
  co_await asyncio::gather(tasks);
  co_return ns_since(start) / n;
}

// --- spawn_context_ns: spawn_ns with one context variable set (each task copies the context) ---
asyncio::ContextVar<int> request_id("request_id");

Coro<double> spawn_with_context(int n) {
  request_id.set(1);
  co_return co_await spawn(n);
}

// --- spawn_done_ns, eager_spawn_done_ns: create_task of a coroutine that finishes without ever
// suspending, then gather of all of them, per task; eager: with eager_start, which runs the
// coroutine inside create_task (a task that finishes there is never scheduled) ---
Coro<void> finish_at_once() { co_return; }

Coro<double> spawn_done(int n, bool eager) {
  auto start = Clock::now();
  std::vector<asyncio::Task<void>> tasks;
  tasks.reserve(n);
  const asyncio::TaskOptions options{.eager_start = eager};
  for (int i = 0; i < n; ++i) tasks.push_back(asyncio::create_task(finish_at_once(), options));
  co_await asyncio::gather(tasks);
  co_return ns_since(start) / n;
}

// --- sleep0_ns: one task yielding to the loop ---
Coro<double> sleep0(int n) {
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) co_await asyncio::sleep(0s);
  co_return ns_since(start) / n;
}

// --- timer_overhead_ns: n timers of random 0-50 ms delay, time beyond the longest ---
double timer_overhead(int n) {
  asyncio::EventLoop loop;
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> delay_us(0, 50'000);
  int fired = 0;
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    loop.call_later(std::chrono::microseconds(delay_us(rng)), [&] {
      if (++fired == n) loop.stop();
    });
  }
  loop.run_forever();
  return (ns_since(start) - 50e6) / n;
}

// --- sleeping_tasks_ns: n tasks each sleeping a random 0-50 ms, gathered; time beyond 50 ms ---
Coro<void> sleep_for(std::chrono::microseconds delay) { co_await asyncio::sleep(delay); }

Coro<double> sleeping_tasks(int n) {
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> delay_us(0, 50'000);
  std::vector<std::chrono::microseconds> delays(n);  // drawn before the clock starts
  for (auto& delay : delays) delay = std::chrono::microseconds(delay_us(rng));
  auto start = Clock::now();
  std::vector<asyncio::Task<void>> tasks;
  tasks.reserve(n);
  for (int i = 0; i < n; ++i) tasks.push_back(asyncio::create_task(sleep_for(delays[i])));
  co_await asyncio::gather(tasks);
  co_return (ns_since(start) - 50e6) / n;
}

// --- wait_for_ns: n tasks in wait_for(q.get(), 10 s); 90% get an item (their timers are
// cancelled), the last 10% time out; time beyond the 10 s deadline ---
constexpr auto kWaitDeadline = 10s;

Coro<void> get_within(asyncio::Queue<int>& queue) {
  try {
    co_await asyncio::wait_for(queue.get(), kWaitDeadline);
  } catch (const asyncio::TimeoutError&) {
  }
}

Coro<double> wait_for_items(int n) {
  asyncio::Queue<int> queue;
  auto start = Clock::now();
  std::vector<asyncio::Task<void>> tasks;
  tasks.reserve(n);
  for (int i = 0; i < n; ++i) tasks.push_back(asyncio::create_task(get_within(queue)));
  co_await asyncio::sleep(0s);  // every task waits in get()
  for (int i = 0; i < n - n / 10; ++i) queue.put_nowait(i);
  co_await asyncio::gather(tasks);
  co_return (ns_since(start) - std::chrono::duration<double, std::nano>(kWaitDeadline).count()) / n;
}

/// `--count WORKLOAD N`: runs one workload with N tasks or timers (how its cost scales).
int run_one(const char* workload, int n) {
  double value;
  if (std::strcmp(workload, "pending_task_bytes") == 0) {
    value = asyncio::run(pending_task_bytes(n));
  } else if (std::strcmp(workload, "spawn_ns") == 0) {
    value = asyncio::run(spawn(n));
  } else if (std::strcmp(workload, "timer_overhead_ns") == 0) {
    value = timer_overhead(n);
  } else if (std::strcmp(workload, "sleeping_tasks_ns") == 0) {
    value = asyncio::run(sleeping_tasks(n));
  } else if (std::strcmp(workload, "wait_for_ns") == 0) {
    value = asyncio::run(wait_for_items(n));
  } else {
    std::fprintf(stderr, "unknown workload %s\n", workload);
    return 2;
  }
  std::printf("%s %.1f\n", workload, value);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::strcmp(argv[1], "--count") == 0)
    return run_one(argv[2], std::atoi(argv[3]));
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const int scale = quick ? 10 : 1;
  // Memory first, while the process has freed nothing the tasks could reuse.
  std::printf("pending_task_bytes %.1f\n",
              asyncio::run(pending_task_bytes(quick ? 10'000 : 100'000)));
  std::printf("spawn_ns %.1f\n",
              median_of(5, [&] { return asyncio::run(spawn(200'000 / scale)); }));
  std::printf("spawn_context_ns %.1f\n",
              median_of(5, [&] { return asyncio::run(spawn_with_context(200'000 / scale)); }));
  for (const bool eager : {false, true}) {
    std::printf("%s %.1f\n", eager ? "eager_spawn_done_ns" : "spawn_done_ns",
                median_of(5, [&] { return asyncio::run(spawn_done(200'000 / scale, eager)); }));
  }
  std::printf("sleep0_ns %.2f\n", asyncio::run(sleep0(10'000'000 / scale)));
  std::printf("timer_overhead_ns %.1f\n", timer_overhead(quick ? 100'000 : 1'000'000));
}
