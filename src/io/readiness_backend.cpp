// ReadinessBackend: the fd table, bringing the selector in line with it before each poll,
// verifying re-watched fds, and dispatching the events a poll returns.
#include "io/readiness_backend.hpp"

#include <unistd.h>

#include <cassert>
#include <stdexcept>
#include <string>
#include <utility>

#include "asyncio/detail/scheduler.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/exceptions.hpp"
#include "io/io_backend_parts.hpp"

namespace asyncio::detail {

ReadinessBackend::ReadinessBackend(Scheduler& scheduler,
                                   std::unique_ptr<selectors::Selector> selector)
    : scheduler_(scheduler),
      selector_(selector ? std::move(selector) : selectors::make_default_selector()) {}

const char* ReadinessBackend::name() const noexcept {
  const selectors::Selector* selector = selector_.get();
  if (dynamic_cast<const selectors::EpollSelector*>(selector)) return "epoll";
  if (dynamic_cast<const selectors::PollSelector*>(selector)) return "poll";
  if (dynamic_cast<const selectors::SelectSelector*>(selector)) return "select";
  return "selector";  // one the program made
}

void ReadinessBackend::add_watcher(int fd, int direction, IoWatcher* watcher, bool replace) {
  if (closed_) throw_loop_closed();
  if (fd < 0) throw std::invalid_argument("Invalid file descriptor: " + std::to_string(fd));
  if (static_cast<std::size_t>(fd) >= fds_.size()) {
    fds_.resize(static_cast<std::size_t>(fd) + 1);
    dirty_fds_.reserve(fds_.size());  // each fd is listed at most once: pushing never allocates
  }
  FdWatch& watch = fds_[fd];
  if (watch.watchers[direction] && !replace) {
    throw RuntimeError("fd " + std::to_string(fd) + " already has a " +
                       (direction == reader ? "reader" : "writer"));
  }
  const unsigned event = direction == reader ? selectors::EVENT_READ : selectors::EVENT_WRITE;
  if (watch.registered == 0) {
    // A new fd: register it now, so that an fd the selector refuses is an error here.
    selector_->register_fd(fd, event);
    watch.registered = event;
  } else {
    // Known fd: the selector is brought up to date before the next poll. The fd may have been
    // closed and its number reused since it was registered: see check_unverified_fds.
    watch.rewatched = true;
    mark_dirty(fd, watch);
  }
  IoWatcher* old = std::exchange(watch.watchers[direction], watcher);
  watch.armed_at[direction] = polls_;
  if (old) old->notify(IoWatcher::Event::removed);
}

IoWatcher* ReadinessBackend::detach_watcher(int fd, int direction) noexcept {
  if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) return nullptr;
  FdWatch& watch = fds_[fd];
  IoWatcher* old = std::exchange(watch.watchers[direction], nullptr);
  if (old) mark_dirty(fd, watch);
  return old;
}

void ReadinessBackend::mark_dirty(int fd, FdWatch& watch) noexcept {
  if (watch.dirty) return;
  watch.dirty = true;
  dirty_fds_.push_back(fd);  // room reserved by add_watcher
}

void ReadinessBackend::close_fd(int fd) noexcept {
  if (fd >= 0 && static_cast<std::size_t>(fd) < fds_.size()) {
    FdWatch& watch = fds_[fd];
    drop_watchers(watch);  // (its owner removed them already)
    if (watch.registered) {
      try {
        selector_->unregister(fd);
      } catch (...) {
        // Nothing to do: the fd is closed just below, which ends its registration anyway.
      }
      watch.registered = 0;
    }
    watch.unverified = false;  // (a later watcher of a new file under this number registers anew)
  }
  ::close(fd);
}

void ReadinessBackend::poll(std::optional<std::chrono::nanoseconds> timeout) {
  if (!dirty_fds_.empty()) apply_fd_changes();
  if (!unverified_fds_.empty() && check_unverified_fds()) timeout = std::chrono::nanoseconds(0);
  ++polls_;
  const std::vector<selectors::ReadyKey>& ready = selector_->select(timeout);
  if (!ready.empty()) dispatch(ready);
}

