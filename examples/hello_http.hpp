// The HTTP/1.1 "hello" handler shared by http_hello.cpp and https_hello.cpp: every request gets
// "200 OK" and "Hello, world!\n". A connection serves request after request (keep-alive,
// HTTP/1.1's default) until the client sends "Connection: close" or closes it; HTTP/1.0 clients
// get keep-alive only when they ask for it. A request with a body must give its Content-Length
// (the body is read and ignored); a malformed request gets "400 Bad Request" and the connection
// is closed.
#pragma once

#include <asyncio/asyncio.hpp>

#include <cctype>
#include <charconv>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace hello_http {

inline constexpr std::string_view kBody = "Hello, world!\n";
// The three answers: keep-alive (HTTP/1.1's default), keep-alive said aloud (HTTP/1.0 keeps a
// connection only when told), and close.
inline constexpr std::string_view kHello =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\nHello, world!\n";
inline constexpr std::string_view kHelloKeepAlive =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\nConnection: "
    "keep-alive\r\n\r\n"
    "Hello, world!\n";
inline constexpr std::string_view kHelloClose =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\nConnection: close\r\n\r\n"
    "Hello, world!\n";
inline constexpr std::string_view kBadRequest =
    "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
inline constexpr std::size_t kMaxBody = 1 << 20;

struct Request {
  bool http10 = false;  // HTTP/1.0 rather than HTTP/1.1
  bool head = false;    // a HEAD request: the answer has no body
  bool keep_alive = true;
  std::size_t content_length = 0;
};

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (std::tolower(x) != std::tolower(y)) return false;
  }
  return true;
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

/// Whether a comma-separated header value such as "keep-alive, Upgrade" holds `token`.
inline bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    if (iequals(trim(list.substr(0, comma)), token)) return true;
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  return false;
}

/// Parses a request head: the request line and the header lines, each ending in "\r\n", then
/// an empty line. std::nullopt when it is malformed or asks for what this server cannot do.
inline std::optional<Request> parse_head(std::string_view head) {
  Request request;
  std::size_t end = head.find("\r\n");
  const std::string_view line = head.substr(0, end);  // "GET /path HTTP/1.1"
  const std::size_t space1 = line.find(' '), space2 = line.rfind(' ');
  if (space1 == 0 || space1 == std::string_view::npos || space2 == space1) return std::nullopt;
  const std::string_view version = line.substr(space2 + 1);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return std::nullopt;
  request.http10 = version == "HTTP/1.0";
  request.head = line.substr(0, space1) == "HEAD";
  request.keep_alive = !request.http10;
  bool has_length = false;
  for (head.remove_prefix(end + 2); !head.starts_with("\r\n"); head.remove_prefix(end + 2)) {
    end = head.find("\r\n");
    const std::string_view header = head.substr(0, end);  // "Name: value"
    const std::size_t colon = header.find(':');
    if (colon == 0 || colon == std::string_view::npos) return std::nullopt;
    const std::string_view name = header.substr(0, colon), value = trim(header.substr(colon + 1));
    if (name.find_first_of(" \t") != std::string_view::npos) return std::nullopt;
    if (iequals(name, "Content-Length")) {
      std::size_t length = 0;
      const auto [rest, error] = std::from_chars(value.data(), value.data() + value.size(), length);
      if (error != std::errc() || rest != value.data() + value.size() || length > kMaxBody)
        return std::nullopt;
      if (has_length && length != request.content_length) return std::nullopt;
      has_length = true;
      request.content_length = length;
    } else if (iequals(name, "Transfer-Encoding")) {
      return std::nullopt;  // chunked bodies are not supported
    } else if (iequals(name, "Connection")) {
      if (has_token(value, "close"))
        request.keep_alive = false;
      else if (request.http10 && has_token(value, "keep-alive"))
        request.keep_alive = true;
    }
  }
  return request;
}

inline std::string_view answer(const Request& request) {
  const std::string_view full = !request.keep_alive ? kHelloClose
                                : request.http10    ? kHelloKeepAlive
                                                    : kHello;
  return request.head ? full.substr(0, full.size() - kBody.size()) : full;
}

/// Answers the requests of one connection until the client closes it or stops keep-alive.
inline asyncio::Coro<> serve_client(asyncio::StreamReader reader, asyncio::StreamWriter writer) {
  try {
    for (bool keep_alive = true; keep_alive;) {
      const std::string head = co_await reader.readuntil("\r\n\r\n");
      const std::optional<Request> request = parse_head(head);
      if (!request) {
        writer.write(kBadRequest);
        break;
      }
      if (request->content_length > 0) co_await reader.readexactly(request->content_length);
      writer.write(answer(*request));
      co_await writer.drain();
      keep_alive = request->keep_alive;
    }
  } catch (const asyncio::IncompleteReadError&) {  // the client closed the connection
  } catch (const asyncio::LimitOverrunError&) {    // a head longer than the reader's limit
    writer.write(kBadRequest);
  } catch (const std::system_error&) {  // the connection was reset
  } catch (
      const asyncio::ssl::SSLError&) {  // over TLS: a broken record, or no close_notify mid-record
  }
  writer.close();  // sends what is still buffered, then closes
  try {
    co_await writer.wait_closed();
  } catch (const std::system_error&) {
  }
}

}  // namespace hello_http
