// Shared by the server examples (and bench/echo_server.cpp): close_on_stop_signal(server), a
// coroutine that makes SIGINT (Ctrl-C) and SIGTERM close the server and its live connections
// (after their buffered bytes), so that its serve_forever() returns and wait_closed() does not
// wait for idle clients: Python's loop.add_signal_handler(signal.SIGTERM, server.close), with
// close_clients() (examples/graceful_shutdown.cpp lets the connections finish instead). Run
// it as a task; it keeps the two handlers until the server and its connections are closed, or
// until it is cancelled (asyncio::run cancels it at exit), then removes them, which puts the
// signals' former dispositions back (a later Ctrl-C ends the process at once).
#pragma once

#include <signal.h>

#include <asyncio/asyncio.hpp>

inline asyncio::Coro<> close_on_stop_signal(asyncio::Server& server) {
  // A copy of the handle, for the handlers too: a signal that comes after the caller's Server
  // has gone (while asyncio::run shuts down) still finds the server.
  asyncio::Server handle = server;
  asyncio::EventLoop& loop = asyncio::get_running_loop();
  struct Handlers {  // removed however the task ends
    asyncio::EventLoop& loop;
    ~Handlers() {
      loop.remove_signal_handler(SIGINT);
      loop.remove_signal_handler(SIGTERM);
    }
  } handlers{loop};
  for (const int sig : {SIGINT, SIGTERM}) {
    loop.add_signal_handler(sig, [handle]() mutable {
      handle.close();
      handle.close_clients();
    });
  }
  co_await handle.wait_closed();
}
