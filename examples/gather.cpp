// gather collects results in argument order, whatever order the awaitables finish in: a tuple
// for several awaitables, a vector for a range of tasks.
#include <asyncio/asyncio.hpp>

#include <cstdio>
#include <vector>

#include "common.hpp"

using asyncio::Coro;

std::chrono::milliseconds step;

Coro<int> square(int x, int delay_steps) {
  co_await asyncio::sleep(step / 10 * delay_steps);
  std::printf("square(%d) finished\n", x);
  co_return x * x;
}

Coro<void> main_coro() {
  // results = await asyncio.gather(square(1), square(2), square(3))
  auto [a, b, c] = co_await asyncio::gather(square(1, 3), square(2, 2), square(3, 1));
  std::printf("tuple: %d %d %d\n", a, b, c);

  std::vector<asyncio::Task<int>> tasks;
  for (int x = 4; x <= 6; ++x) tasks.push_back(asyncio::create_task(square(x, 7 - x)));
  std::vector<int> results = co_await asyncio::gather(tasks);
  std::printf("vector: %d %d %d\n", results[0], results[1], results[2]);
}

int main(int argc, char** argv) {
  step = step_duration(argc, argv);
  asyncio::run(main_coro());
}
