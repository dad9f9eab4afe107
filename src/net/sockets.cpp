// The loop's socket coroutines (Python's loop.sock_*), forwarded to its I/O backend: a readiness
// backend tries each system call first and waits for readiness only when it would block. An fd
// an open transport uses is refused (RuntimeError), as Python's _ensure_fd_no_transport does.
#include <span>

#include "asyncio/coro.hpp"
#include "asyncio/event_loop.hpp"

namespace asyncio {

namespace {

/// What a sock_* coroutine gives for an fd an open transport uses: one that raises the
/// RuntimeError when awaited, as Python's coroutines do (the usual path makes no extra frame).
template <class T>
Coro<T> refuse_fd_in_transport(int fd) {
  co_await std::suspend_never{};
  detail::throw_fd_in_transport(fd);
}

}  // namespace

Coro<std::pair<int, SocketAddress>> EventLoop::sock_accept(int fd) {
  if (open_transports_.uses(fd)) [[unlikely]]
    return refuse_fd_in_transport<std::pair<int, SocketAddress>>(fd);
  return io_->accept(fd);
}

Coro<void> EventLoop::sock_connect(int fd, SocketAddress address) {
  if (open_transports_.uses(fd)) [[unlikely]]
    return refuse_fd_in_transport<void>(fd);
  return io_->connect(fd, std::move(address));
}

Coro<std::size_t> EventLoop::sock_recv_into(int fd, std::span<std::byte> buffer) {
  if (open_transports_.uses(fd)) [[unlikely]]
    return refuse_fd_in_transport<std::size_t>(fd);
  return io_->recv_into(fd, buffer);
}

Coro<std::string> EventLoop::sock_recv(int fd, std::size_t max_bytes) {
  check_fd_not_in_transport(fd);
  std::string data(max_bytes, '\0');
  const std::size_t n = co_await io_->recv_into(fd, std::as_writable_bytes(std::span(data)));
  data.resize(n);
  co_return data;
}

Coro<void> EventLoop::sock_sendall(int fd, std::string_view data) {
  if (open_transports_.uses(fd)) [[unlikely]]
    return refuse_fd_in_transport<void>(fd);
  return io_->send_all(fd, data);
}

Coro<std::pair<std::string, SocketAddress>> EventLoop::sock_recvfrom(int fd,
                                                                     std::size_t max_bytes) {
  if (open_transports_.uses(fd)) [[unlikely]]
    return refuse_fd_in_transport<std::pair<std::string, SocketAddress>>(fd);
  return io_->recvfrom(fd, max_bytes);
}

Coro<std::size_t> EventLoop::sock_sendto(int fd, std::string_view data, SocketAddress address) {
  if (open_transports_.uses(fd)) [[unlikely]]
    return refuse_fd_in_transport<std::size_t>(fd);
  return io_->sendto(fd, data, std::move(address));
}

Coro<std::pair<std::size_t, SocketAddress>> EventLoop::sock_recvfrom_into(int fd,
                                                                          std::span<char> buffer) {
  if (open_transports_.uses(fd)) [[unlikely]]
    return refuse_fd_in_transport<std::pair<std::size_t, SocketAddress>>(fd);
  return io_->recvfrom_into(fd, buffer);
}

}  // namespace asyncio
