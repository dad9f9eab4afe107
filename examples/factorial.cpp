// Python's classic asyncio demo: tasks A and B compute factorial(3) and factorial(4), sleeping 1 s
// per step (2 and 3 steps). The sleeps overlap, so the run takes about 3 s, not 5 s.
#include <asyncio/asyncio.hpp>

#include <chrono>
#include <cstdio>
#include <string>

#include "time_scale.hpp"

using namespace std::chrono_literals;

// async def factorial(name, number):
asyncio::Coro<int> factorial(std::string name, int number) {
  int f = 1;
  for (int i = 2; i <= number; ++i) {
    std::printf("Task %s: Compute factorial(%d), currently i=%d...\n", name.c_str(), number, i);
    co_await asyncio::sleep(scaled(1s));  // await asyncio.sleep(1)
    f *= i;
  }
  std::printf("Task %s: factorial(%d) = %d\n", name.c_str(), number, f);
  co_return f;
}

// async def main():
asyncio::Coro<void> main_coro() {
  auto task_a =
      asyncio::create_task(factorial("A", 3));  // task_a = asyncio.create_task(factorial("A", 3))
  auto task_b = asyncio::create_task(factorial("B", 4));
  co_await asyncio::gather(task_a, task_b);  // await asyncio.gather(task_a, task_b)
}

int main(int argc, char** argv) {
  parse_fast_flag(argc, argv);
  auto start = std::chrono::steady_clock::now();  // start = time.perf_counter()
  asyncio::run(main_coro());                      // asyncio.run(main())

  // Run one after the other, the tasks would take 2 + 3 = 5 steps; overlapping, about 3.
  return check_total_time(start, 3, 4.5, "the sleeps were too short", "the tasks did not overlap");
}
