// loop.run_until_complete on a task, and directly on a coroutine (wrapped in a task for you).
#include <asyncio/asyncio.hpp>

#include <cstdio>
#include <string>

#include "common.hpp"

using asyncio::Coro;

std::chrono::milliseconds step;

Coro<std::string> greet(std::string who) {
  co_await asyncio::sleep(step / 10);
  co_return "hello, " + who;
}

int main(int argc, char** argv) {
  step = step_duration(argc, argv);
  auto loop = asyncio::new_event_loop();
  auto task = loop->create_task(greet("task"));
  std::printf("%s\n", loop->run_until_complete(task).c_str());
  std::printf("%s\n", loop->run_until_complete(greet("coroutine")).c_str());
  loop->close();
}
