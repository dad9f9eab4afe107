// ConnectionTransport: a stream Transport as the streams of streams.hpp use it. Two kinds
// implement it: StreamTransport (a socket or a pipe's end) and the TLS layer over another
// transport. Beside Python's transport methods it gives the loop, the socket, the addresses,
// and orphan(), by which a StreamReaderProtocol that goes away ends its connection.
#pragma once

#include "asyncio/protocols.hpp"
#include "asyncio/socket_address.hpp"
#include "asyncio/transports.hpp"

namespace asyncio {
class EventLoop;
}

namespace asyncio::detail {

class ConnectionTransport : public Transport {
 public:
  virtual EventLoop& loop() const noexcept = 0;
  /// The socket's fd (-1 once closed).
  virtual int fd() const noexcept = 0;
  /// A pipe's end rather than a socket: a lost connection is EPIPE, not ECONNRESET.
  virtual bool is_pipe() const noexcept = 0;
  /// The peer's and the socket's own address (empty when the connection was lost before they
  /// were first asked for).
  virtual SocketAddress peer_address() const = 0;
  virtual SocketAddress local_address() const = 0;
  /// `protocol`, owned by others, is going: unless set_protocol replaced it, forget it and
  /// close the connection once the buffered bytes are sent (nobody hears of the end).
  virtual void orphan(const StreamProtocol* protocol) noexcept = 0;
};

}  // namespace asyncio::detail
