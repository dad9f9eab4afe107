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
/// cannot take the call (no memory, or closed). A call the loop drops unrun (it was closed
/// first) tells as it is destroyed: the protocol still learns, as close() tells the connections
/// still open, and the transport and its protocol let go of each other instead of keeping each
/// other alive.
template <class Tell>
void tell_from_loop(EventLoop& loop, std::shared_ptr<void> hold, bool now, Tell tell) noexcept {
  class TellOnce {
   public:
    TellOnce(std::shared_ptr<void> hold, Tell tell)
        : hold_(std::move(hold)), tell_(std::move(tell)) {}
    TellOnce(TellOnce&& other) noexcept
        : hold_(std::move(other.hold_)),
          tell_(std::move(other.tell_)),
          told_(std::exchange(other.told_, true)) {}
    TellOnce& operator=(TellOnce&&) = delete;
    ~TellOnce() {
      if (!told_) tell_();  // dropped unrun
    }
    void operator()() {
      told_ = true;
      tell_();
    }

   private:
    std::shared_ptr<void> hold_;  // released after tell_ ran (members go after the body)
    Tell tell_;
    bool told_ = false;
  };
  if (!now) {
    try {
      loop.call_soon(TellOnce(std::move(hold), std::move(tell)));
      return;
    } catch (...) {
      // (the TellOnce made for the call told as it was destroyed)
      return;
    }
  }
  tell();
}

}  // namespace asyncio::detail
