// A file server on a Protocol and loop.sendfile: each connection's HTTP request (any path) is
// answered with one file, its bytes going from the page cache to the socket by sendfile(2)
// without passing through user memory; then the connection is closed. A request that does not
// end its headers within 8 KiB gets "400 Bad Request".
//   example_sendfile_server FILE [PORT] [--once]
//   curl -o copy http://127.0.0.1:8080/
// PORT is 8080 by default; 0 lets the OS pick a free one (the "Serving on" line tells which).
// --once exits after the first client; Ctrl-C (SIGINT) or SIGTERM stops it any time.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <asyncio/asyncio.hpp>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "stop_signals.hpp"

namespace {

asyncio::Server* close_after_client = nullptr;

struct SharedFile {
  int fd;
  std::size_t size;
};

// Sends the answer's head, then the file, then closes; the transport's write() is refused
// while sendfile runs, so nothing else can slip in between.
asyncio::Coro<> send_file(std::shared_ptr<asyncio::Transport> transport, SharedFile file) {
  transport->write("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                   std::to_string(file.size) + "\r\nConnection: close\r\n\r\n");
  try {
    const std::size_t sent =
        co_await asyncio::get_running_loop().sendfile(transport, file.fd, 0, file.size);
    std::printf("Sent %zu bytes\n", sent);
  } catch (const std::exception& error) {  // the client went away
    std::printf("Stopped: %s\n", error.what());
  }
  transport->close();
}

class FileServerProtocol : public asyncio::Protocol {
 public:
  explicit FileServerProtocol(SharedFile file) : file_(file) {}

  void connection_made(std::shared_ptr<asyncio::Transport> transport) override {
    transport_ = std::move(transport);
  }

  // Headers arrive in pieces: answer once they end (each sendfile starts at offset 0 and does
  // not share the file's position with the others: several clients at once are fine).
  void data_received(std::string_view data) override {
    if (answered_) return;
    request_ += data;
    if (request_.find("\r\n\r\n") != std::string::npos) {
      answered_ = true;
      asyncio::create_task(send_file(transport_, file_));
    } else if (request_.size() > 8192) {
      answered_ = true;
      transport_->write(
          "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      transport_->close();
    }
  }

  void connection_lost(std::exception_ptr) override {
    if (close_after_client) close_after_client->close();
  }

 private:
  SharedFile file_;
  std::shared_ptr<asyncio::Transport> transport_;
  std::string request_;
  bool answered_ = false;
};

asyncio::Coro<> main_coro(SharedFile file, int port, bool once) {
  asyncio::Server server = co_await asyncio::create_server(
      [file] { return std::make_shared<FileServerProtocol>(file); }, "127.0.0.1",
      static_cast<std::uint16_t>(port), asyncio::ServerOptions{.backlog = 1024});
  for (const asyncio::SocketAddress& address : server.addresses())
    std::printf("Serving on %s\n", address.to_string().c_str());
  if (once) close_after_client = &server;
  asyncio::create_task(close_on_stop_signal(server));
  co_await server.serve_forever();
  co_await server.wait_closed();
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE [PORT] [--once]\n", argv[0]);
    return 2;
  }
  const int fd = ::open(argv[1], O_RDONLY | O_CLOEXEC);
  struct stat status;
  if (fd < 0 || ::fstat(fd, &status) != 0 || !S_ISREG(status.st_mode)) {
    std::fprintf(stderr, "error: %s is not a readable regular file\n", argv[1]);
    return 1;
  }
  int port = 8080;
  bool once = false;
  for (int i = 2; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--once")
      once = true;
    else
      port = std::atoi(argv[i]);
  }
  asyncio::run(main_coro({fd, static_cast<std::size_t>(status.st_size)}, port, once));
  ::close(fd);
}
