// What the selector backends share privately: timeout conversion (and errno errors, from
// detail/syscall.hpp).
#pragma once

#include <cerrno>
#include <chrono>
#include <limits>
#include <optional>
#include <system_error>

#include "asyncio/detail/syscall.hpp"

namespace asyncio::selectors::detail {

using asyncio::detail::throw_errno;

/// A select() timeout in whole milliseconds for poll(2) and epoll_wait(2): -1 for none, rounded
/// up (so the loop never wakes just before a timer is due and spins), at most INT_MAX (24 days;
/// a longer wait just wakes once early).
inline int timeout_ms(std::optional<std::chrono::nanoseconds> timeout) noexcept {
  if (!timeout) return -1;
  const auto ns = timeout->count();
  if (ns <= 0) return 0;
  const auto ms = ns / 1'000'000 + (ns % 1'000'000 != 0);
  return ms > std::numeric_limits<int>::max() ? std::numeric_limits<int>::max()
                                              : static_cast<int>(ms);
}

}  // namespace asyncio::selectors::detail
