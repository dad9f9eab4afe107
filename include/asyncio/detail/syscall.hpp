// The shape of a non-blocking system call, shared by the socket coroutines, streams and
// datagram endpoints: retry after EINTR, "would block" as a value, any other error thrown.
#pragma once

#include <sys/types.h>

#include <cerrno>
#include <string>
#include <system_error>

namespace asyncio::detail {

inline bool would_block(int error) noexcept { return error == EAGAIN || error == EWOULDBLOCK; }

[[noreturn]] inline void throw_errno(int error, const char* what) {
  throw std::system_error(error, std::generic_category(), what);
}
[[noreturn]] inline void throw_errno(int error, const std::string& what) {
  throw std::system_error(error, std::generic_category(), what);
}

/// Makes `call`, a system call that returns -1 and sets errno on failure, again after EINTR.
/// Returns its result, or -1 when it would block; throws std::system_error for other errors.
template <class Call>
ssize_t attempt(const char* what, Call call) {
  for (;;) {
    const ssize_t n = call();
    if (n >= 0) return n;
    const int error = errno;
    if (error == EINTR) continue;
    if (!would_block(error)) throw_errno(error, what);
    return -1;
  }
}

}  // namespace asyncio::detail
