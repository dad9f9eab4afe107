// Name resolution without blocking the loop: asyncio::getaddrinfo (Python's loop.getaddrinfo)
// runs getaddrinfo(3) on the loop's default executor, and answers numeric addresses at once.
// It includes <netdb.h>: callers pass its AI_* flags and compare with its EAI_* codes, as
// Python's callers use socket.AI_PASSIVE.
#pragma once

#include <netdb.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "asyncio/coro.hpp"
#include "asyncio/socket_address.hpp"

namespace asyncio {

/// One answer of getaddrinfo: what socket(2) needs, and the address to bind or connect to.
struct AddressInfo {
  int family = AF_UNSPEC;
  int type = 0;
  int protocol = 0;
  std::string canonical_name;  // only with AI_CANONNAME, on the first answer
  SocketAddress address;
};

/// The error category of getaddrinfo's EAI_* codes (Python's socket.gaierror); EAI_SYSTEM is
/// reported as the errno it stands for, in std::generic_category().
const std::error_category& gai_category() noexcept;

/// Resolves `host` (a name, a numeric address, or "" for the wildcard with AI_PASSIVE and the
/// loopback address without it) and `port`. family, type, protocol and flags are getaddrinfo's
/// hints (AF_INET, SOCK_STREAM, AI_PASSIVE, ...). A numeric host is answered without leaving
/// the loop's thread; a name is resolved on the default executor. Failure throws
/// std::system_error in gai_category().
Coro<std::vector<AddressInfo>> getaddrinfo(std::string host, std::uint16_t port,
                                           int family = AF_UNSPEC, int type = 0, int protocol = 0,
                                           int flags = 0);

/// Python's loop.getnameinfo(sockaddr, flags): the host and service names of `address`
/// (getnameinfo(3) with NI_* `flags`), found on the default executor unless NI_NUMERICHOST and
/// NI_NUMERICSERV are both given. Failure throws std::system_error in gai_category().
Coro<std::pair<std::string, std::string>> getnameinfo(SocketAddress address, int flags = 0);

}  // namespace asyncio
