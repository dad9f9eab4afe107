// Cross-loop costs, two loops on two threads pinned to two CPUs (compare.py's shards suite):
//   handoff_burst64_ns  per item: one loop puts items into a Channel<int>(64) in bursts of 64,
//                       the other gets them and acknowledges each burst through a second channel
//   handoff_burst64_batched_ns  the same with put_many(64 items) and get_many(64)
//   handoff_stream_ns   per item: the same, streamed through a Channel<int>(1024) with no
//                       acknowledgement (the producer's time until its last put)
//   item_rtt_ns         per round trip: one item to the other loop and back, through two channels
//   run_on_rtt_ns       per round trip: co_await run_on(other loop, a coroutine returning an int)
//   threadsafe_rtt_ns   the same through run_coroutine_threadsafe + wrap_future
// Each is the median of 5 runs after a warm-up run, with loops that sleep when idle, then again
// ("_busy") with loops that spin 50 us before they sleep (ShardOptions::busy_poll). --quick:
// fewer items.
#include <asyncio/asyncio.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "median_of.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using asyncio::Coro;

double ns_per(Clock::time_point start, long count) {
  return std::chrono::duration<double, std::nano>(Clock::now() - start).count() / count;
}

/// Runs `first` on shard 0 and `second` on shard 1 of two pinned shards; gives what `first`
/// measured.
/// How long an idle loop spins before it sleeps (ShardOptions::busy_poll): 0 for the default
/// runs, 50 us for the "_busy" ones.
std::chrono::nanoseconds busy_poll{0};

template <class First, class Second>
double on_two_loops(First first, Second second) {
  asyncio::Shards shards(2, {.pin = true, .busy_poll = busy_poll});
  double result = NAN;
  shards.run([&](std::size_t shard) -> Coro<void> {
    if (shard == 0) {
      result = co_await first(shards);
    } else {
      co_await second(shards);
    }
  });
  return result;
}

double handoff_burst(long items) {
  asyncio::Channel<int> data(64), acks(1);
  return on_two_loops(
      [&](asyncio::Shards&) -> Coro<double> {
        const auto start = Clock::now();
        for (long sent = 0; sent < items; sent += 64) {
          for (int i = 0; i < 64; ++i) co_await data.put(i);
          co_await acks.get();
        }
        co_return ns_per(start, items);
      },
      [&](asyncio::Shards&) -> Coro<void> {
        for (long got = 0; got < items; got += 64) {
          for (int i = 0; i < 64; ++i) co_await data.get();
          co_await acks.put(0);
        }
      });
}

double handoff_burst_batched(long items) {
  asyncio::Channel<int> data(64), acks(1);
  const std::vector<int> burst(64, 1);
  return on_two_loops(
      [&](asyncio::Shards&) -> Coro<double> {
        const auto start = Clock::now();
        for (long sent = 0; sent < items; sent += 64) {
          co_await data.put_many(burst);
          co_await acks.get();
        }
        co_return ns_per(start, items);
      },
      [&](asyncio::Shards&) -> Coro<void> {
        for (long got = 0; got < items; got += 64) {
          for (int n = 0; n < 64;) n += static_cast<int>((co_await data.get_many(64)).size());
          co_await acks.put(0);
        }
      });
}

double handoff_stream(long items) {
  asyncio::Channel<int> data(1024);
  long sum = 0;
  const double result = on_two_loops(
      [&](asyncio::Shards&) -> Coro<double> {
        const auto start = Clock::now();
        for (long i = 0; i < items; ++i) co_await data.put(1);
        data.close();  // the consumer drains the rest, then stops
        co_return ns_per(start, items);
      },
      [&](asyncio::Shards&) -> Coro<void> {
        try {
          for (;;) sum += co_await data.get();
        } catch (const asyncio::QueueShutDown&) {
        }
      });
  return sum == items ? result : NAN;
}

double item_rtt(long rounds) {
  asyncio::Channel<int> there(1), back(1);
  return on_two_loops(
      [&](asyncio::Shards&) -> Coro<double> {
        const auto start = Clock::now();
        for (long i = 0; i < rounds; ++i) {
          co_await there.put(1);
          co_await back.get();
        }
        co_return ns_per(start, rounds);
      },
      [&](asyncio::Shards&) -> Coro<void> {
        for (long i = 0; i < rounds; ++i) co_await back.put(co_await there.get());
      });
}

Coro<int> answer() { co_return 1; }

/// The other loop only serves: it runs until the measuring shard stops both.
Coro<void> serve(asyncio::Shards&) { co_await asyncio::sleep(std::chrono::hours(1)); }

double run_on_rtt(long rounds) {
  return on_two_loops(
      [&](asyncio::Shards& shards) -> Coro<double> {
        const auto start = Clock::now();
        long sum = 0;
        for (long i = 0; i < rounds; ++i) sum += co_await asyncio::run_on(shards.loop(1), answer());
        const double result = sum == rounds ? ns_per(start, rounds) : NAN;
        shards.stop_all();
        co_return result;
      },
      serve);
}

double threadsafe_rtt(long rounds) {
  return on_two_loops(
      [&](asyncio::Shards& shards) -> Coro<double> {
        const auto start = Clock::now();
        long sum = 0;
        for (long i = 0; i < rounds; ++i) {
          sum += co_await asyncio::wrap_future(
              asyncio::run_coroutine_threadsafe(answer(), shards.loop(1)));
        }
        const double result = sum == rounds ? ns_per(start, rounds) : NAN;
        shards.stop_all();
        co_return result;
      },
      serve);
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const long items = quick ? 200'000 : 2'000'000;
  const long rounds = quick ? 20'000 : 100'000;
  for (const char* suffix : {"", "_busy"}) {
    busy_poll = *suffix ? std::chrono::microseconds(50) : std::chrono::nanoseconds(0);
    std::printf("handoff_burst64%s_ns %.2f\n", suffix,
                median_of(5, [&] { return handoff_burst(items); }));
    std::printf("handoff_burst64_batched%s_ns %.2f\n", suffix,
                median_of(5, [&] { return handoff_burst_batched(items); }));
    std::printf("handoff_stream%s_ns %.2f\n", suffix,
                median_of(5, [&] { return handoff_stream(items); }));
    std::printf("item_rtt%s_ns %.1f\n", suffix, median_of(5, [&] { return item_rtt(rounds); }));
    std::printf("run_on_rtt%s_ns %.1f\n", suffix, median_of(5, [&] { return run_on_rtt(rounds); }));
    std::printf("threadsafe_rtt%s_ns %.1f\n", suffix,
                median_of(5, [&] { return threadsafe_rtt(rounds); }));
  }
  return 0;
}
