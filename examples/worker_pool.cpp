// A bounded worker pool: a TaskGroup runs one task per job, and a Semaphore lets at most three
// of them work at a time. The group returns once every job is done; had one failed, the others
// would have been cancelled and the failure thrown in an ExceptionGroup.
#include <asyncio/asyncio.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "time_scale.hpp"

using namespace std::chrono_literals;

struct Pool {
  asyncio::Semaphore slots{3};  // sem = asyncio.Semaphore(3)
  int busy = 0;
  int most_busy = 0;
};

// async def fetch(pool, n):
asyncio::Coro<int> fetch(Pool& pool, int n) {
  auto slot = co_await pool.slots.scoped();  // async with sem:
  pool.most_busy = std::max(pool.most_busy, ++pool.busy);
  co_await asyncio::sleep(scaled(std::chrono::milliseconds(20 + 10 * (n % 4))));
  --pool.busy;
  co_return n* n;
}

// async def main():
asyncio::Coro<void> main_coro() {
  Pool pool;
  std::vector<asyncio::Task<int>> jobs;
  // async with asyncio.TaskGroup() as tg:
  //     jobs = [tg.create_task(fetch(sem, n)) for n in range(10)]
  co_await asyncio::task_group([&](asyncio::TaskGroup& tg) -> asyncio::Coro<void> {
    for (int n = 0; n < 10; ++n) jobs.push_back(tg.create_task(fetch(pool, n)));
    co_return;
  });
  // Every task is done here.
  std::printf("results:");
  for (auto& job : jobs) std::printf(" %d", job.result());
  std::printf("\nat most %d jobs ran at once\n", pool.most_busy);
}

int main(int argc, char** argv) {
  parse_fast_flag(argc, argv);
  asyncio::run(main_coro());
}
