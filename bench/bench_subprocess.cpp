// The subprocess and signal workloads of the comparison with CPython asyncio and a C floor (see
// compare.py subprocess):
//   spawn_wait_per_s       1,000 runs of /bin/true, at most 50 alive at once (a Semaphore(50)
//                          around create_subprocess_exec + wait), runs per second; the median of
//                          5 such batches after a warm-up batch (--quick: of 1).
//   signal_latency_*_us    a child (signal_sender, built beside this program) writes its
//                          CLOCK_MONOTONIC to a pipe and sends us SIGUSR1, while our loop sleeps
//                          in its selector; the add_signal_handler callback reads the clock and
//                          the pipe and acknowledges. Median and 99th percentile of 1,000 samples
//                          (--quick: 300) after 10 discarded ones, in microseconds.
// Prints one "<name> <value>" line per workload. Usage: bench_subprocess [--quick]
// [--sender PATH] (default: signal_sender in this program's directory).
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <asyncio/asyncio.hpp>

#include "median_of.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

using asyncio::Coro;
using namespace std::chrono_literals;

namespace {

constexpr int kRuns = 1000;         // spawn-and-wait: children per batch
constexpr int kConcurrency = 50;    // alive at once
constexpr int kWarmupSamples = 10;  // signal latency: discarded first samples
constexpr int kGapUs = 2000;        // the sender's pause before each signal

std::int64_t monotonic_ns() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

[[noreturn]] void fail(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// --- spawn_wait_per_s --------------------------------------------------------------------------
Coro<int> run_true(asyncio::Semaphore& slots) {
  auto held = co_await slots.scoped();
  asyncio::Process proc = co_await asyncio::create_subprocess_exec("/bin/true");
  co_return co_await proc.wait();
}

Coro<double> spawn_and_wait(int runs) {
  asyncio::Semaphore slots(kConcurrency);
  const std::int64_t start = monotonic_ns();
  std::vector<Coro<int>> all;
  all.reserve(runs);
  for (int i = 0; i < runs; ++i) all.push_back(run_true(slots));
  const std::vector<int> codes = co_await asyncio::gather(std::move(all));
  const double seconds = static_cast<double>(monotonic_ns() - start) / 1e9;
  if (std::any_of(codes.begin(), codes.end(), [](int code) { return code != 0; })) {
    std::fprintf(stderr, "spawn_and_wait: a /bin/true did not exit with 0\n");
    co_return NAN;
  }
  co_return runs / seconds;
}

// --- signal_latency_*_us -----------------------------------------------------------------------
Coro<std::vector<double>> signal_latency(std::string sender, int samples) {
  asyncio::EventLoop& loop = asyncio::get_running_loop();
  std::array<int, 2> stamps, acks;  // [0] the read end, [1] the write end
  if (::pipe2(stamps.data(), O_CLOEXEC) != 0 || ::pipe2(acks.data(), O_CLOEXEC) != 0) fail("pipe2");
  const int total = kWarmupSamples + samples;
  std::vector<double> latencies;
  latencies.reserve(total);
  asyncio::Future<void> done = loop.create_future<void>();
  loop.add_signal_handler(SIGUSR1, [&] {
    const std::int64_t now = monotonic_ns();  // first: the callback is running
    std::int64_t sent;
    if (::read(stamps[0], &sent, sizeof sent) != static_cast<ssize_t>(sizeof sent))
      fail("read the timestamp");
    latencies.push_back(static_cast<double>(now - sent) / 1000.0);
    if (::write(acks[1], "a", 1) != 1) fail("write the acknowledgement");
    if (static_cast<int>(latencies.size()) == total && !done.done()) done.set_result();
  });
  // (Built before the co_await: g++ 12 cannot keep an initializer list's array in a frame.)
  std::vector<std::string> args{std::to_string(total), std::to_string(kGapUs)};
  asyncio::SubprocessOptions options{.stdin = acks[0], .stdout = stamps[1]};
  asyncio::Process proc = co_await asyncio::create_subprocess_exec(
      std::move(sender), std::move(args), std::move(options));
  ::close(acks[0]);
  ::close(stamps[1]);
  try {
    co_await asyncio::wait_for(done, 60s);
  } catch (...) {  // the handler refers to this frame: take it away first
    loop.remove_signal_handler(SIGUSR1);
    throw;
  }
  const int code = co_await proc.wait();
  loop.remove_signal_handler(SIGUSR1);
  ::close(stamps[0]);
  ::close(acks[1]);
  if (code != 0) {
    std::fprintf(stderr, "signal_latency: the sender exited with %d\n", code);
    co_return std::vector<double>{};
  }
  co_return std::vector<double>(latencies.begin() + kWarmupSamples, latencies.end());
}

/// The nearest-rank percentile `p` (0-100) of `values`, as the other programs take it.
double percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * values.size()));
  return values[std::max<std::size_t>(rank, 1) - 1];
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::string sender =
      (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "signal_sender").string();
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--sender") == 0 && i + 1 < argc) {
      sender = argv[++i];
    } else {
      std::fprintf(stderr, "usage: bench_subprocess [--quick] [--sender PATH]\n");
      return 2;
    }
  }
  std::printf("spawn_wait_per_s %.0f\n",
              median_of(quick ? 1 : 5, [] { return asyncio::run(spawn_and_wait(kRuns)); }));
  std::fflush(stdout);
  const std::vector<double> latencies = asyncio::run(signal_latency(sender, quick ? 300 : 1000));
  if (latencies.empty()) return 1;
  std::printf("signal_latency_p50_us %.2f\n", percentile(latencies, 50));
  std::printf("signal_latency_p99_us %.2f\n", percentile(latencies, 99));
}
