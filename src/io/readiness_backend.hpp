// ReadinessBackend: the I/O backend on a selector (epoll, poll or select). It owns the fd table
// (which watcher waits for which direction of which fd) and keeps the selector in line with it.
//
// Implementation notes. The callbacks of ready fds run as the poll returns them (libuv's way),
// not through the ready queue. Changes to what an fd is watched for are applied to the selector
// just before the next poll, so a task that stops and starts waiting on one fd between two
// polls costs no system call. Since the fd might have been closed and its number reused
// meanwhile (epoll then no longer knows it), the backend does not block while such an fd is
// unverified, and re-arms it with the kernel unless an event for it arrives within two polls
// (check_unverified_fds). A watcher added while a batch of events is dispatched is not woken by
// that batch: it cannot get an event meant for the fd's previous owner.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "asyncio/detail/io_backend.hpp"
#include "asyncio/selectors.hpp"

namespace asyncio::detail {

class Scheduler;

class ReadinessBackend final : public IoBackend {
 public:
  /// Waits on `selector` (the DefaultSelector when null); reports errors to `scheduler`'s loop.
  ReadinessBackend(Scheduler& scheduler, std::unique_ptr<selectors::Selector> selector);

  void add_watcher(int fd, int direction, IoWatcher* watcher, bool replace) override;
  IoWatcher* detach_watcher(int fd, int direction) noexcept override;
  void close_fd(int fd) noexcept override;
  void poll(std::optional<std::chrono::nanoseconds> timeout) override;
  std::size_t registered_fds() const noexcept override { return selector_->size(); }
  void drop_watchers() noexcept override;
  void close() noexcept override;
  selectors::Selector* selector() noexcept override { return selector_.get(); }
  const char* name() const noexcept override;

  // The operations (src/io/readiness_sockets.cpp, readiness_ops.hpp): the system call first, a
  // wait for readiness only when it would block.
  Coro<std::pair<int, SocketAddress>> accept(int fd) override;
  Coro<void> connect(int fd, SocketAddress address) override;
  Coro<std::size_t> recv_into(int fd, std::span<std::byte> buffer) override;
  Coro<void> send_all(int fd, std::string_view data) override;
  Coro<std::pair<std::string, SocketAddress>> recvfrom(int fd, std::size_t max_bytes) override;
  Coro<std::size_t> sendto(int fd, std::string_view data, SocketAddress address) override;
  Coro<std::pair<std::size_t, SocketAddress>> recvfrom_into(int fd,
                                                            std::span<char> buffer) override;
  Coro<void> sendfile(int fd, int file, std::int64_t offset, std::size_t count,
                      std::size_t& sent) override;

 private:
  // What each fd is watched for, indexed by fd.
  struct FdWatch {
    IoWatcher* watchers[2] = {};        // [reader], [writer]; null when none
    std::uint64_t armed_at[2] = {};     // polls_ when the watcher was added; a watcher is only
                                        // woken by a poll that began after it was added
    unsigned registered = 0;            // the events the selector has for the fd
    bool dirty = false;                 // listed in dirty_fds_
    bool rewatched = false;             // a watcher was added to a registered fd since the
                                        // selector was last updated
    bool unverified = false;            // re-watched, and no event since (check_unverified_fds)
    bool listed_unverified = false;     // listed in unverified_fds_ (until the next check finds
                                        // it verified)
    std::uint8_t polls_unverified = 0;  // polls without an event while unverified
  };

  void mark_dirty(int fd, FdWatch& watch) noexcept;
  void apply_fd_changes();
  bool check_unverified_fds();
  void fail_fd(int fd) noexcept;
  static void drop_watchers(FdWatch& watch) noexcept;
  void dispatch(const std::vector<selectors::ReadyKey>& ready);

  Scheduler& scheduler_;
  std::unique_ptr<selectors::Selector> selector_;
  // dirty_fds_ lists the fds whose watchers changed since the selector was last updated
  // (apply_fd_changes, before each poll); each at most once, so its capacity is fds_.size().
  std::vector<FdWatch> fds_;
  std::vector<int> dirty_fds_;
  std::vector<int> unverified_fds_;
  std::uint64_t polls_ = 0;  // number of selector polls so far
  bool closed_ = false;      // close() was called: watchers can no longer be added
};

}  // namespace asyncio::detail
