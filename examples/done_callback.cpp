// task.add_done_callback(cb): once the task is done, the loop calls cb with the task, and the
// callback prints the task's result.
#include <asyncio/asyncio.hpp>

#include <chrono>
#include <cstdio>

#include "time_scale.hpp"

using namespace std::chrono_literals;

// async def compute():
asyncio::Coro<int> compute() {
  co_await asyncio::sleep(scaled(100ms));  // await asyncio.sleep(0.1)
  co_return 42;
}

// def on_done(task):
void on_done(asyncio::Task<int> task) { std::printf("callback got result: %d\n", task.result()); }

int main(int argc, char** argv) {
  parse_fast_flag(argc, argv);
  auto loop = asyncio::new_event_loop();     // loop = asyncio.new_event_loop()
  auto task = loop->create_task(compute());  // task = loop.create_task(compute())
  task.add_done_callback(on_done);           // task.add_done_callback(on_done)
  int result = loop->run_until_complete(task);
  std::printf("run_until_complete returned %d\n", result);
  loop->close();
}
