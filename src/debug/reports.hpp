// How the loop's reports name what they are about: a callback that ran too long (debug mode),
// the longest callback (EventLoop::stats), a task in "Task was destroyed but it is pending!".
#pragma once

#include <string>

#include "asyncio/detail/callback.hpp"

namespace asyncio::detail {

class TaskBase;

/// "<Task 'name' resumed in worker(int) at app.cpp:12>" for a task's step (`code`: the resume
/// address of the frame it resumed), "<callback main::{lambda()#1}>" for a call_soon or
/// call_later callable (`code`: its stored operation), "<done callback>" for a future's done
/// callback, "<callback>" otherwise. What it says is read before the callback runs (it may be
/// freed by then).
std::string describe_callback(const TaskBase* task, const void* code, bool done_callback);

}  // namespace asyncio::detail
