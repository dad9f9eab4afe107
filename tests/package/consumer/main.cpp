// A program outside the project that uses the library as a user would: tasks, gather, sleeps,
// and many short-lived tasks, so that frames and states are made and freed in bulk both in the
// program's code and in the library's.
#include <asyncio/asyncio.hpp>

#include <cstdio>
#include <vector>

asyncio::Coro<int> twice(int n) {
  co_await asyncio::sleep(std::chrono::milliseconds(1));
  co_return 2 * n;
}

asyncio::Coro<int> same(int n) {
  co_await asyncio::sleep(std::chrono::seconds(0));
  co_return n;
}

asyncio::Coro<int> main_coro() {
  for (int round = 0; round < 3; ++round) {
    std::vector<asyncio::Task<int>> tasks;
    for (int i = 0; i < 2000; ++i) tasks.push_back(asyncio::create_task(same(i)));
    std::vector<int> values = co_await asyncio::gather(tasks);
    if (values.back() != 1999) co_return -1;
  }
  auto [a, b] = co_await asyncio::gather(twice(1), twice(2));
  co_return a + b;
}

int main() {
  int total = asyncio::run(main_coro());
  std::printf("consumer ok: %d\n", total);
  return total == 6 ? 0 : 1;
}
