// PollSelector: the selectors interface over poll(2).
#include <poll.h>

#include "asyncio/selectors.hpp"
#include "common.hpp"

namespace asyncio::selectors {

namespace {

short to_poll(unsigned events) {
  short mask = 0;
  if (events & EVENT_READ) mask |= POLLIN;
  if (events & EVENT_WRITE) mask |= POLLOUT;
  return mask;
}

}  // namespace

void PollSelector::close() {
  pollfds_.clear();
  slot_.clear();
  clear_keys();
}

const SelectorKey& PollSelector::register_fd(int fd, unsigned events, void* data) {
  SelectorKey& key = add_key(fd, events, data);
  if (static_cast<std::size_t>(fd) >= slot_.size()) slot_.resize(static_cast<std::size_t>(fd) + 1);
  slot_[fd] = pollfds_.size();
  pollfds_.push_back({fd, to_poll(events), 0});
  return key;
}

SelectorKey PollSelector::unregister(int fd) {
  SelectorKey old = remove_key(fd);
  const std::size_t i = slot_[fd];
  pollfds_[i] = pollfds_.back();
  slot_[pollfds_[i].fd] = i;
  pollfds_.pop_back();
  return old;
}

const SelectorKey& PollSelector::modify(int fd, unsigned events, void* data) {
  SelectorKey& key = key_for_modify(fd, events);
  key.events = events;
  key.data = data;
  pollfds_[slot_[fd]].events = to_poll(events);
  return key;
}

const std::vector<ReadyKey>& PollSelector::select(std::optional<std::chrono::nanoseconds> timeout) {
  ready_.clear();
  const int n = ::poll(pollfds_.data(), pollfds_.size(), detail::timeout_ms(timeout));
  if (n < 0) {
    if (errno == EINTR) return ready_;
    detail::throw_errno("poll");
  }
  for (const pollfd& p : pollfds_) {
    if (!p.revents) continue;
    unsigned ready = 0;
    // POLLNVAL: the fd was closed while registered; its owner meets EBADF when it acts on it.
    if (p.revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) ready |= EVENT_READ;
    if (p.revents & (POLLOUT | POLLHUP | POLLERR | POLLNVAL)) ready |= EVENT_WRITE;
    report(*get_key(p.fd), ready);
  }
  return ready_;
}

}  // namespace asyncio::selectors
