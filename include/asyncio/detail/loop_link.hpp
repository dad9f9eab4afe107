// How a transport lives with its loop. LoopLink: its place in the loop's list of open
// transports (EventLoop::open_transports()), so that closing the loop can close it: the loop
// calls close_now(owner), which aborts the connection and tells the protocol there and then.
// tell_from_loop: how a transport tells its protocol that the connection is gone.
#pragma once

#include <memory>
#include <utility>

#include "asyncio/detail/intrusive_list.hpp"
#include "asyncio/event_loop.hpp"

namespace asyncio::detail {

struct LoopLink : ListHook {
  using CloseNow = void (*)(void* owner) noexcept;
  LoopLink(CloseNow close_now, void* owner) noexcept : close_now(close_now), owner(owner) {}
  CloseNow close_now;
  void* owner;  // the transport
};

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
