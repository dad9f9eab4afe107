// The socket operations on readiness (the loop's sock_* on a selector, and what the io_uring
// backend falls back to for pipes and sendfile): each tries its system call first and waits for
// readiness only when the call would block. None of them ever raises SIGPIPE.
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <system_error>

#include "asyncio/coro.hpp"
#include "asyncio/detail/fd_waiter.hpp"
#include "asyncio/detail/scheduler.hpp"
#include "asyncio/detail/syscall.hpp"
#include "asyncio/exceptions.hpp"
#include "asyncio/socket_address.hpp"
#include "io/readiness_backend.hpp"
#include "io/readiness_ops.hpp"

namespace asyncio::detail {

namespace {

/// send(2) without SIGPIPE, falling back to write(2) for pipes.
ssize_t send_some(int fd, const char* data, std::size_t size) {
  const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
  if (n < 0 && errno == ENOTSOCK) return write_without_sigpipe(fd, data, size);
  return n;
}

/// recv(2), falling back to read(2) for pipes.
ssize_t recv_some(int fd, void* data, std::size_t size) {
  const ssize_t n = ::recv(fd, data, size, 0);
  if (n < 0 && errno == ENOTSOCK) return ::read(fd, data, size);
  return n;
}

}  // namespace

void check_nonblocking(bool debug, int fd) {
  if (debug && !(::fcntl(fd, F_GETFL) & O_NONBLOCK))
    throw std::invalid_argument("the socket must be non-blocking");
}

Coro<std::pair<int, SocketAddress>> ReadinessBackend::accept(int fd) {
  return readiness_ops::accept(*this, scheduler_.debug(), fd);
}

Coro<void> ReadinessBackend::connect(int fd, SocketAddress address) {
  return readiness_ops::connect(*this, scheduler_.debug(), fd, std::move(address));
}

Coro<std::size_t> ReadinessBackend::recv_into(int fd, std::span<std::byte> buffer) {
  return readiness_ops::recv_into(*this, scheduler_.debug(), fd, buffer);
}

Coro<void> ReadinessBackend::send_all(int fd, std::string_view data) {
  return readiness_ops::send_all(*this, scheduler_.debug(), fd, data);
}

Coro<std::pair<std::string, SocketAddress>> ReadinessBackend::recvfrom(int fd,
                                                                       std::size_t max_bytes) {
  return readiness_ops::recvfrom(*this, scheduler_.debug(), fd, max_bytes);
}

Coro<std::size_t> ReadinessBackend::sendto(int fd, std::string_view data, SocketAddress address) {
  return readiness_ops::sendto(*this, scheduler_.debug(), fd, data, std::move(address));
}

Coro<std::pair<std::size_t, SocketAddress>> ReadinessBackend::recvfrom_into(
    int fd, std::span<char> buffer) {
  return readiness_ops::recvfrom_into(*this, scheduler_.debug(), fd, buffer);
}

Coro<void> ReadinessBackend::sendfile(int fd, int file, std::int64_t offset, std::size_t count,
                                      std::size_t& sent) {
  return readiness_ops::sendfile(*this, scheduler_.debug(), fd, file, offset, count, sent);
}

namespace readiness_ops {

Coro<std::pair<int, SocketAddress>> accept(IoBackend& backend, bool debug, int fd) {
  check_nonblocking(debug, fd);
  sockaddr_storage address;
  socklen_t size;
  for (;;) {
    const int conn = accept_connection(fd, address, size);
    if (conn >= 0)
      co_return std::pair{conn, SocketAddress(reinterpret_cast<sockaddr*>(&address), size)};
    co_await FdWaiter(backend, fd, IoBackend::reader);
  }
}

Coro<void> connect(IoBackend& backend, bool debug, int fd, SocketAddress address) {
  check_nonblocking(debug, fd);
  if (::connect(fd, address.data(), address.size()) == 0) co_return;
  const int error = errno;
  // EINTR: the connection goes on in the background, as for EINPROGRESS.
  if (error != EINPROGRESS && error != EINTR && !would_block(error)) throw_errno(error, "connect");
  co_await FdWaiter(backend, fd, IoBackend::writer);
  int result = 0;
  socklen_t size = sizeof result;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &result, &size) < 0) throw_errno(errno, "getsockopt");
  if (result != 0) throw_errno(result, "connect");
}

