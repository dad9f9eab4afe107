// connect_read_pipe / connect_write_pipe: a StreamTransport over one end of a pipe (Python's
// _UnixReadPipeTransport and _UnixWritePipeTransport, in stream form).
#include <fcntl.h>
#include <sys/stat.h>

#include <memory>
#include <stdexcept>

#include "asyncio/detail/owned_fd.hpp"
#include "asyncio/detail/syscall.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/streams.hpp"

namespace asyncio {

namespace {

using Kind = detail::StreamTransport::Kind;

// Checks that fd is something a selector can watch as a stream, makes it non-blocking, and
// wraps it. Until the transport takes it, fd stays the caller's.
std::shared_ptr<detail::StreamTransport> pipe_transport(int fd, std::size_t limit, Kind kind) {
  EventLoop& loop = get_running_loop();
  struct stat status;
  if (::fstat(fd, &status) != 0) detail::throw_errno(errno, "fstat");
  if (!S_ISFIFO(status.st_mode) && !S_ISSOCK(status.st_mode) && !S_ISCHR(status.st_mode))
    throw std::invalid_argument("Pipe transport is for pipes/sockets/character devices only");
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
    detail::throw_errno(errno, "fcntl");
  return std::make_shared<detail::StreamTransport>(loop, detail::OwnedFd(fd), limit, kind);
}

}  // namespace

Coro<StreamReader> connect_read_pipe(int fd, std::size_t limit) {
  co_return StreamReader(pipe_transport(fd, limit, Kind::read_pipe));
}

Coro<StreamWriter> connect_write_pipe(int fd) {
  co_return StreamWriter(pipe_transport(fd, DEFAULT_LIMIT, Kind::write_pipe));
}

}  // namespace asyncio
