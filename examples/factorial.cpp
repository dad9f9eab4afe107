// Python's classic asyncio demo: two tasks compute factorial(3) and factorial(4), sleeping one
// second per step (2 and 3 steps). Their sleeps overlap, so the total is about 3 s, not 5 s.
#include <asyncio/asyncio.hpp>

#include <cstdio>
#include <string>

#include "common.hpp"

using asyncio::Coro;

std::chrono::milliseconds step;

// async def factorial(name, number):
Coro<long> factorial(std::string name, int number) {
  long f = 1;
  for (int i = 2; i <= number; ++i) {
    std::printf("Task %s: Compute factorial(%d), currently i=%d...\n", name.c_str(), number, i);
    co_await asyncio::sleep(step);  // await asyncio.sleep(1)
    f *= i;
  }
  std::printf("Task %s: factorial(%d) = %ld\n", name.c_str(), number, f);
  co_return f;
}

Coro<void> main_coro() {
  auto a = asyncio::create_task(factorial("A", 3));  // 2 steps: i = 2, 3
  auto b = asyncio::create_task(factorial("B", 4));  // 3 steps: i = 2, 3, 4
  co_await asyncio::gather(a, b);
}

int main(int argc, char** argv) {
  step = step_duration(argc, argv);
  auto start = std::chrono::steady_clock::now();
  asyncio::run(main_coro());
  double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double steps = total / std::chrono::duration<double>(step).count();
  std::printf("total time: %.2f s (%.1f steps; run one after the other they would take 5)\n", total, steps);
  // The tasks ran concurrently only if the total is about 3 steps, not 5.
  if (steps < 3.0 || steps >= 4.5) {
    std::printf("unexpected total: the tasks did not run concurrently\n");
    return 1;
  }
}
