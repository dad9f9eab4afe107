// How a transport lives with its loop: a LoopLink in the loop's open transports
// (open_transports.hpp), and tell_from_loop, how it tells its protocol that the connection is
// gone.
#pragma once

#include <memory>
#include <utility>

#include "asyncio/detail/open_transports.hpp"
#include "asyncio/event_loop.hpp"

namespace asyncio::detail {

/// Runs `tell` (connection_lost and what follows it) from the loop, never from inside another
/// protocol callback, keeping `hold` (the transport's hold on itself, which may be the last
/// reference) until it has run; at once when `now` (the loop is closing) or when the loop
/// cannot take the call (no memory, or closed).
template <class Tell>
void tell_from_loop(EventLoop& loop, std::shared_ptr<void> hold, bool now, Tell tell) noexcept {
  if (!now) {
    try {
      loop.call_soon([hold, tell]() mutable { tell(); });
      return;
    } catch (...) {
    }
  }
  tell();
}

}  // namespace asyncio::detail
