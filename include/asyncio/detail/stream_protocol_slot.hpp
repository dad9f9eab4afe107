// StreamProtocolSlot: how a stream transport holds the protocol it calls. The protocol is seen
// three ways (as a StreamProtocol, and as a Protocol or a BufferedProtocol, found once when it
// is set), and owned unless it is a StreamReaderProtocol, which belongs to its reader and
// writer (they abort the connection when they go, through the transport's orphan()).
// Shared by the socket/pipe transport and the TLS transport.
#pragma once

#include <memory>
#include <utility>

#include "asyncio/protocols.hpp"
#include "asyncio/stream_reader_protocol.hpp"

namespace asyncio::detail {

struct StreamProtocolSlot {
  // Invariant: plain and buffered are protocol seen as those kinds (or null); owned holds
  // protocol unless it is a StreamReaderProtocol.
  StreamProtocol* protocol = nullptr;
  Protocol* plain = nullptr;
  BufferedProtocol* buffered = nullptr;
  std::shared_ptr<StreamProtocol> owned;

  void set(const std::shared_ptr<StreamProtocol>& next) noexcept {
    protocol = next.get();
    plain = dynamic_cast<Protocol*>(protocol);
    buffered = dynamic_cast<BufferedProtocol*>(protocol);
    if (dynamic_cast<StreamReaderProtocol*>(protocol))
      owned.reset();
    else
      owned = next;
  }
  /// An owning pointer (for get_protocol), null once cleared.
  std::shared_ptr<BaseProtocol> get() const noexcept {
    if (owned || !protocol) return owned;
    // A StreamReaderProtocol, alive while it is set here.
    return static_cast<StreamReaderProtocol*>(protocol)->weak_from_this().lock();
  }
  /// Forgets the protocol but for `owned`, which the caller drops once done with the result
  /// (connection_lost may be the last thing said to it).
  StreamProtocol* take() noexcept {
    plain = nullptr;
    buffered = nullptr;
    return std::exchange(protocol, nullptr);
  }
  void clear() noexcept {
    take();
    owned.reset();
  }
};

}  // namespace asyncio::detail
