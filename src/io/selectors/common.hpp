// What the selector backends share privately: errno errors and timeout conversion.
#pragma once

#include <cerrno>
#include <chrono>
#include <limits>
#include <optional>
#include <system_error>

namespace asyncio::selectors::detail {

[[noreturn]] inline void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

/// A select() timeout in whole milliseconds for poll(2) and epoll_wait(2): -1 for none, rounded
/// up (so the loop never wakes just before a timer is due and spins), at most INT_MAX (24 days;
/// a longer wait just wakes once early).
inline int timeout_ms(std::optional<std::chrono::nanoseconds> timeout) noexcept {
  if (!timeout) return -1;
  const auto ns = timeout->count();
  if (ns <= 0) return 0;
  const auto ms = ns / 1'000'000 + (ns % 1'000'000 != 0);
  return ms > std::numeric_limits<int>::max() ? std::numeric_limits<int>::max() : static_cast<int>(ms);
}

}  // namespace asyncio::selectors::detail
