// Producers and consumers through one asyncio.Queue: producers put work items, consumers take
// them and mark each done with task_done(), and main waits for all of it with q.join(), then
// cancels the consumers, as in Python's Queue example.
#include <asyncio/asyncio.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "time_scale.hpp"

using namespace std::chrono_literals;

struct Job {
  int producer;
  int number;
  std::chrono::milliseconds work;
};

// async def producer(q, id, count):
asyncio::Coro<void> producer(asyncio::Queue<Job>& q, int id, int count) {
  for (int i = 0; i < count; ++i) {
    co_await asyncio::sleep(scaled(10ms));  // await asyncio.sleep(0.01)
    co_await q.put(
        Job{id, i, std::chrono::milliseconds(10 + 15 * ((id + i) % 3))});  // await q.put(job)
  }
  std::printf("producer %d: put %d jobs\n", id, count);
}

// async def consumer(q, name, done):
asyncio::Coro<void> consumer(asyncio::Queue<Job>& q, std::string name, std::vector<int>& done) {
  for (;;) {
    Job job = co_await q.get();  // job = await q.get()
    co_await asyncio::sleep(scaled(job.work));
    done.push_back(job.producer * 100 + job.number);
    std::printf("%s: job %d.%d took %lld ms\n", name.c_str(), job.producer, job.number,
                static_cast<long long>(job.work.count()));
    q.task_done();  // q.task_done()
  }
}

// async def main():
asyncio::Coro<void> main_coro() {
  constexpr int producers = 3, jobs_each = 4, consumers = 2;
  asyncio::Queue<Job> q(4);  // q = asyncio.Queue(maxsize=4): producers wait while it is full
  std::vector<int> done;

  // consumers = [asyncio.create_task(consumer(q, f'consumer-{i}')) for i in range(2)]
  std::vector<asyncio::Task<void>> workers;
  for (int i = 0; i < consumers; ++i) {
    workers.push_back(asyncio::create_task(consumer(q, "consumer-" + std::to_string(i), done)));
  }

  // await asyncio.gather(*(producer(q, i, 4) for i in range(3)))
  std::vector<asyncio::Coro<void>> ps;
  for (int i = 0; i < producers; ++i) ps.push_back(producer(q, i, jobs_each));
  co_await asyncio::gather(ps);

  co_await q.join();  // await q.join(): every job was processed

  for (auto& w : workers) w.cancel();  // for w in consumers: w.cancel()
  co_await asyncio::gather(asyncio::return_exceptions,
                           workers);  // gather(*consumers, return_exceptions=True)
  std::printf("all %zu jobs done, queue empty: %s\n", done.size(), q.empty() ? "yes" : "no");
}

int main(int argc, char** argv) {
  parse_fast_flag(argc, argv);
  asyncio::run(main_coro());  // asyncio.run(main())
}
