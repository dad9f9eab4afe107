// LoopLink: how an open transport sits in its loop's list of open transports
// (EventLoop::open_transports()), so that closing the loop can close it: the loop calls
// close_now(owner), which aborts the connection and tells the protocol there and then.
#pragma once

#include "asyncio/detail/intrusive_list.hpp"

namespace asyncio::detail {

struct LoopLink : ListHook {
  using CloseNow = void (*)(void* owner) noexcept;
  LoopLink(CloseNow close_now, void* owner) noexcept : close_now(close_now), owner(owner) {}
  CloseNow close_now;
  void* owner;  // the transport
};

}  // namespace asyncio::detail
