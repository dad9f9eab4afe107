// A TCP server that shuts down gracefully, as a Python server does with
// loop.add_signal_handler(signal.SIGTERM, ...): on SIGTERM or SIGINT it stops accepting at once
// (new connections are refused), reads no new requests, lets each connection finish the one it
// is working on within a deadline, aborts the connections still open after it, and exits with
// status 0. A second signal ends it at once: the default dispositions are back by then.
//
// Each connection is a slow echo: every message (a read of up to 100 bytes, as in echo_server)
// is sent back after --work seconds of "work"; the connection closes at EOF.
//   example_graceful_shutdown [PORT] [--work SECONDS] [--grace SECONDS]
// PORT is 8888 by default (0 picks a free one, printed in the "Serving on" line); --work is 1 s
// and --grace, the deadline, 5 s. Try: nc 127.0.0.1 8888, type a line, and send the server
// SIGTERM before the reply comes.
//
// The shutdown is Python's: server.close() (stop listening; live connections stay open), then
// server.wait_closed() under a timeout, then server.abort_clients() for what is left.
#include <signal.h>

#include <asyncio/asyncio.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "repr.hpp"

using namespace std::chrono_literals;
using Seconds = std::chrono::duration<double>;

namespace {

Seconds work_time = 1s;

// Serves one connection: each message is sent back after work_time, until EOF (the client is
// done, or the shutdown stopped reading requests). Cancelled at the deadline, it aborts the
// connection.
asyncio::Coro<> serve_client(asyncio::StreamReader reader, asyncio::StreamWriter writer) {
  const std::string peer = writer.peername().to_string();
  try {
    for (;;) {
      const std::string data = co_await reader.read(100);
      if (data.empty()) break;
      std::printf("%s: received %s, working on it\n", peer.c_str(), repr(data).c_str());
      co_await asyncio::sleep(work_time);
      writer.write(data);
      co_await writer.drain();
      std::printf("%s: replied\n", peer.c_str());
    }
    writer.close();
    co_await writer.wait_closed();
    std::printf("%s: closed\n", peer.c_str());
  } catch (const asyncio::CancelledError&) {
    writer.abort();  // closed at once; what was buffered is dropped
    std::printf("%s: aborted\n", peer.c_str());
    throw;
  } catch (const std::system_error& e) {  // the client reset the connection
    std::printf("%s: %s\n", peer.c_str(), e.what());
  }
}

asyncio::Coro<> main_coro(std::uint16_t port, Seconds grace) {
  // The readers of the connections, so that the shutdown can stop them reading requests.
  std::vector<asyncio::StreamReader> readers;
  asyncio::Server server = co_await asyncio::start_server(
      [&readers](asyncio::StreamReader reader, asyncio::StreamWriter writer) {
        readers.push_back(reader);
        return serve_client(reader, writer);
      },
      "127.0.0.1", port);
  std::printf("Serving on %s\n", server.addresses().at(0).to_string().c_str());

  // loop.add_signal_handler(signal.SIGTERM, stop.set), and the same for SIGINT. The handlers
  // run as ordinary callbacks on the loop, so they may touch anything the loop's tasks do.
  asyncio::EventLoop& loop = asyncio::get_running_loop();
  asyncio::Event stop;
  const char* received = "";
  struct StopSignals {  // the handlers refer to this frame: removed however it ends
    asyncio::EventLoop& loop;
    ~StopSignals() {
      loop.remove_signal_handler(SIGTERM);
      loop.remove_signal_handler(SIGINT);
    }
  } stop_signals{loop};
  loop.add_signal_handler(SIGTERM, [&] {
    received = "SIGTERM";
    stop.set();
  });
  loop.add_signal_handler(SIGINT, [&] {
    received = "SIGINT";
    stop.set();
  });
  co_await stop.wait();
  loop.remove_signal_handler(SIGTERM);  // a second signal now ends the process at once
  loop.remove_signal_handler(SIGINT);

  // 1. Stop accepting: from now on a new connection is refused. The live ones stay open.
  server.close();
  std::printf("%s: stopped accepting; waiting up to %g s for %zu connection(s)\n", received,
              grace.count(), server.active_connections());

  // 2. Read no new requests: an idle connection sees EOF now and closes, a busy one once it
  //    has sent its reply.
  for (asyncio::StreamReader& reader : readers) reader.feed_eof();

  // 3. Wait for them until the deadline, then abort the ones still open.
  bool in_time = true;
  try {
    co_await asyncio::timeout(grace, server.wait_closed());  // async with timeout(grace):
  } catch (const asyncio::TimeoutError&) {                   //     await server.wait_closed()
    in_time = false;
  }
  if (in_time) {
    std::printf("all connections finished\n");
  } else {
    const std::size_t open = server.active_connections();
    server.abort_clients();
    co_await server.wait_closed();
    std::printf("deadline passed: %zu connection(s) aborted\n", open);
  }
  std::printf("bye\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each line out at once, also into a pipe or file
  int port = 8888;
  Seconds grace = 5s;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--work" && i + 1 < argc) {
      work_time = Seconds(std::atof(argv[++i]));
    } else if (arg == "--grace" && i + 1 < argc) {
      grace = Seconds(std::atof(argv[++i]));
    } else {
      port = std::atoi(argv[i]);
    }
  }
  asyncio::run(main_coro(static_cast<std::uint16_t>(port), grace));
}
