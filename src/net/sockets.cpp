// The loop's socket coroutines (Python's loop.sock_*), forwarded to its I/O backend: a readiness
// backend tries each system call first and waits for readiness only when it would block.
#include <span>

#include "asyncio/coro.hpp"
#include "asyncio/event_loop.hpp"

namespace asyncio {

Coro<std::pair<int, SocketAddress>> EventLoop::sock_accept(int fd) { return io_->accept(fd); }

Coro<void> EventLoop::sock_connect(int fd, SocketAddress address) {
  return io_->connect(fd, std::move(address));
}

Coro<std::size_t> EventLoop::sock_recv_into(int fd, std::span<std::byte> buffer) {
  return io_->recv_into(fd, buffer);
}

Coro<std::string> EventLoop::sock_recv(int fd, std::size_t max_bytes) {
  std::string data(max_bytes, '\0');
  const std::size_t n = co_await io_->recv_into(fd, std::as_writable_bytes(std::span(data)));
  data.resize(n);
  co_return data;
}

Coro<void> EventLoop::sock_sendall(int fd, std::string_view data) {
  return io_->send_all(fd, data);
}

Coro<std::pair<std::string, SocketAddress>> EventLoop::sock_recvfrom(int fd,
                                                                     std::size_t max_bytes) {
  return io_->recvfrom(fd, max_bytes);
}

Coro<std::size_t> EventLoop::sock_sendto(int fd, std::string_view data, SocketAddress address) {
  return io_->sendto(fd, data, std::move(address));
}

Coro<std::pair<std::size_t, SocketAddress>> EventLoop::sock_recvfrom_into(int fd,
                                                                          std::span<char> buffer) {
  return io_->recvfrom_into(fd, buffer);
}

}  // namespace asyncio
