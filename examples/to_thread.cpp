// Python's asyncio.to_thread example: a blocking call runs on the default executor's thread
// while the loop sleeps, so the two 1 s waits overlap and main takes about 1 s, not 2 s.
#include <asyncio/asyncio.hpp>

#include <chrono>
#include <cstdio>
#include <thread>

#include "time_scale.hpp"

using namespace std::chrono_literals;

// def blocking_io():
void blocking_io() {
  std::printf("start blocking_io\n");
  std::this_thread::sleep_for(scaled(1s));  // time.sleep(1): blocks its thread, not the loop
  std::printf("blocking_io complete\n");
}

// asyncio.sleep(1), as a coroutine that gather can take
asyncio::Coro<void> sleep_one() { co_await asyncio::sleep(scaled(1s)); }

// async def main():
asyncio::Coro<void> main_coro() {
  std::printf("started main\n");
  co_await asyncio::gather(
      asyncio::to_thread(blocking_io),  // await asyncio.gather(asyncio.to_thread(blocking_io),
      sleep_one());                     //                      asyncio.sleep(1))
  std::printf("finished main\n");
}

int main(int argc, char** argv) {
  parse_fast_flag(argc, argv);
  auto start = std::chrono::steady_clock::now();
  asyncio::run(main_coro());  // asyncio.run(main())

  // One after the other the waits would take 2 steps; overlapping, about 1.
  return check_total_time(start, 1, 1.8, "the waits were too short", "the waits did not overlap");
}
