// loop.run_until_complete(x) runs the loop until x is done and returns its value: x may be a task,
// or a coroutine (which it wraps in a task).
#include <asyncio/asyncio.hpp>

#include <chrono>
#include <cstdio>
#include <string>

#include "time_scale.hpp"

using namespace std::chrono_literals;

// async def greet(who):
asyncio::Coro<std::string> greet(std::string who) {
  co_await asyncio::sleep(scaled(100ms));  // await asyncio.sleep(0.1)
  co_return "hello, " + who;
}

int main(int argc, char** argv) {
  parse_fast_flag(argc, argv);
  auto loop = asyncio::new_event_loop();  // loop = asyncio.new_event_loop()

  auto task = loop->create_task(greet("task"));  // task = loop.create_task(greet("task"))
  std::printf("%s\n",
              loop->run_until_complete(task).c_str());  // print(loop.run_until_complete(task))
  std::printf("the task is done: %s\n", task.done() ? "yes" : "no");

  // print(loop.run_until_complete(greet("coroutine")))
  std::printf("%s\n", loop->run_until_complete(greet("coroutine")).c_str());
  loop->close();  // loop.close()
}
