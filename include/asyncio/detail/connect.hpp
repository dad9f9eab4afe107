// How create_connection reaches a host: the order of its addresses (Python's
// _interleave_addrinfos) and the attempts, one after another or racing (Happy Eyeballs).
#pragma once

#include <vector>

#include "asyncio/connections.hpp"
#include "asyncio/coro.hpp"
#include "asyncio/getaddrinfo.hpp"

namespace asyncio::detail {

/// The addresses alternating families (in the order each first appears), the first family's
/// first `first_family_count` addresses first.
std::vector<AddressInfo> interleave_addresses(std::vector<AddressInfo> addresses,
                                              int first_family_count);

/// A connected, non-blocking socket to one of `targets` (TCP_NODELAY set), as `options`
/// say: bound to local_addr, interleaved, racing with happy_eyeballs_delay. The connect error,
/// or one naming every address's error.
Coro<int> connect_to_any(std::vector<AddressInfo> targets, ConnectionOptions options);

}  // namespace asyncio::detail
