// Boost.Asio peer of bench_shards: two io_contexts, each run by its own thread, the threads
// pinned to two CPUs. Hands items across with post(), the Asio way between io_contexts:
//   handoff_burst64_ns  per item: 64 posts to the other context, each carrying an item; the
//                       64th posts an acknowledgement back, which starts the next burst
//   handoff_stream_ns   per item: the items posted one after another, no acknowledgement (until
//                       B has run the last)
//   item_rtt_ns         per round trip: a post to the other context that posts back
// The median of 5 runs after a warm-up run with run(), then again ("_busy") with each thread
// spinning on poll() instead of sleeping. Asio has no run_on, so no run_on_rtt_ns.
#include <pthread.h>
#include <sched.h>

#include <cmath>
#include <thread>

#include "../median_of.hpp"

#include "asio_common.hpp"

namespace {

void pin(std::thread& thread, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(thread.native_handle(), sizeof set, &set);
}

/// Whether the contexts are run by spinning on poll() (the "_busy" figures) instead of run().
bool busy = false;

/// Runs `ctx` until it is stopped (its work guard reset and its handlers run): run(), or
/// poll() in a loop that never sleeps.
void drive(asio::io_context& ctx) {
  if (!busy) {
    ctx.run();
    return;
  }
  while (!ctx.stopped()) ctx.poll();
}

/// Runs `start` on context A, with B run by a second thread, until the workload calls its
/// `done` (on A); the time per `count`.
template <class Start>
double on_two_contexts(long count, Start start) {
  asio::io_context a{kConcurrencyHint}, b{kConcurrencyHint};
  auto keep_b = asio::make_work_guard(b);
  std::thread b_thread([&] { drive(b); });
  pin(b_thread, 1);
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(0, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  auto keep_a = asio::make_work_guard(a);
  const auto begin = Clock::now();
  start(a, b, [&] { keep_a.reset(); });
  drive(a);
  const double result = ns_since(begin) / count;
  keep_b.reset();
  b_thread.join();
  return result;
}

double handoff_burst(long items) {
  long sent = 0;
  std::function<void()> burst;  // runs on A: sends 64 items to B, the 64th posts `burst` back
  return on_two_contexts(items, [&](asio::io_context& a, asio::io_context& b, auto done) {
    burst = [&, done] {
      if (sent >= items) return done();
      for (int i = 0; i < 64; ++i, ++sent) {
        asio::post(b, [&, i] {
          if (i == 63) asio::post(a, burst);
        });
      }
    };
    asio::post(a, burst);
  });
}

double handoff_stream(long items) {
  long received = 0;
  return on_two_contexts(items, [&](asio::io_context& a, asio::io_context& b, auto done) {
    asio::post(a, [&, done] {
      for (long i = 0; i < items; ++i) {
        asio::post(b, [&, done] {
          if (++received == items) asio::post(a, done);
        });
      }
    });
  });
}

double item_rtt(long rounds) {
  long done = 0;
  std::function<void()> ping;  // runs on A: one post to B, which posts `ping` back
  return on_two_contexts(rounds, [&](asio::io_context& a, asio::io_context& b, auto finish) {
    ping = [&, finish] {
      if (done++ == rounds) return finish();
      asio::post(b, [&] { asio::post(a, ping); });
    };
    asio::post(a, ping);
  });
}

}  // namespace

int main(int argc, char** argv) {
  bool quick;
  if (!parse_args(argc, argv, quick)) return 2;
  const long items = quick ? 200'000 : 2'000'000;
  const long rounds = quick ? 20'000 : 100'000;
  for (const char* suffix : {"", "_busy"}) {
    busy = *suffix != 0;
    std::printf("handoff_burst64%s_ns %.2f\n", suffix,
                median_of(5, [&] { return handoff_burst(items); }));
    std::printf("handoff_stream%s_ns %.2f\n", suffix,
                median_of(5, [&] { return handoff_stream(items); }));
    std::printf("item_rtt%s_ns %.1f\n", suffix, median_of(5, [&] { return item_rtt(rounds); }));
  }
  return 0;
}
