// Google Benchmark micro-benchmarks of the core runtime's hot paths: sleep(0) round trip,
// call_soon, awaiting a Coro, awaiting a done Future, create_task, future completion.
#include <benchmark/benchmark.h>
#include <asyncio/asyncio.hpp>

using namespace std::chrono_literals;
using asyncio::Coro;

namespace {

void BM_Sleep0RoundTrip(benchmark::State& state) {
  auto body = [&]() -> Coro<void> {
    for (auto _ : state) co_await asyncio::sleep(0s);
  };
  asyncio::run(body());
}
BENCHMARK(BM_Sleep0RoundTrip);

void BM_CallSoon(benchmark::State& state) {
  asyncio::EventLoop loop;
  long count = 0;
  for (auto _ : state) {
    for (int i = 0; i < 1000; ++i) loop.call_soon([&count] { ++count; });
    loop.call_soon([&loop] { loop.stop(); });
    loop.run_forever();
  }
  state.SetItemsProcessed(state.iterations() * 1000);
  benchmark::DoNotOptimize(count);
}
BENCHMARK(BM_CallSoon);

Coro<int> immediate(int i) { co_return i; }

void BM_AwaitCoro(benchmark::State& state) {
  auto body = [&]() -> Coro<void> {
    int sum = 0;
    for (auto _ : state) sum += co_await immediate(1);
    benchmark::DoNotOptimize(sum);
  };
  asyncio::run(body());
}
BENCHMARK(BM_AwaitCoro);

void BM_AwaitDoneFuture(benchmark::State& state) {
  auto body = [&]() -> Coro<void> {
    auto f = asyncio::get_running_loop().create_future<int>();
    f.set_result(1);
    int sum = 0;
    for (auto _ : state) sum += co_await f;
    benchmark::DoNotOptimize(sum);
  };
  asyncio::run(body());
}
BENCHMARK(BM_AwaitDoneFuture);

Coro<void> nothing() { co_return; }

void BM_CreateTaskAndAwait(benchmark::State& state) {
  auto body = [&]() -> Coro<void> {
    for (auto _ : state) co_await asyncio::create_task(nothing());
  };
  asyncio::run(body());
}
BENCHMARK(BM_CreateTaskAndAwait);

void BM_FutureWakesWaiter(benchmark::State& state) {
  auto body = [&]() -> Coro<void> {
    auto& loop = asyncio::get_running_loop();
    for (auto _ : state) {
      auto f = loop.create_future<int>();
      loop.call_soon([f]() mutable { f.set_result(1); });
      benchmark::DoNotOptimize(co_await f);
    }
  };
  asyncio::run(body());
}
BENCHMARK(BM_FutureWakesWaiter);

}  // namespace

BENCHMARK_MAIN();
