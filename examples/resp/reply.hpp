// The reply side of Redis' protocol (RESP2): each function appends one reply, or an array's
// header, to a connection's output, which is sent as one write per batch of requests.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace resp::reply {

/// "+OK": a status.
inline void simple(std::string& out, std::string_view text) {
  out += '+';
  out += text;
  out += "\r\n";
}

/// "-ERR ...": an error. Line breaks in the message become spaces, as redis-server makes them
/// (a request's bytes quoted in an error must not end the reply early).
inline void error(std::string& out, std::string_view message) {
  out += '-';
  const std::size_t start = out.size();
  out += message;
  for (std::size_t i = start; i < out.size(); ++i)
    if (out[i] == '\r' || out[i] == '\n') out[i] = ' ';
  out += "\r\n";
}

inline void line_with_number(std::string& out, char type, std::int64_t value) {
  char digits[24];
  digits[0] = type;
  const auto end = std::to_chars(digits + 1, digits + sizeof digits - 2, value).ptr;
  end[0] = '\r';
  end[1] = '\n';
  out.append(digits, end + 2);
}

/// ":42": an integer.
inline void integer(std::string& out, std::int64_t value) { line_with_number(out, ':', value); }

/// "$3\r\nfoo\r\n": a bulk string.
inline void bulk(std::string& out, std::string_view text) {
  line_with_number(out, '$', static_cast<std::int64_t>(text.size()));
  out += text;
  out += "\r\n";
}

/// "$-1": the null bulk string (a missing key's value).
inline void null_bulk(std::string& out) { out += "$-1\r\n"; }

/// "*-1": the null array (LPOP with a count, of a missing key).
inline void null_array(std::string& out) { out += "*-1\r\n"; }

/// "*N": the header of an array whose N elements follow.
inline void array(std::string& out, std::size_t size) {
  line_with_number(out, '*', static_cast<std::int64_t>(size));
}

}  // namespace resp::reply
