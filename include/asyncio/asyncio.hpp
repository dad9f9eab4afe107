// The umbrella header: everything asyncio for C++ offers.
#pragma once

#include "asyncio/concurrent_future.hpp"
#include "asyncio/coro.hpp"
#include "asyncio/detail/fd_waiter.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/exceptions.hpp"
#include "asyncio/executor.hpp"
#include "asyncio/future.hpp"
#include "asyncio/handle.hpp"
#include "asyncio/outcome.hpp"
#include "asyncio/runners.hpp"
#include "asyncio/selectors.hpp"
#include "asyncio/socket_address.hpp"
#include "asyncio/task.hpp"
#include "asyncio/tasks.hpp"
#include "asyncio/threads.hpp"
