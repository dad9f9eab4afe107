// The Generator<T> workloads of the comparison with CPython generators (see compare.py):
// ns per value summing values from a Generator<int> against the same values from a hand-written
// loop, and per value through 1 and 1,000 levels of yield_from delegation.
// Prints one "<name> <value>" line per workload; --quick shrinks the counts.
//
// The values come from sources the compiler cannot see through, so it can neither fold the hand
// loop into a closed form nor vectorise it: a xorshift generator seeded at run time (about 2 ns
// of serial work per value, as a small real producer would have), and a bare counter passed
// through an empty asm statement (almost no work: this shows the generator's fixed cost).
#include <asyncio/generator.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>

using asyncio::Generator;
using Clock = std::chrono::steady_clock;

namespace {

/// The value, which the compiler must assume was changed by code it cannot see.
inline int opaque(int v) {
  asm volatile("" : "+r"(v));
  return v;
}

/// One xorshift32 step; the next value depends on the previous one.
inline std::uint32_t xorshift(std::uint32_t& x) {
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return x;
}

Generator<int> random_values(long n, std::uint32_t seed) {
  for (long i = 0; i < n; ++i) co_yield static_cast<int>(xorshift(seed) & 0xffff);
}

Generator<int> counter(long n) {
  for (long i = 0; i < n; ++i) co_yield opaque(static_cast<int>(i));
}

/// `depth` (at least 1) levels of yield_from above a counter of n values.
Generator<int> delegating(int depth, long n) {
  if (depth == 1) {
    co_yield asyncio::yield_from(counter(n));
  } else {
    co_yield asyncio::yield_from(delegating(depth - 1, n));
  }
}

[[gnu::noinline]] long long sum_of(Generator<int> values) {
  long long sum = 0;
  for (int v : values) sum += v;
  return sum;
}

[[gnu::noinline]] long long hand_random(long n, std::uint32_t seed) {
  long long sum = 0;
  for (long i = 0; i < n; ++i) sum += static_cast<int>(xorshift(seed) & 0xffff);
  return sum;
}

[[gnu::noinline]] long long hand_counter(long n) {
  long long sum = 0;
  for (long i = 0; i < n; ++i) sum += opaque(static_cast<int>(i));
  return sum;
}

long long sink = 0;  // every sum is used, and printed at the end

template <class F>
double ns_per_value(long n, F run) {
  auto start = Clock::now();
  sink += run();
  return std::chrono::duration<double, std::nano>(Clock::now() - start).count() /
         static_cast<double>(n);
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const long n = quick ? 10'000'000 : 100'000'000;
  const auto seed =
      static_cast<std::uint32_t>(std::time(nullptr)) | 1u;  // never 0: xorshift's fixed point

  // Two rounds; the second one counts (the first warms the frame pool and the caches).
  double gen_sum = 0, hand_sum = 0, gen_count = 0, hand_count = 0, d1 = 0, d1000 = 0;
  for (int round = 0; round < 2; ++round) {
    gen_sum = ns_per_value(n, [&] { return sum_of(random_values(n, seed)); });
    hand_sum = ns_per_value(n, [&] { return hand_random(n, seed); });
    gen_count = ns_per_value(n, [&] { return sum_of(counter(n)); });
    hand_count = ns_per_value(n, [&] { return hand_counter(n); });
    d1 = ns_per_value(n, [&] { return sum_of(delegating(1, n)); });
    d1000 = ns_per_value(n, [&] { return sum_of(delegating(1000, n)); });
  }
  std::printf("gen_sum_ns %.3f\n", gen_sum);
  std::printf("hand_sum_ns %.3f\n", hand_sum);
  std::printf("gen_count_ns %.3f\n", gen_count);
  std::printf("hand_count_ns %.3f\n", hand_count);
  std::printf("delegate_depth1_ns %.3f\n", d1);
  std::printf("delegate_depth1000_ns %.3f\n", d1000);
  std::fprintf(stderr, "checksum %lld\n", sink);
}
