// A program whose tasks are all stuck, and how to see where: tasks waiting in gather ->
// wait_for -> Queue.get, in a TaskGroup, and behind a shield. It prints the call graph of one
// of them (print_call_graph) and a dump of every task (print_all_tasks), then ends them.
// With --serve SECONDS it enables inspection instead and stays stuck that long, so that
// `asyncio-ps PID` and `asyncio-pstree PID` can look at it from outside (docs/debugging.md).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string_view>

#include "asyncio/asyncio.hpp"

using namespace std::chrono_literals;

asyncio::Coro<int> take(asyncio::Queue<int>& queue) { co_return co_await queue.get(); }

asyncio::Coro<int> fetch(asyncio::Queue<int>& queue) {
  co_return co_await asyncio::wait_for(take(queue), 1h);
}

asyncio::Coro<void> fetch_both(asyncio::Queue<int>& queue) {
  auto [a, b] = co_await asyncio::gather(fetch(queue), fetch(queue));
  std::printf("fetched %d and %d\n", a, b);
}

asyncio::Coro<void> wait_for_go(asyncio::Event& go) { co_await go.wait(); }

asyncio::Coro<void> guarded(asyncio::Event& go) { co_await asyncio::shield(wait_for_go(go)); }

asyncio::Coro<void> supervise(asyncio::Event& go) {
  co_await asyncio::task_group([&go](asyncio::TaskGroup& group) -> asyncio::Coro<void> {
    group.create_task(wait_for_go(go), "worker-1");
    group.create_task(wait_for_go(go), "worker-2");
    co_return;
  });
}

asyncio::Coro<void> amain(double serve_seconds) {
  asyncio::Queue<int> queue;
  asyncio::Event go;
  auto fetcher = asyncio::create_task(fetch_both(queue), "fetcher");
  auto guard = asyncio::create_task(guarded(go), "guard");
  auto supervisor = asyncio::create_task(supervise(go), "supervisor");
  for (int i = 0; i < 5; ++i) co_await asyncio::sleep(0s);  // every task reaches its wait

  asyncio::EventLoop& loop = asyncio::get_running_loop();
  if (serve_seconds > 0) {
    loop.enable_inspection();
    std::printf("pid %d ready: asyncio-ps %d, or kill -USR1 %d\n", getpid(), getpid(), getpid());
    std::fflush(stdout);
    co_await asyncio::sleep(std::chrono::duration<double>(serve_seconds));
  } else {
    std::cout << "== print_call_graph(fetcher's first child)\n";
    // The gather's first child: the task that awaits the fetcher's gather.
    for (const asyncio::TaskRef& task : asyncio::all_tasks()) {
      if (task.get_name() == "Task-5") asyncio::print_call_graph(task, std::cout);
    }
    std::cout << "== print_all_tasks\n";
    asyncio::print_all_tasks(loop, std::cout);
    std::cout << "== format_task_tree\n" << asyncio::format_task_tree(loop);
  }
  queue.put_nowait(1);
  queue.put_nowait(2);
  go.set();
  co_await fetcher;
  co_await guard;
  co_await supervisor;
  std::printf("all unstuck\n");
}

int main(int argc, char** argv) {
  double serve_seconds = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--serve" && i + 1 < argc)
      serve_seconds = std::atof(argv[++i]);
  }
  asyncio::run(amain(serve_seconds), {.debug = true});
}
