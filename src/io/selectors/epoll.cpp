// EpollSelector: the selectors interface over Linux epoll (level-triggered).
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>

#include "asyncio/selectors.hpp"
#include "common.hpp"

namespace asyncio::selectors {

using detail::throw_errno;

namespace {

std::uint32_t to_epoll(unsigned events) {
  std::uint32_t mask = 0;
  if (events & EVENT_READ) mask |= EPOLLIN;
  if (events & EVENT_WRITE) mask |= EPOLLOUT;
  return mask;
}

}  // namespace

EpollSelector::EpollSelector() : epfd_(::epoll_create1(EPOLL_CLOEXEC)) {
  if (epfd_ < 0) throw_errno(errno, "epoll_create1");
}

EpollSelector::~EpollSelector() { close(); }

void EpollSelector::close() {
  if (epfd_ >= 0) ::close(epfd_);
  epfd_ = -1;
  clear_keys();
}

const SelectorKey& EpollSelector::register_fd(int fd, unsigned events, void* data) {
  SelectorKey& key = add_key(fd, events, data);
  epoll_event ev{};
  ev.events = to_epoll(events);
  ev.data.fd = fd;
  if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0) {
    const int error = errno;
    remove_key(fd);
    errno = error;
    throw_errno(errno, "epoll_ctl(ADD)");
  }
  return key;
}

SelectorKey EpollSelector::unregister(int fd) {
  SelectorKey old = remove_key(fd);
  // The fd may be closed since (and so out of the epoll set: EBADF), or its number taken by
  // another file (ENOENT; EPERM for a regular file): as Python's, that is no error here.
  ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
  return old;
}

const SelectorKey& EpollSelector::modify(int fd, unsigned events, void* data) {
  SelectorKey& key = key_for_modify(fd, events);
  if (key.events != events) {
    try {
      update_kernel(fd, events);
    } catch (...) {
      remove_key(fd);  // as Python's: an fd the kernel refuses (closed, most likely) is dropped
      throw;
    }
    key.events = events;
  }
  key.data = data;
  return key;
}

void EpollSelector::refresh(int fd) {
  if (const SelectorKey* key = get_key(fd)) update_kernel(fd, key->events);
}

void EpollSelector::update_kernel(int fd, unsigned events) {
  epoll_event ev{};
  ev.events = to_epoll(events);
  ev.data.fd = fd;
  if (::epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) == 0) return;
  if (errno == ENOENT && ::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) == 0) return;
  throw_errno(errno, "epoll_ctl(MOD)");
}

const std::vector<ReadyKey>& EpollSelector::select(
    std::optional<std::chrono::nanoseconds> timeout) {
  ready_.clear();
  epoll_event events[256];
  const int max_events = size() == 0 ? 1 : static_cast<int>(std::min<std::size_t>(size(), 256));
  int n;
  if (timeout && timeout->count() > 0 && nanosecond_timeouts_) {
    // To the nanosecond: epoll_wait's milliseconds would make a timer up to 1 ms late.
    const timespec wait{static_cast<time_t>(timeout->count() / 1'000'000'000),
                        static_cast<long>(timeout->count() % 1'000'000'000)};
    n = ::epoll_pwait2(epfd_, events, max_events, &wait, nullptr);
    if (n < 0 && errno == ENOSYS) {  // a kernel before 5.11: milliseconds from now on
      nanosecond_timeouts_ = false;
      n = ::epoll_wait(epfd_, events, max_events, detail::timeout_ms(timeout));
    }
  } else {
    n = ::epoll_wait(epfd_, events, max_events, detail::timeout_ms(timeout));
  }
  if (n < 0) {
    if (errno == EINTR) return ready_;
    throw_errno(errno, "epoll_wait");
  }
  for (int i = 0; i < n; ++i) {
    const SelectorKey* key = get_key(events[i].data.fd);
    if (!key) continue;  // unregistered since the kernel reported it
    const std::uint32_t ev = events[i].events;
    unsigned ready = 0;
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) ready |= EVENT_READ;
    if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) ready |= EVENT_WRITE;
    report(*key, ready);
  }
  return ready_;
}

}  // namespace asyncio::selectors
