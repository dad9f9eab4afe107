// Must not compile: a container of loop-bound handles is loop-bound too (see
// run_returns_a_task.cpp).
#include <asyncio/asyncio.hpp>

#include <vector>

asyncio::Coro<int> answer() { co_return 42; }

asyncio::Coro<std::vector<asyncio::Task<int>>> spawn() {
  std::vector<asyncio::Task<int>> tasks;
  tasks.push_back(asyncio::create_task(answer()));
  co_return tasks;
}

int main() { return asyncio::run(spawn()).size() == 1 ? 0 : 1; }
