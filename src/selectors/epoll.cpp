// EpollSelector: the selectors interface over Linux epoll.
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <stdexcept>
#include <string>
#include <system_error>

#include "asyncio/selectors.hpp"

namespace asyncio::selectors {

namespace {

[[noreturn]] void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

std::uint32_t to_epoll(unsigned events) {
  std::uint32_t mask = 0;
  if (events & EVENT_READ) mask |= EPOLLIN;
  if (events & EVENT_WRITE) mask |= EPOLLOUT;
  return mask;
}

void check_events(unsigned events) {
  if (events == 0 || (events & ~(EVENT_READ | EVENT_WRITE)) != 0) {
    throw std::invalid_argument("Invalid events: " + std::to_string(events));
  }
}

}  // namespace

std::unique_ptr<Selector> make_default_selector() { return std::make_unique<DefaultSelector>(); }

EpollSelector::EpollSelector() : epfd_(::epoll_create1(EPOLL_CLOEXEC)) {
  if (epfd_ < 0) throw_errno("epoll_create1");
}

EpollSelector::~EpollSelector() { close(); }

void EpollSelector::close() {
  if (epfd_ >= 0) ::close(epfd_);
  epfd_ = -1;
  keys_.clear();
  count_ = 0;
}

const SelectorKey* EpollSelector::get_key(int fd) const noexcept {
  if (fd < 0 || static_cast<std::size_t>(fd) >= keys_.size() || !keys_[fd]) return nullptr;
  return &*keys_[fd];
}

const SelectorKey& EpollSelector::register_fd(int fd, unsigned events, void* data) {
  check_events(events);
  if (fd < 0) throw std::invalid_argument("Invalid file descriptor: " + std::to_string(fd));
  if (get_key(fd)) throw std::invalid_argument(std::to_string(fd) + " is already registered");
  epoll_event ev{};
  ev.events = to_epoll(events);
  ev.data.fd = fd;
  if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0) throw_errno("epoll_ctl(ADD)");
  if (static_cast<std::size_t>(fd) >= keys_.size()) keys_.resize(fd + 1);
  keys_[fd] = SelectorKey{fd, events, data};
  ++count_;
  return *keys_[fd];
}

SelectorKey EpollSelector::unregister(int fd) {
  const SelectorKey* key = get_key(fd);
  if (!key) throw std::invalid_argument(std::to_string(fd) + " is not registered");
  SelectorKey old = *key;
  keys_[fd].reset();
  --count_;
  // The fd may already be closed (and so out of the epoll set): that is not an error here.
  if (::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr) < 0 && errno != EBADF && errno != ENOENT) {
    throw_errno("epoll_ctl(DEL)");
  }
  return old;
}

const SelectorKey& EpollSelector::modify(int fd, unsigned events, void* data) {
  check_events(events);
  if (!get_key(fd)) throw std::invalid_argument(std::to_string(fd) + " is not registered");
  SelectorKey& key = *keys_[fd];
  if (key.events != events) {
    epoll_event ev{};
    ev.events = to_epoll(events);
    ev.data.fd = fd;
    if (::epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) < 0) throw_errno("epoll_ctl(MOD)");
    key.events = events;
  }
  key.data = data;
  return key;
}

const std::vector<ReadyKey>& EpollSelector::select(std::optional<std::chrono::nanoseconds> timeout) {
  ready_.clear();
  int timeout_ms = -1;
  if (timeout) {
    // Round up, so the loop never wakes just before a timer is due and spins.
    const auto ms = (timeout->count() + 999'999) / 1'000'000;
    timeout_ms = ms > std::numeric_limits<int>::max() ? std::numeric_limits<int>::max()
                                                       : static_cast<int>(ms < 0 ? 0 : ms);
  }
  epoll_event events[256];
  const int max_events = count_ == 0 ? 1 : static_cast<int>(std::min<std::size_t>(count_, 256));
  const int n = ::epoll_wait(epfd_, events, max_events, timeout_ms);
  if (n < 0) {
    if (errno == EINTR) return ready_;
    throw_errno("epoll_wait");
  }
  for (int i = 0; i < n; ++i) {
    const int fd = events[i].data.fd;
    const SelectorKey* key = get_key(fd);
    if (!key) continue;  // unregistered since the kernel reported it
    unsigned ready = 0;
    const std::uint32_t ev = events[i].events;
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) ready |= EVENT_READ;
    if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) ready |= EVENT_WRITE;
    ready &= key->events;
    if (ready) ready_.push_back({*key, ready});
  }
  return ready_;
}

}  // namespace asyncio::selectors
