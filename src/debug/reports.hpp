// How the loop's reports name what they are about: a callback that ran too long (debug mode),
// the longest callback (EventLoop::stats), a task in "Task was destroyed but it is pending!".
#pragma once

#include <string>

#include "asyncio/detail/scheduler.hpp"

namespace asyncio::detail {

/// "<Task 'name' resumed in worker(int) at app.cpp:12>", "<callback main::{lambda()#1}>",
/// "<done callback>", or "<callback>".
std::string describe_callback(const CallbackIdentity& what);

}  // namespace asyncio::detail
