// Putting TLS on connections: the ssl= keyword arguments checked as Python checks them, a TLS
// connection over a connected socket, and (in start_tls.cpp) the upgrade of a live one.
#pragma once

#include <memory>
#include <string>

#include "asyncio/connection_options.hpp"
#include "asyncio/coro.hpp"
#include "asyncio/detail/owned_fd.hpp"
#include "asyncio/server.hpp"
#include "tls/tls_transport.hpp"

namespace asyncio::detail {

/// The TLS settings of a client connection to `host` (or of an accepted socket's server side);
/// no context when options.ssl is null. std::invalid_argument for the TLS options without ssl,
/// for a timeout that is not positive, and for ssl with neither host nor server_hostname.
TLSSettings tls_settings(const ConnectionOptions& options, const std::string& host,
                         bool server_side);
/// A server's, for each accepted connection.
TLSSettings tls_settings(const ServerOptions& options);

/// A transport for the connected socket `fd` with TLS over it, calling `protocol`; returned
/// once the handshake is done (its error raised, and the connection closed, otherwise).
Coro<std::shared_ptr<Transport>> open_tls(EventLoop& loop, OwnedFd fd, TLSSettings settings,
                                          std::shared_ptr<StreamProtocol> protocol);

}  // namespace asyncio::detail
