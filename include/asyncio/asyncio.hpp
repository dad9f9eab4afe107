// The umbrella header: everything asyncio for C++ offers.
#pragma once

#include "asyncio/coro.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/exceptions.hpp"
#include "asyncio/future.hpp"
#include "asyncio/handle.hpp"
#include "asyncio/locks.hpp"
#include "asyncio/outcome.hpp"
#include "asyncio/queues.hpp"
#include "asyncio/runners.hpp"
#include "asyncio/selectors.hpp"
#include "asyncio/task.hpp"
#include "asyncio/taskgroup.hpp"
#include "asyncio/tasks.hpp"
#include "asyncio/timeouts.hpp"
