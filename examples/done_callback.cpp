// task.add_done_callback(cb): the callback receives the finished task and prints its result.
#include <asyncio/asyncio.hpp>

#include <cstdio>

#include "common.hpp"

using asyncio::Coro;

std::chrono::milliseconds step;

Coro<int> compute() {
  co_await asyncio::sleep(step / 10);
  co_return 42;
}

int main(int argc, char** argv) {
  step = step_duration(argc, argv);
  auto loop = asyncio::new_event_loop();     // loop = asyncio.new_event_loop()
  auto task = loop->create_task(compute());  // task = loop.create_task(compute())
  task.add_done_callback([](asyncio::Task<int> done) {
    std::printf("callback got result: %d\n", done.result());
  });
  loop->run_until_complete(task);
  // The callback was scheduled when the task finished; one more iteration runs it.
  loop->call_soon([&] { loop->stop(); });
  loop->run_forever();
  loop->close();
}
