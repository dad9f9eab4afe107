// The queue and lock workloads of the comparison with CPython asyncio and Boost.Asio (see
// compare.py): producer -> consumer handoff through a Queue of maxsize 128, and an
// uncontended Lock acquire + release. Prints one "<name> <value>" line per workload; --quick
// shrinks the counts.
#include <asyncio/asyncio.hpp>

#include "median_of.hpp"

#include <chrono>
#include <cstdio>
#include <cstring>

using asyncio::Coro;
using Clock = std::chrono::steady_clock;

namespace {

double ns_since(Clock::time_point start) {
  return std::chrono::duration<double, std::nano>(Clock::now() - start).count();
}

// --- queue_handoff_ns: one producer task puts n ints, one consumer task gets them ---
Coro<void> produce(asyncio::Queue<int>& q, int n) {
  for (int i = 0; i < n; ++i) co_await q.put(i);
}

Coro<void> consume(asyncio::Queue<int>& q, int n, long& sum) {
  for (int i = 0; i < n; ++i) sum += co_await q.get();
}

Coro<double> queue_handoff(int n) {
  asyncio::Queue<int> q(128);
  long sum = 0;
  auto start = Clock::now();
  co_await asyncio::gather(produce(q, n), consume(q, n, sum));
  double ns = ns_since(start) / n;
  if (sum != static_cast<long>(n) * (n - 1) / 2) {
    std::fprintf(stderr, "queue_handoff: wrong sum %ld\n", sum);
    co_return -1;
  }
  co_return ns;
}

// --- lock_ns: acquire + release of a Lock nobody else wants ---
Coro<double> lock_round_trip(int n) {
  asyncio::Lock lock;
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    co_await lock.acquire();
    lock.release();
  }
  co_return ns_since(start) / n;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const int scale = quick ? 10 : 1;
  std::printf("queue_handoff_ns %.2f\n",
              median_of(5, [&] { return asyncio::run(queue_handoff(20'000'000 / scale)); }));
  std::printf("lock_ns %.2f\n", asyncio::run(lock_round_trip(100'000'000 / scale)));
}
