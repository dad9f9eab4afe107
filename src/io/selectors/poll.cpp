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

struct PollSelector::Table {
  // Invariant: pollfds holds one entry per registered fd, and slot[fd] is its index there.
  std::vector<pollfd> pollfds;
  std::vector<std::size_t> slot;
};

PollSelector::PollSelector() : table_(std::make_unique<Table>()) {}
PollSelector::~PollSelector() = default;

void PollSelector::close() {
  table_->pollfds.clear();
  table_->slot.clear();
  clear_keys();
}

const SelectorKey& PollSelector::register_fd(int fd, unsigned events, void* data) {
  SelectorKey& key = add_key(fd, events, data);
  std::vector<std::size_t>& slot = table_->slot;
  if (static_cast<std::size_t>(fd) >= slot.size()) slot.resize(static_cast<std::size_t>(fd) + 1);
  slot[fd] = table_->pollfds.size();
  table_->pollfds.push_back({fd, to_poll(events), 0});
  return key;
}

SelectorKey PollSelector::unregister(int fd) {
  SelectorKey old = remove_key(fd);
  std::vector<pollfd>& pollfds = table_->pollfds;
  const std::size_t i = table_->slot[fd];
  pollfds[i] = pollfds.back();
  table_->slot[pollfds[i].fd] = i;
  pollfds.pop_back();
  return old;
}

const SelectorKey& PollSelector::modify(int fd, unsigned events, void* data) {
  SelectorKey& key = key_for_modify(fd, events);
  key.events = events;
  key.data = data;
  table_->pollfds[table_->slot[fd]].events = to_poll(events);
  return key;
}

const std::vector<ReadyKey>& PollSelector::select(std::optional<std::chrono::nanoseconds> timeout) {
  ready_.clear();
  std::vector<pollfd>& pollfds = table_->pollfds;
  const int n = ::poll(pollfds.data(), pollfds.size(), detail::timeout_ms(timeout));
  if (n < 0) {
    if (errno == EINTR) return ready_;
    detail::throw_errno(errno, "poll");
  }
  for (const pollfd& p : pollfds) {
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
