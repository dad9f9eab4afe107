// Integers as Redis reads them from a request: the "*N" and "$N" lengths of the protocol, and
// the numbers in commands (INCR's value, SET's EX, LRANGE's indices). Strict, as redis-server's
// string2ll: an optional '-', then digits with no leading zero ("0" alone is zero), at most 20
// characters, within a signed 64-bit integer; no '+', no spaces, no "-0".
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

namespace resp {

inline std::optional<std::int64_t> parse_integer(std::string_view text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  if (text == "0") return 0;
  const bool negative = text.front() == '-';
  if (negative) text.remove_prefix(1);
  if (text.empty() || text.front() < '1' || text.front() > '9') return std::nullopt;
  std::uint64_t magnitude = 0;
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (magnitude > (kMax - digit) / 10) return std::nullopt;
    magnitude = magnitude * 10 + digit;
  }
  constexpr auto kLargest = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (negative) {
    if (magnitude > kLargest + 1) return std::nullopt;
    return magnitude == kLargest + 1 ? std::numeric_limits<std::int64_t>::min()
                                     : -static_cast<std::int64_t>(magnitude);
  }
  if (magnitude > kLargest) return std::nullopt;
  return static_cast<std::int64_t>(magnitude);
}

}  // namespace resp
