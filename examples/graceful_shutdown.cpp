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
// It accepts with loop.sock_accept rather than start_server because asyncio::Server::close()
// also closes the live connections (Python 3.13's close() and close_clients() in one), which
// would cut off the requests in flight.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asyncio/asyncio.hpp>

#include <cerrno>
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

// One accepted connection as the shutdown sees it: its reader, to stop reading requests, and
// the task serving it, to wait for it and to cancel it.
struct Connection {
  asyncio::StreamReader reader;
  asyncio::Task<void> task;
};

// A listening TCP socket on 127.0.0.1:port, non-blocking, closed when it goes.
class Listener {
 public:
  explicit Listener(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
    const int on = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    const asyncio::SocketAddress address = asyncio::SocketAddress::ip("127.0.0.1", port);
    if (::bind(fd_, address.data(), address.size()) != 0 || ::listen(fd_, 100) != 0) {
      const int error = errno;
      close();
      throw std::system_error(error, std::generic_category(), "bind/listen");
    }
  }
  ~Listener() { close(); }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  int fd() const noexcept { return fd_; }
  void close() noexcept {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  }

 private:
  int fd_ = -1;
};

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

// Accepts connections until cancelled, a task for each.
asyncio::Coro<> accept_clients(int listener, std::vector<Connection>& connections) {
  asyncio::EventLoop& loop = asyncio::get_running_loop();
  for (;;) {
    int fd = -1;
    try {
      fd = (co_await loop.sock_accept(listener)).first;  // conn, addr = await loop.sock_accept()
    } catch (const std::system_error& e) {  // out of descriptors, say: try again a bit later
      std::printf("accept: %s\n", e.what());
    }
    if (fd < 0) {
      co_await asyncio::sleep(100ms);
      continue;
    }
    auto [reader, writer] = asyncio::open_stream(fd);
    std::erase_if(connections, [](const Connection& c) { return c.task.done(); });
    connections.push_back({reader, asyncio::create_task(serve_client(reader, writer))});
  }
}

asyncio::Coro<> main_coro(std::uint16_t port, Seconds grace) {
  Listener listener(port);
  std::printf("Serving on %s\n",
              asyncio::SocketAddress::local_of(listener.fd()).to_string().c_str());

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

  std::vector<Connection> connections;
  asyncio::Task<void> accepting = asyncio::create_task(accept_clients(listener.fd(), connections));
  co_await stop.wait();
  loop.remove_signal_handler(SIGTERM);  // a second signal now ends the process at once
  loop.remove_signal_handler(SIGINT);

  // 1. Stop accepting: from now on a new connection is refused.
  accepting.cancel();
  try {
    co_await accepting;
  } catch (const asyncio::CancelledError&) {
  }
  listener.close();
  std::erase_if(connections, [](const Connection& c) { return c.task.done(); });
  std::printf("%s: stopped accepting; waiting up to %g s for %zu connection(s)\n", received,
              grace.count(), connections.size());

  // 2. Read no new requests: an idle connection sees EOF now and closes, a busy one once it
  //    has sent its reply.
  std::vector<asyncio::Task<void>> tasks;
  for (Connection& connection : connections) {
    connection.reader.feed_eof();
    tasks.push_back(connection.task);
  }

  // 3. Wait for them until the deadline. Then the gather is cancelled, and with it the tasks
  //    still running, which abort their connections.
  bool in_time = true;
  try {
    co_await asyncio::timeout(grace, asyncio::gather(tasks));  // async with timeout(grace):
  } catch (const asyncio::TimeoutError&) {                     //     await gather(*tasks)
    in_time = false;
  }
  if (in_time) {
    std::printf("all connections finished\n");
  } else {
    co_await asyncio::wait(tasks);  // until each cancelled task has unwound
    std::size_t aborted = 0;
    for (const asyncio::Task<void>& task : tasks) aborted += task.cancelled();
    std::printf("deadline passed: %zu connection(s) aborted\n", aborted);
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
