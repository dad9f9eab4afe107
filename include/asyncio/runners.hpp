// asyncio::run and the loop accessors: new_event_loop, get_event_loop, set_event_loop,
// get_running_loop (declared in task.hpp).
#pragma once

#include <memory>
#include <utility>

#include "asyncio/coro.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/task.hpp"

namespace asyncio {

/// A new loop (waiting on `selector`, or the DefaultSelector).
std::unique_ptr<EventLoop> new_event_loop(std::unique_ptr<selectors::Selector> selector = nullptr);

/// The running loop if there is one, else the loop given to set_event_loop on this thread.
/// RuntimeError when there is neither (Python 3.14's behaviour; 3.12 would make a loop).
EventLoop& get_event_loop();

/// Makes `loop` this thread's current loop (null clears it). The caller keeps ownership.
void set_event_loop(EventLoop* loop) noexcept;

namespace detail {
/// RuntimeError when a loop is running on this thread.
void check_no_running_loop(const char* caller);
/// asyncio.run's shutdown: cancel every unfinished task, run the loop until they are all done,
/// report those that failed with something other than CancelledError.
void cancel_all_tasks(EventLoop& loop) noexcept;
}  // namespace detail

/// Runs `main` on a new loop and returns its value: Python's asyncio.run. When it is done
/// (returned or threw), the tasks still unfinished are cancelled and awaited, and the loop is
/// closed. RuntimeError when called from a running loop.
template <class T>
T run(Coro<T> main, bool debug = false) {
  detail::check_no_running_loop("asyncio::run()");
  EventLoop loop;
  loop.set_debug(debug);
  set_event_loop(&loop);
  struct Shutdown {
    EventLoop& loop;
    ~Shutdown() {
      detail::cancel_all_tasks(loop);
      loop.close();
      set_event_loop(nullptr);
    }
  } shutdown{loop};
  return loop.run_until_complete(std::move(main));
}

}  // namespace asyncio
