// SocketAddress: an IPv4, IPv6 or Unix-domain socket address, the C++ form of the address
// tuples Python's socket functions take and return.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace asyncio {

class SocketAddress {
 public:
  /// An empty address (family AF_UNSPEC).
  SocketAddress() noexcept = default;
  /// A copy of an address the OS returned. std::invalid_argument when it does not fit.
  SocketAddress(const sockaddr* address, socklen_t size);

  /// A numeric IPv4 or IPv6 address ("127.0.0.1", "::1") and a port; std::invalid_argument
  /// for anything else (names are resolved elsewhere, off the loop's thread).
  static SocketAddress ip(std::string_view host, std::uint16_t port);
  /// A Unix-domain socket path; std::invalid_argument when too long.
  static SocketAddress unix_path(std::string_view path);

  int family() const noexcept { return storage_.ss_family; }
  const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
  socklen_t size() const noexcept { return size_; }

  /// The numeric host of an IP address, or the path of a Unix one.
  std::string host() const;
  /// The port of an IP address (0 for other families).
  std::uint16_t port() const noexcept;
  /// "127.0.0.1:8080", "[::1]:8080", the path of a Unix address, or "" when empty.
  std::string to_string() const;

  friend bool operator==(const SocketAddress& a, const SocketAddress& b) noexcept;

  /// The address of fd's own end (getsockname) and of its peer (getpeername); std::system_error
  /// on failure.
  static SocketAddress local_of(int fd);
  static SocketAddress peer_of(int fd);

 private:
  sockaddr_storage storage_{};
  socklen_t size_ = 0;
};

}  // namespace asyncio
