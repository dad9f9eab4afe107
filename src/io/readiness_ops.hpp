// The socket operations on readiness: the system call first, a wait for readiness (an FdWaiter,
// through any backend's watchers) only when it would block. ReadinessBackend's sock_* are these;
// the io_uring backend uses them for what it does not submit (pipes, sendfile). Each checks, in
// debug mode, that the fd is non-blocking (Python's ValueError), where it is awaited.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "asyncio/coro.hpp"
#include "asyncio/detail/io_backend.hpp"
#include "asyncio/socket_address.hpp"

namespace asyncio::detail {

/// std::invalid_argument when `debug` and fd is a blocking one.
void check_nonblocking(bool debug, int fd);

namespace readiness_ops {

Coro<std::pair<int, SocketAddress>> accept(IoBackend& backend, bool debug, int fd);
Coro<void> connect(IoBackend& backend, bool debug, int fd, SocketAddress address);
Coro<std::size_t> recv_into(IoBackend& backend, bool debug, int fd, std::span<std::byte> buffer);
Coro<void> send_all(IoBackend& backend, bool debug, int fd, std::string_view data);
Coro<std::pair<std::string, SocketAddress>> recvfrom(IoBackend& backend, bool debug, int fd,
                                                     std::size_t max_bytes);
Coro<std::size_t> sendto(IoBackend& backend, bool debug, int fd, std::string_view data,
                         SocketAddress address);
Coro<std::pair<std::size_t, SocketAddress>> recvfrom_into(IoBackend& backend, bool debug, int fd,
                                                          std::span<char> buffer);
Coro<void> sendfile(IoBackend& backend, bool debug, int fd, int file, std::int64_t offset,
                    std::size_t count, std::size_t& sent);

}  // namespace readiness_ops

}  // namespace asyncio::detail
