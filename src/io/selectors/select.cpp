// SelectSelector: the selectors interface over select(2).
#include <fcntl.h>
#include <sys/select.h>

#include <stdexcept>
#include <string>

#include "asyncio/selectors.hpp"
#include "common.hpp"

namespace asyncio::selectors {

void SelectSelector::close() {
  max_fd_ = -1;
  clear_keys();
}

const SelectorKey& SelectSelector::register_fd(int fd, unsigned events, void* data) {
  if (fd >= FD_SETSIZE) {
    throw std::invalid_argument(
        "file descriptor " + std::to_string(fd) + " out of range for select() (FD_SETSIZE is " +
        std::to_string(FD_SETSIZE) + "); use PollSelector or EpollSelector");
  }
  SelectorKey& key = add_key(fd, events, data);
  if (fd > max_fd_) max_fd_ = fd;
  return key;
}

SelectorKey SelectSelector::unregister(int fd) {
  SelectorKey old = remove_key(fd);
  while (max_fd_ >= 0 && !get_key(max_fd_)) --max_fd_;
  return old;
}

const SelectorKey& SelectSelector::modify(int fd, unsigned events, void* data) {
  SelectorKey& key = key_for_modify(fd, events);
  key.events = events;
  key.data = data;
  return key;
}

const std::vector<ReadyKey>& SelectSelector::select(
    std::optional<std::chrono::nanoseconds> timeout) {
  ready_.clear();
  fd_set readable, writable;
  FD_ZERO(&readable);
  FD_ZERO(&writable);
  for (int fd = 0; fd <= max_fd_; ++fd) {
    const SelectorKey* key = get_key(fd);
    if (!key) continue;
    if (key->events & EVENT_READ) FD_SET(fd, &readable);
    if (key->events & EVENT_WRITE) FD_SET(fd, &writable);
  }
  timeval tv{};
  timeval* tvp = nullptr;
  if (timeout) {
    // Round up to whole microseconds; a negative timeout is a poll.
    const auto us = timeout->count() <= 0 ? 0 : (timeout->count() + 999) / 1000;
    tv.tv_sec = static_cast<time_t>(us / 1'000'000);
    tv.tv_usec = static_cast<suseconds_t>(us % 1'000'000);
    tvp = &tv;
  }
  const int n = ::select(max_fd_ + 1, &readable, &writable, nullptr, tvp);
  if (n < 0) {
    if (errno == EINTR) return ready_;
    if (errno == EBADF) {
      report_closed_fds();
      return ready_;
    }
    detail::throw_errno(errno, "select");
  }
  for (int fd = 0; fd <= max_fd_; ++fd) {
    unsigned ready = 0;
    if (FD_ISSET(fd, &readable)) ready |= EVENT_READ;
    if (FD_ISSET(fd, &writable)) ready |= EVENT_WRITE;
    if (ready) report(*get_key(fd), ready);
  }
  return ready_;
}

void SelectSelector::report_closed_fds() {
  for (int fd = 0; fd <= max_fd_; ++fd) {
    const SelectorKey* key = get_key(fd);
    if (key && ::fcntl(fd, F_GETFD) < 0 && errno == EBADF) report(*key, key->events);
  }
}

}  // namespace asyncio::selectors
