// The loop's open transports: a list, so that closing the loop can abort them, and which
// transport uses which fd, so that add_reader and the like refuse an fd a transport owns
// (CPython's _transports and _ensure_fd_no_transport).
#pragma once

#include <cstddef>
#include <vector>

#include "asyncio/detail/intrusive_list.hpp"

namespace asyncio::detail {

/// A transport's place in the loop's OpenTransports; the loop calls close_now(owner) when it
/// closes, which aborts the connection and tells the protocol there and then.
struct LoopLink : ListHook {
  using CloseNow = void (*)(void* owner) noexcept;
  LoopLink(CloseNow close_now, void* owner) noexcept : close_now(close_now), owner(owner) {}
  CloseNow close_now;
  void* owner;  // the transport
  int fd = -1;  // the fd it uses while open, or -1 (a subprocess transport has none)
};

/// RuntimeError("File descriptor N is used by transport"), as Python's.
[[noreturn]] void throw_fd_in_transport(int fd);

class OpenTransports {
 public:
  /// Links a transport that opened, using `fd` (or -1).
  void add(LoopLink& link, int fd) {
    if (fd >= 0) {
      if (static_cast<std::size_t>(fd) >= by_fd_.size()) by_fd_.resize(fd + std::size_t{1});
      by_fd_[static_cast<std::size_t>(fd)] = &link;
    }
    link.fd = fd;
    list_.push_back(&link);
  }
  /// Unlinks a transport whose connection is gone (nothing if it is not linked).
  void remove(LoopLink& link) noexcept {
    if (link.fd >= 0 && by_fd_[static_cast<std::size_t>(link.fd)] == &link)
      by_fd_[static_cast<std::size_t>(link.fd)] = nullptr;  // (else a newer one took the number)
    link.fd = -1;
    link.unlink();
  }
  /// Whether an open transport uses `fd`.
  bool uses(int fd) const noexcept {
    return fd >= 0 && static_cast<std::size_t>(fd) < by_fd_.size() &&
           by_fd_[static_cast<std::size_t>(fd)] != nullptr;
  }
  /// The first open transport, or null.
  LoopLink* front() noexcept { return static_cast<LoopLink*>(list_.front()); }

 private:
  // Invariant: by_fd_[fd] is the linked transport that uses fd, or null.
  IntrusiveList list_;
  std::vector<LoopLink*> by_fd_;
};

}  // namespace asyncio::detail