// Brings the selector in line with the fd table, before a poll.
void ReadinessBackend::apply_fd_changes() {
  // By index: the exception handler may add watchers, which appends to the list.
  for (std::size_t i = 0; i < dirty_fds_.size(); ++i) {
    const int fd = dirty_fds_[i];
    FdWatch& watch = fds_[fd];
    assert(watch.dirty);  // listed once, while dirty
    const unsigned wanted = (watch.watchers[reader] ? selectors::EVENT_READ : 0u) |
                            (watch.watchers[writer] ? selectors::EVENT_WRITE : 0u);
    const bool rewatched = watch.rewatched;
    watch.dirty = watch.rewatched = false;
    try {
      if (wanted == 0) {
        if (watch.registered) selector_->unregister(fd);
        watch.unverified = false;
      } else if (watch.registered == 0) {
        selector_->register_fd(fd, wanted);
      } else if (wanted != watch.registered) {
        selector_->modify(fd, wanted);  // (epoll re-adds an fd the kernel forgot)
        watch.unverified = false;
      } else if (rewatched && selector_->forgets_closed_fds()) {
        watch.unverified = true;
        watch.polls_unverified = 0;
        if (!watch.listed_unverified) {
          watch.listed_unverified = true;
          unverified_fds_.push_back(fd);
        }
      }
      watch.registered = wanted;
    } catch (...) {
      fail_fd(fd);
    }
  }
  dirty_fds_.clear();
}

// An fd re-watched with unchanged events may be a new file under a reused number, unknown to
// epoll. An event for it proves otherwise (dispatch clears `unverified`). Until then the loop
// polls without blocking; after two polls without an event the fd is re-armed with the kernel
// (one system call) and the loop may block again. A busy fd so costs no system call to
// re-watch. Returns whether some fd is still unverified.
bool ReadinessBackend::check_unverified_fds() {
  std::size_t kept = 0;
  for (int fd : unverified_fds_) {
    FdWatch& watch = fds_[fd];
    if (watch.unverified && ++watch.polls_unverified > 2) {
      watch.unverified = false;
      try {
        selector_->refresh(fd);
      } catch (...) {
        fail_fd(fd);
      }
    }
    if (watch.unverified) {
      unverified_fds_[kept++] = fd;
    } else {
      watch.listed_unverified = false;
    }
  }
  unverified_fds_.resize(kept);
  return kept != 0;
}

// The selector refused fd, which was most likely closed behind the loop's back. Its watchers
// cannot be woken by the selector any more: wake them now so they meet the error themselves.
void ReadinessBackend::fail_fd(int fd) noexcept {
  scheduler_.loop().call_exception_handler(
      {"Cannot watch fd " + std::to_string(fd), std::current_exception(), {}});
  FdWatch& watch = fds_[fd];
  if (watch.registered) {
    try {
      selector_->unregister(fd);
    } catch (...) {
    }
  }
  watch.registered = 0;
  watch.unverified = false;
  drop_watchers(watch);
}

void ReadinessBackend::drop_watchers() noexcept {
  for (FdWatch& watch : fds_) drop_watchers(watch);
}

// Takes both watchers out of the table, then tells each it was removed. No selector update:
// the caller deals with the fd's registration.
void ReadinessBackend::drop_watchers(FdWatch& watch) noexcept {
  for (IoWatcher*& w : watch.watchers) {
    if (w) std::exchange(w, nullptr)->notify(IoWatcher::Event::removed);
  }
}

void ReadinessBackend::close() noexcept {
  closed_ = true;
  fds_.clear();
  dirty_fds_.clear();
  unverified_fds_.clear();
  selector_->close();
}

void ReadinessBackend::dispatch(const std::vector<selectors::ReadyKey>& ready) {
  for (const selectors::ReadyKey& key : ready) {
    const int fd = key.key.fd;
    if (static_cast<std::size_t>(fd) >= fds_.size()) continue;  // registered by someone else
    fds_[fd].unverified = false;  // the selector knows it: not a forgotten reused number
    for (int direction : {reader, writer}) {
      const unsigned event = direction == reader ? selectors::EVENT_READ : selectors::EVENT_WRITE;
      if (!(key.events & event)) continue;
      // Looked up afresh each time: a callback may have changed the table.
      FdWatch& watch = fds_[fd];
      IoWatcher* watcher = watch.watchers[direction];
      if (!watcher || watch.armed_at[direction] == polls_) continue;  // added after this poll
      notify_watcher(scheduler_, watcher, fd);
    }
  }
}

}  // namespace asyncio::detail
