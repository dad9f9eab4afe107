// asyncio.gather gives the results in argument order, whatever order the awaitables finish in:
// a tuple for several awaitables, a vector for a range of tasks.
#include <asyncio/asyncio.hpp>

#include <chrono>
#include <cstdio>
#include <vector>

#include "time_scale.hpp"

using namespace std::chrono_literals;

// async def square(x, delay):
asyncio::Coro<int> square(int x, std::chrono::milliseconds delay) {
  co_await asyncio::sleep(scaled(delay));  // await asyncio.sleep(delay)
  std::printf("square(%d) finished\n", x);
  co_return x* x;
}

// async def main():
asyncio::Coro<void> main_coro() {
  // a, b, c = await asyncio.gather(square(1, 0.15), square(2, 0.1), square(3, 0.05))
  auto [a, b, c] = co_await asyncio::gather(square(1, 150ms), square(2, 100ms), square(3, 50ms));
  std::printf("tuple: %d %d %d\n", a, b, c);

  // tasks = [asyncio.create_task(square(x, 0.05 * (7 - x))) for x in (4, 5, 6)]
  std::vector<asyncio::Task<int>> tasks;
  for (int x = 4; x <= 6; ++x) tasks.push_back(asyncio::create_task(square(x, 50ms * (7 - x))));
  std::vector<int> results =
      co_await asyncio::gather(tasks);  // results = await asyncio.gather(*tasks)
  std::printf("vector: %d %d %d\n", results[0], results[1], results[2]);
}

int main(int argc, char** argv) {
  parse_fast_flag(argc, argv);
  asyncio::run(main_coro());  // asyncio.run(main())
}
