// OwnedFd: the one owner of a raw file descriptor the library opened and has not yet handed to
// a transport, server or endpoint: closed by its destructor unless released first, so that no
// error path between socket(2) and the hand-over leaks it. An fd a loop may have watched is
// closed through the loop's I/O backend instead (IoBackend::close_fd).
#pragma once

#include <unistd.h>

#include <utility>

namespace asyncio::detail {

class OwnedFd {
 public:
  OwnedFd() noexcept = default;
  explicit OwnedFd(int fd) noexcept : fd_(fd) {}
  ~OwnedFd() { close(); }
  OwnedFd(OwnedFd&& other) noexcept : fd_(other.release()) {}
  OwnedFd& operator=(OwnedFd&& other) noexcept {
    if (this != &other) {
      close();
      fd_ = other.release();
    }
    return *this;
  }

  int get() const noexcept { return fd_; }
  /// Gives the fd up, to a new owner.
  int release() noexcept { return std::exchange(fd_, -1); }
  void close() noexcept {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  }

 private:
  int fd_ = -1;  // -1: none
};

}  // namespace asyncio::detail