Coro<std::size_t> recv_into(IoBackend& backend, bool debug, int fd, std::span<std::byte> buffer) {
  check_nonblocking(debug, fd);
  for (;;) {
    const ssize_t n = attempt("recv", [&] { return recv_some(fd, buffer.data(), buffer.size()); });
    if (n >= 0) co_return static_cast<std::size_t>(n);
    co_await FdWaiter(backend, fd, IoBackend::reader);
  }
}

Coro<void> send_all(IoBackend& backend, bool debug, int fd, std::string_view data) {
  check_nonblocking(debug, fd);
  while (!data.empty()) {
    const ssize_t n = attempt("send", [&] { return send_some(fd, data.data(), data.size()); });
    if (n >= 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
    } else {
      co_await FdWaiter(backend, fd, IoBackend::writer);
    }
  }
}

Coro<std::pair<std::string, SocketAddress>> recvfrom(IoBackend& backend, bool debug, int fd,
                                                     std::size_t max_bytes) {
  check_nonblocking(debug, fd);
  std::string data(max_bytes, '\0');
  for (;;) {
    if (std::optional<SocketAddress> sender = try_recvfrom(fd, data))
      co_return std::pair{std::move(data), std::move(*sender)};
    co_await FdWaiter(backend, fd, IoBackend::reader);
  }
}

Coro<std::size_t> sendto(IoBackend& backend, bool debug, int fd, std::string_view data,
                         SocketAddress address) {
  check_nonblocking(debug, fd);
  for (;;) {
    const ssize_t n = try_sendto(fd, data, &address);
    if (n >= 0) co_return static_cast<std::size_t>(n);
    co_await FdWaiter(backend, fd, IoBackend::writer);
  }
}

Coro<std::pair<std::size_t, SocketAddress>> recvfrom_into(IoBackend& backend, bool debug, int fd,
                                                          std::span<char> buffer) {
  check_nonblocking(debug, fd);
  for (;;) {
    if (auto got = try_recvfrom_into(fd, buffer)) co_return std::move(*got);
    co_await FdWaiter(backend, fd, IoBackend::reader);
  }
}

// sendfile(2) has no MSG_NOSIGNAL: SIGPIPE is held back around it. A file sendfile(2) cannot
// read from (a pipe, a socket), or an fd it cannot write to, fails before any byte is sent.
// After each call that sent part of it, the send waits for the socket to be writable, so the
// loop runs between the calls (Python's _sock_sendfile_native_impl): a peer that keeps draining
// the socket does not keep the whole file in one step of the task.
Coro<void> sendfile(IoBackend& backend, bool debug, int fd, int file, std::int64_t offset,
                    std::size_t count, std::size_t& sent) {
  check_nonblocking(debug, fd);
  constexpr std::size_t most_per_call = 0x7ffff000;  // what Linux sends per call at most
  off_t at = static_cast<off_t>(offset);             // sendfile(2) moves it past what it sent
  for (std::size_t total = 0; total < count; total = static_cast<std::size_t>(at - offset)) {
    const std::size_t chunk = std::min(count - total, most_per_call);
    const ssize_t n = without_sigpipe([&] { return ::sendfile(fd, file, &at, chunk); });
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      if (static_cast<std::size_t>(at - offset) < count)
        co_await FdWaiter(backend, fd, IoBackend::writer);
      continue;
    }
    if (n == 0) break;  // the file ended
    const int error = errno;
    if (error == EINTR) continue;
    if (would_block(error)) {
      co_await FdWaiter(backend, fd, IoBackend::writer);
      continue;
    }
    if (at == offset && (error == EINVAL || error == ENOSYS || error == ESPIPE ||
                         error == EOVERFLOW || error == EOPNOTSUPP)) {
      throw SendfileNotAvailableError("os.sendfile call failed: " +
                                      std::system_category().message(error));
    }
    throw_errno(error, "sendfile");
  }
}

}  // namespace readiness_ops

}  // namespace asyncio::detail
