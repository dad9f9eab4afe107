// loop.call_soon with bound arguments (as with functools.partial), call_later, cancelling a
// handle before its callback runs, and a callback that stops run_forever.
#include <asyncio/asyncio.hpp>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>

#include "time_scale.hpp"

using namespace std::chrono_literals;

// def hello(name, times):
void hello(const std::string& name, int times) {
  for (int i = 0; i < times; ++i) std::printf("hello %s\n", name.c_str());
}

// print(text)
void say(const char* text) { std::printf("%s\n", text); }

// def stop_loop(loop):
void stop_loop(asyncio::EventLoop* loop) {
  std::printf("stopping\n");
  loop->stop();
}

int main(int argc, char** argv) {
  parse_fast_flag(argc, argv);
  auto loop = asyncio::new_event_loop();  // loop = asyncio.new_event_loop()

  // Arguments are stored with the callback, by value: a loop is passed as a pointer.
  loop->call_soon(hello, "world", 1);  // loop.call_soon(hello, "world", 1)
  loop->call_soon(
      std::bind_front(hello, "partial", 2));  // loop.call_soon(partial(hello, "partial", 2))

  asyncio::Handle handle =
      loop->call_soon(say, "never printed");  // handle = loop.call_soon(print, ...)
  handle.cancel();                            // handle.cancel()
  std::printf("handle cancelled: %s\n", handle.cancelled() ? "True" : "False");

  loop->call_later(scaled(100ms), say, "later");           // loop.call_later(0.1, print, "later")
  loop->call_later(scaled(200ms), stop_loop, loop.get());  // loop.call_later(0.2, stop_loop, loop)
  loop->run_forever();                                     // loop.run_forever()
  loop->close();                                           // loop.close()
}
