// The shape of a non-blocking system call, shared by the socket coroutines, streams, servers
// and datagram endpoints: retry after EINTR (the one place that does), "would block" as a
// value, any other error thrown as std::system_error carrying errno.
#pragma once

#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "asyncio/socket_address.hpp"

namespace asyncio::detail {

inline bool would_block(int error) noexcept { return error == EAGAIN || error == EWOULDBLOCK; }

/// Whether `fd` is a socket of another type than SOCK_STREAM (a datagram socket); false for a
/// stream socket, and for what is no socket, which the call using it then refuses with errno.
inline bool is_socket_but_not_stream(int fd) noexcept {
  int type = 0;
  socklen_t size = sizeof type;
  return ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &size) == 0 && type != SOCK_STREAM;
}

/// The one way an OS error becomes an exception: std::system_error carrying the errno value.
inline std::system_error errno_error(int error, const std::string& what) {
  return std::system_error(error, std::generic_category(), what);
}
[[noreturn]] inline void throw_errno(int error, const std::string& what) {
  throw errno_error(error, what);
}

/// Makes `call`, a system call that returns -1 and sets errno on failure, again as long as it
/// fails with EINTR; returns its last result (errno tells why when it is negative).
template <class Call>
auto retry_on_eintr(Call call) noexcept(noexcept(call())) {
  for (;;) {
    const auto n = call();
    if (n >= 0 || errno != EINTR) return n;
  }
}

/// retry_on_eintr, with "would block" as -1 and every other error thrown.
template <class Call>
ssize_t attempt(const char* what, Call call) {
  const ssize_t n = retry_on_eintr(call);
  if (n < 0 && !would_block(errno)) throw_errno(errno, what);
  return n;
}

/// Makes `call` (a write(2) to a pipe, a sendfile(2): calls with no MSG_NOSIGNAL) without
/// SIGPIPE: the signal is blocked in this thread for the call, and one the call raised is taken
/// back before unblocking it. The disposition of SIGPIPE is left alone. A call that sent some
/// bytes before the peer went away returns their count with SIGPIPE raised all the same (a
/// sendfile(2) does), so any result but another error is checked for one.
template <class F>
ssize_t without_sigpipe(F call) noexcept {
  sigset_t sigpipe, old, pending;
  sigemptyset(&sigpipe);
  sigaddset(&sigpipe, SIGPIPE);
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  pthread_sigmask(SIG_BLOCK, &sigpipe, &old);
  const ssize_t n = call();
  const int error = errno;
  if ((n >= 0 || error == EPIPE) && !was_pending) {
    const timespec zero{};
    retry_on_eintr([&] { return sigtimedwait(&sigpipe, nullptr, &zero); });
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = error;
  return n;
}

/// write(2) to a non-socket (a pipe) without SIGPIPE.
inline ssize_t write_without_sigpipe(int fd, const void* data, std::size_t size) noexcept {
  return without_sigpipe([&] { return ::write(fd, data, size); });
}

/// Takes one connection from the listening socket `fd` (non-blocking and close-on-exec, as
/// every socket the library makes); the peer's address goes to `address` and `size`. Returns
/// -1 when none is waiting; a connection aborted before it was taken (ECONNABORTED, EPROTO)
/// is skipped for the next one. Other errors throw std::system_error ("accept").
inline int accept_connection(int fd, sockaddr_storage& address, socklen_t& size) {
  return static_cast<int>(attempt("accept", [&] {
    int result;
    do {
      size = sizeof address;
      result =
          ::accept4(fd, reinterpret_cast<sockaddr*>(&address), &size, SOCK_NONBLOCK | SOCK_CLOEXEC);
    } while (result < 0 && (errno == ECONNABORTED || errno == EPROTO));
    return result;
  }));
}

/// One recvfrom(2) into `buffer`: the datagram's size (truncated to the buffer) and its sender;
/// nothing when none is waiting. Other errors throw.
inline std::optional<std::pair<std::size_t, SocketAddress>> try_recvfrom_into(
    int fd, std::span<char> buffer) {
  sockaddr_storage address;
  socklen_t size;
  const ssize_t n = attempt("recvfrom", [&] {
    size = sizeof address;
    return ::recvfrom(fd, buffer.data(), buffer.size(), 0, reinterpret_cast<sockaddr*>(&address),
                      &size);
  });
  if (n < 0) return std::nullopt;
  return std::pair(static_cast<std::size_t>(n),
                   SocketAddress(reinterpret_cast<sockaddr*>(&address), size));
}

/// try_recvfrom_into a string sized to the most it may take, resized to the datagram.
inline std::optional<SocketAddress> try_recvfrom(int fd, std::string& data) {
  auto got = try_recvfrom_into(fd, data);
  if (!got) return std::nullopt;
  data.resize(got->first);
  return std::move(got->second);
}

/// One sendto(2) of `data` to `address`, or to the connected peer when it is null, without
/// SIGPIPE: the bytes sent, or -1 when it would block. Other errors throw.
inline ssize_t try_sendto(int fd, std::string_view data, const SocketAddress* address) {
  return attempt("sendto", [&] {
    return ::sendto(fd, data.data(), data.size(), MSG_NOSIGNAL, address ? address->data() : nullptr,
                    address ? address->size() : 0);
  });
}

}  // namespace asyncio::detail
