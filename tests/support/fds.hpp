// Test helpers: pipes and socket pairs that close themselves, and a listening TCP socket on
// the loopback interface.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <utility>

#include <asyncio/socket_address.hpp>

namespace asyncio_test {

inline int check(int result, const char* what) {
  if (result < 0) throw std::system_error(errno, std::generic_category(), what);
  return result;
}

/// An fd closed by the destructor unless released or closed first.
struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& other) noexcept : fd(std::exchange(other.fd, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    std::swap(fd, other.fd);
    return *this;
  }
  ~Fd() { close(); }
  void close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  /// Gives the fd up, to a stream that will close it.
  int release() { return std::exchange(fd, -1); }
  operator int() const { return fd; }
};

/// A non-blocking pipe: r is the read end, w the write end.
struct Pipe {
  Fd r, w;
  Pipe() {
    int fds[2];
    check(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), "pipe2");
    r = Fd(fds[0]);
    w = Fd(fds[1]);
  }
};

/// A connected pair of non-blocking Unix stream sockets.
struct SocketPair {
  Fd a, b;
  explicit SocketPair(int type = SOCK_STREAM) {
    int fds[2];
    check(::socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), "socketpair");
    a = Fd(fds[0]);
    b = Fd(fds[1]);
  }
};

/// A non-blocking socket of `family` and `type`.
inline Fd make_socket(int family = AF_INET, int type = SOCK_STREAM) {
  return Fd(check(::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), "socket"));
}

/// A TCP socket listening on an ephemeral port of `host` (127.0.0.1 or ::1).
struct Listener {
  Fd fd;
  asyncio::SocketAddress address;
  explicit Listener(const char* host = "127.0.0.1") {
    const asyncio::SocketAddress wanted = asyncio::SocketAddress::ip(host, 0);
    fd = make_socket(wanted.family());
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    check(::bind(fd, wanted.data(), wanted.size()), "bind");
    check(::listen(fd, 128), "listen");
    address = asyncio::SocketAddress::local_of(fd);
  }
};

}  // namespace asyncio_test
