// loop.call_soon with bound arguments (Python's functools.partial), call_later, cancelling a
// handle before it runs, and stopping run_forever from a callback.
#include <asyncio/asyncio.hpp>

#include <cstdio>
#include <string>

#include "common.hpp"

void hello(const std::string& name, int times) {
  for (int i = 0; i < times; ++i) std::printf("hello %s\n", name.c_str());
}

int main(int argc, char** argv) {
  auto step = step_duration(argc, argv);
  auto loop = asyncio::new_event_loop();
  loop->call_soon(hello, std::string("world"), 2);  // loop.call_soon(partial(hello, "world", 2))
  asyncio::Handle never = loop->call_soon(hello, std::string("nobody"), 1);
  never.cancel();  // cancelled before it ran: prints nothing
  loop->call_later(step / 10, [] { std::printf("later\n"); });
  loop->call_later(step / 5, [&] {
    std::printf("stopping\n");
    loop->stop();
  });
  loop->run_forever();
  loop->close();
}
