// Datagram endpoints (Python's loop.create_datagram_endpoint, with awaitable receive and send
// in place of a DatagramProtocol's callbacks): a UDP socket, bound, connected, or both.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "asyncio/coro.hpp"
#include "asyncio/detail/loop_bound.hpp"
#include "asyncio/socket_address.hpp"

namespace asyncio {

class EventLoop;

struct DatagramOptions {
  std::string local_host;  // bind here when local_host or local_port is set
  std::uint16_t local_port = 0;
  std::string remote_host;  // connect here (send() and recv() then talk to it only)
  std::uint16_t remote_port = 0;
  int family = AF_UNSPEC;  // AF_INET or AF_INET6 to choose, when no host decides it
  /// A Unix datagram socket instead (Python's family=AF_UNIX): bound to local_path (a stale
  /// socket file there is removed first), connected to remote_path.
  std::string local_path;
  std::string remote_path;
  bool reuse_port = false;       // SO_REUSEPORT
  bool allow_broadcast = false;  // SO_BROADCAST
};

/// A UDP socket on the running loop. A cheap handle: copies share the socket, which closes
/// when the last copy goes, or at close(). One task at a time may wait to receive.
class DatagramEndpoint : detail::LoopBound {
 public:
  /// One datagram of up to max_size bytes (longer ones are truncated) and its sender.
  Coro<std::pair<std::string, SocketAddress>> recvfrom(std::size_t max_size = 65536);
  /// One datagram, on a connected endpoint.
  Coro<std::string> recv(std::size_t max_size = 65536);
  /// Sends `data` as one datagram to `address` (waiting while the socket's buffer is full).
  Coro<void> sendto(std::string data, SocketAddress address);
  /// Sends `data` as one datagram to the connected peer.
  Coro<void> send(std::string data);

  /// Closes the socket; a task waiting to receive gets std::system_error(EBADF).
  void close() noexcept;
  bool is_closing() const noexcept;
  SocketAddress sockname() const;
  /// The connected peer's address (empty when not connected).
  SocketAddress peername() const;
  /// The socket's fd, -1 once closed.
  int socket() const noexcept;

  struct State;
  explicit DatagramEndpoint(std::shared_ptr<State> state) noexcept : state_(std::move(state)) {}

 private:
  std::shared_ptr<State> state_;
};

/// Creates a UDP endpoint: local and remote hosts are resolved as open_connection does (names
/// off the loop's thread); the first address that works is used. std::system_error on
/// failure. (The protocol form, with a DatagramProtocol, is in connections.hpp.)
Coro<DatagramEndpoint> create_datagram_endpoint(DatagramOptions options);

namespace detail {
class OwnedFd;
/// The socket create_datagram_endpoint opens, as `options` say, and the peer it is connected
/// to, if any.
Coro<std::pair<OwnedFd, std::optional<SocketAddress>>> open_datagram_socket(
    DatagramOptions options);
}  // namespace detail

}  // namespace asyncio
