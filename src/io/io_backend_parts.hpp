// What the I/O backends share: which backend a new loop gets (the selector it was given,
// io_uring when asked for by IoUringOptions or ASYNCIO_SELECTOR=io_uring and the kernel allows
// it, else the default selector: ASYNCIO_SELECTOR's, or epoll), and how a backend tells a
// watcher that its fd is ready.
#pragma once

#include <memory>
#include <string>

#include "asyncio/detail/io_backend.hpp"
#include "asyncio/event_loop.hpp"

namespace asyncio::detail {

/// Whether ASYNCIO_SELECTOR=io_uring asks every loop made without a selector for io_uring.
bool io_uring_asked_by_environment() noexcept;

/// `uring` non-null: io_uring was asked for explicitly. When io_uring was asked for and cannot
/// be had, `fallback` says why (a line for debug mode) and the loop gets epoll.
std::unique_ptr<IoBackend> make_io_backend(Scheduler& scheduler,
                                           std::unique_ptr<selectors::Selector> selector,
                                           const IoUringOptions* uring, std::string& fallback);

/// Tells `watcher` that fd is ready: what it throws goes to the loop's exception handler, and in
/// debug mode a slow one is reported.
void notify_watcher(Scheduler& scheduler, IoWatcher* watcher, int fd);

}  // namespace asyncio::detail
