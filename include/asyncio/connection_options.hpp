// The keyword arguments of Python's create_connection / open_connection (ConnectionOptions)
// and of start_tls (StartTLSOptions), for designated initializers: {.ssl = context}. They are
// in Python's order, which designated initializers follow.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

namespace asyncio {

namespace ssl {
class SSLContext;
}

struct ConnectionOptions {
  /// TLS over the connection with this context (Python's ssl=; ssl::create_default_context()
  /// for Python's ssl=True). The connection is returned once the handshake is done.
  std::shared_ptr<ssl::SSLContext> ssl{};
  int family = 0;  // AF_INET or AF_INET6 to choose; 0: both
  /// Bind the socket here before connecting (host "" = any address; port 0 = any port).
  std::optional<std::pair<std::string, std::uint16_t>> local_addr{};
  /// The name to ask for (SNI) and check the certificate against; unset: the host connected
  /// to; "": neither (and the context must not check host names). Only with ssl
  /// (std::invalid_argument otherwise, as Python's ValueError).
  std::optional<std::string> server_hostname{};
  /// How long the TLS handshake may take (60 s unset) before the connection is aborted, and how
  /// long closing waits for the peer's close_notify (30 s unset). Only with ssl.
  std::optional<std::chrono::milliseconds> ssl_handshake_timeout{};
  std::optional<std::chrono::milliseconds> ssl_shutdown_timeout{};
  /// RFC 8305 Happy Eyeballs: start the next address's attempt after this delay while the
  /// earlier ones are still connecting; unset tries one address after another.
  std::optional<std::chrono::milliseconds> happy_eyeballs_delay{};
  /// Reorder the addresses alternating families, first family first `interleave` times (1
  /// when happy_eyeballs_delay is set and this is 0).
  int interleave = 0;
};

/// start_tls's options (Python's loop.start_tls / StreamWriter.start_tls keywords).
struct StartTLSOptions {
  bool server_side = false;  // loop-level start_tls only; a StreamWriter knows its side
  std::optional<std::string> server_hostname{};
  std::optional<std::chrono::milliseconds> ssl_handshake_timeout{};
  std::optional<std::chrono::milliseconds> ssl_shutdown_timeout{};
};

}  // namespace asyncio
