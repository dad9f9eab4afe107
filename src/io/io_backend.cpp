// What the I/O backends share (see the header).
#include "io/io_backend_parts.hpp"

#include <cstdlib>
#include <cstring>
#include <string_view>
#include <utility>

#include "asyncio/config.hpp"
#include "asyncio/detail/scheduler.hpp"
#include "asyncio/selectors.hpp"
#include "io/readiness_backend.hpp"
#if ASYNCIO_HAVE_IO_URING
#include "io/uring_backend.hpp"
#endif

namespace asyncio::detail {

bool io_uring_asked_by_environment() noexcept {
  const char* name = std::getenv("ASYNCIO_SELECTOR");
  return name && std::string_view(name) == "io_uring";
}

std::unique_ptr<IoBackend> make_io_backend(Scheduler& scheduler,
                                           std::unique_ptr<selectors::Selector> selector,
                                           const IoUringOptions* uring, std::string& fallback) {
  IoUringOptions from_environment;
  if (!selector && !uring && io_uring_asked_by_environment()) uring = &from_environment;
  if (uring) {
#if ASYNCIO_HAVE_IO_URING
    int error = 0;
    if (auto backend = UringBackend::create(scheduler, *uring, error)) return backend;
    fallback = std::string("io_uring is not available here (") +
               (error ? std::strerror(error) : "the kernel lacks features it needs") +
               "): this loop uses epoll";
#else
    fallback =
        "this build of the library has no io_uring (liburing was missing): this loop "
        "uses epoll";
#endif
    selector = std::make_unique<selectors::EpollSelector>();
  }
  return std::make_unique<ReadinessBackend>(scheduler, std::move(selector));
}

void notify_watcher(Scheduler& scheduler, IoWatcher* watcher, int fd) {
  const bool debug = scheduler.debug();
  const TimePoint start = debug ? Clock::now() : TimePoint{};
  try {
    watcher->notify(IoWatcher::Event::ready);
  } catch (...) {
    scheduler.loop().call_exception_handler({"Exception in callback", std::current_exception(),
                                             "<fd " + std::to_string(fd) + " watcher>"});
  }
  if (debug) [[unlikely]]
    scheduler.report_if_slow(Clock::now() - start, "<fd " + std::to_string(fd) + " watcher>");
}

}  // namespace asyncio::detail
