// The shape of a non-blocking system call, shared by the socket coroutines, streams, servers
// and datagram endpoints: retry after EINTR (the one place that does), "would block" as a
// value, any other error thrown as std::system_error carrying errno.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cerrno>
#include <string>
#include <system_error>

namespace asyncio::detail {

inline bool would_block(int error) noexcept { return error == EAGAIN || error == EWOULDBLOCK; }

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

}  // namespace asyncio::detail
