// One loop per core: at least two shards, each with its own thread and event loop. Every shard
// but 0 sends the numbers 1..1000 through a Channel; shard 0 adds them up, asks each sender
// with run_on (the coroutine runs on the sender's own loop) how many it sent, and stops them all.
// (--fast is accepted, for the example tests; the example is fast anyway.)
#include <asyncio/asyncio.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

namespace {

constexpr long numbers_per_shard = 1000;

}  // namespace

int main() {
  const std::size_t count = std::max<std::size_t>(2, asyncio::available_cpus());
  asyncio::Shards shards(count);
  asyncio::Channel<long> numbers(256);
  std::vector<long> sent(count, 0);  // sent[i] is touched by shard i only
  shards.run([&](std::size_t shard) -> asyncio::Coro<void> {
    if (shard != 0) {
      for (long i = 1; i <= numbers_per_shard; ++i) {
        co_await numbers.put(i);
        ++sent[shard];
      }
      co_await asyncio::sleep(std::chrono::hours(1));  // answers run_on until stop_all()
      co_return;
    }
    long sum = 0;
    for (long i = 0; i < numbers_per_shard * static_cast<long>(count - 1); ++i) {
      sum += co_await numbers.get();
    }
    for (std::size_t other = 1; other < count; ++other) {
      auto ask = [&sent, other]() -> asyncio::Coro<long> { co_return sent[other]; };
      const long reported = co_await asyncio::run_on(shards.loop(other), ask());
      std::printf("shard %zu sent %ld numbers\n", other, reported);
    }
    std::printf("sum per sending shard: %ld\n", sum / static_cast<long>(count - 1));
    shards.stop_all();
  });
  std::printf("all %zu shards stopped\n", count);
}
