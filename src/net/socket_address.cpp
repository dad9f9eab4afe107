// SocketAddress: conversions between numeric IP / Unix addresses and sockaddr.
#include "asyncio/socket_address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "asyncio/detail/syscall.hpp"

namespace asyncio {

SocketAddress::SocketAddress(const sockaddr* address, socklen_t size) {
  if (size > sizeof storage_) throw std::invalid_argument("socket address too long");
  std::memcpy(&storage_, address, size);
  size_ = size;
}

SocketAddress SocketAddress::ip(std::string_view host, std::uint16_t port) {
  const std::string text(host);
  SocketAddress result;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&result.storage_);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&result.storage_);
  if (::inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    result.size_ = sizeof(sockaddr_in);
  } else if (::inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    result.size_ = sizeof(sockaddr_in6);
  } else {
    throw std::invalid_argument("not a numeric IPv4 or IPv6 address: '" + text + "'");
  }
  return result;
}

SocketAddress SocketAddress::unix_path(std::string_view path) {
  SocketAddress result;
  auto* un = reinterpret_cast<sockaddr_un*>(&result.storage_);
  if (path.size() >= sizeof un->sun_path) throw std::invalid_argument("Unix socket path too long");
  un->sun_family = AF_UNIX;
  std::memcpy(un->sun_path, path.data(), path.size());
  // A path's name ends with its NUL; an abstract name (a leading NUL) is exactly its bytes, as
  // Python and every other program give it: a NUL added would make it another name.
  const bool abstract = !path.empty() && path[0] == '\0';
  result.size_ =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (abstract ? 0 : 1));
  return result;
}

std::string SocketAddress::host() const {
  char text[INET6_ADDRSTRLEN] = {};
  switch (family()) {
    case AF_INET:
      ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, text,
                  sizeof text);
      return text;
    case AF_INET6:
      ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, text,
                  sizeof text);
      return text;
    case AF_UNIX: {
      const auto* un = reinterpret_cast<const sockaddr_un*>(&storage_);
      const std::size_t max =
          size_ > offsetof(sockaddr_un, sun_path) ? size_ - offsetof(sockaddr_un, sun_path) : 0;
      if (max > 0 && un->sun_path[0] == '\0') return std::string(un->sun_path, max);  // abstract
      return std::string(un->sun_path, strnlen(un->sun_path, max));
    }
    default:
      return {};
  }
}

std::uint16_t SocketAddress::port() const noexcept {
  switch (family()) {
    case AF_INET:
      return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
    case AF_INET6:
      return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
    default:
      return 0;
  }
}

std::string SocketAddress::to_string() const {
  const int f = family();
  if (f != AF_INET && f != AF_INET6) return host();
  std::string text = f == AF_INET6 ? "[" : "";
  text.append(host());
  text.append(f == AF_INET6 ? "]:" : ":");
  text.append(std::to_string(port()));
  return text;
}

bool operator==(const SocketAddress& a, const SocketAddress& b) noexcept {
  return a.size_ == b.size_ && std::memcmp(&a.storage_, &b.storage_, a.size_) == 0;
}

namespace {

using AddressQuery = int (*)(int, sockaddr*, socklen_t*);

SocketAddress query_address(int fd, AddressQuery query, const char* what) {
  sockaddr_storage storage;
  socklen_t size = sizeof storage;
  if (query(fd, reinterpret_cast<sockaddr*>(&storage), &size) < 0) detail::throw_errno(errno, what);
  return SocketAddress(reinterpret_cast<sockaddr*>(&storage), size);
}

}  // namespace

SocketAddress SocketAddress::local_of(int fd) {
  return query_address(fd, ::getsockname, "getsockname");
}

SocketAddress SocketAddress::peer_of(int fd) {
  return query_address(fd, ::getpeername, "getpeername");
}

}  // namespace asyncio
