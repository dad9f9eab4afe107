// connect_read_pipe / connect_write_pipe: a StreamTransport over one end of a pipe (Python's
// _UnixReadPipeTransport and _UnixWritePipeTransport), with a protocol from a factory or, in
// stream form, a StreamReaderProtocol.
#include <fcntl.h>
#include <sys/stat.h>

#include <memory>
#include <stdexcept>

#include "asyncio/connections.hpp"
#include "asyncio/detail/owned_fd.hpp"
#include "asyncio/detail/stream_transport.hpp"
#include "asyncio/detail/syscall.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/streams.hpp"

namespace asyncio {

namespace {

using Kind = detail::StreamTransport::Kind;

// Checks that fd is something a selector can watch as a stream, makes it non-blocking, and
// opens a transport over it. Until the transport takes it, fd stays the caller's.
std::shared_ptr<detail::StreamTransport> open_pipe(int fd, Kind kind,
                                                   std::shared_ptr<StreamProtocol> protocol) {
  EventLoop& loop = get_running_loop();
  struct stat status;
  if (::fstat(fd, &status) != 0) detail::throw_errno(errno, "fstat");
  if (!S_ISFIFO(status.st_mode) && !S_ISSOCK(status.st_mode) && !S_ISCHR(status.st_mode))
    throw std::invalid_argument("Pipe transport is for pipes/sockets/character devices only");
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
    detail::throw_errno(errno, "fcntl");
  return detail::StreamTransport::open(loop, detail::OwnedFd(fd), kind, std::move(protocol));
}

}  // namespace

Coro<StreamReader> connect_read_pipe(int fd, std::size_t limit) {
  auto protocol = std::make_shared<StreamReaderProtocol>(limit);
  open_pipe(fd, Kind::read_pipe, protocol);
  co_return StreamReader(std::move(protocol));
}

Coro<StreamWriter> connect_write_pipe(int fd) {
  auto protocol = std::make_shared<StreamReaderProtocol>(DEFAULT_LIMIT);
  open_pipe(fd, Kind::write_pipe, protocol);
  co_return StreamWriter(std::move(protocol));
}

Coro<detail::StreamConnection> detail::connect_pipe(ProtocolFactory factory, int fd,
                                                    bool read_end) {
  auto protocol = factory();
  auto transport = open_pipe(fd, read_end ? Kind::read_pipe : Kind::write_pipe, protocol);
  co_return StreamConnection(std::move(transport), std::move(protocol));
}

}  // namespace asyncio
