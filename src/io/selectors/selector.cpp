// Selector: the key bookkeeping shared by the backends, and the choice of a default backend.
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "asyncio/selectors.hpp"

namespace asyncio::selectors {

namespace {

void check_events(unsigned events) {
  if (events == 0 || (events & ~(EVENT_READ | EVENT_WRITE)) != 0) {
    throw std::invalid_argument("Invalid events: " + std::to_string(events));
  }
}

}  // namespace

SelectorKey& Selector::add_key(int fd, unsigned events, void* data) {
  check_events(events);
  if (fd < 0) throw std::invalid_argument("Invalid file descriptor: " + std::to_string(fd));
  if (get_key(fd)) throw std::invalid_argument(std::to_string(fd) + " is already registered");
  if (static_cast<std::size_t>(fd) >= keys_.size()) keys_.resize(static_cast<std::size_t>(fd) + 1);
  ++count_;
  return keys_[fd].emplace(SelectorKey{fd, events, data});
}

SelectorKey& Selector::key_for_modify(int fd, unsigned events) {
  check_events(events);
  if (!get_key(fd)) throw std::invalid_argument(std::to_string(fd) + " is not registered");
  return *keys_[fd];
}

SelectorKey Selector::remove_key(int fd) {
  if (!get_key(fd)) throw std::invalid_argument(std::to_string(fd) + " is not registered");
  SelectorKey old = *keys_[fd];
  keys_[fd].reset();
  --count_;
  return old;
}

void Selector::clear_keys() noexcept {
  keys_.clear();
  count_ = 0;
  ready_.clear();
}

std::unique_ptr<Selector> make_selector(std::string_view name) {
  if (name == "epoll") return std::make_unique<EpollSelector>();
  if (name == "poll") return std::make_unique<PollSelector>();
  if (name == "select") return std::make_unique<SelectSelector>();
  throw std::invalid_argument("Unknown selector '" + std::string(name) +
                              "' (expected select, poll or epoll)");
}

std::unique_ptr<Selector> make_default_selector() {
  const char* name = std::getenv("ASYNCIO_SELECTOR");
  // io_uring is a backend, not a selector (the loop asks for it itself): epoll then.
  if (name && *name && std::string_view(name) != "io_uring") return make_selector(name);
  return std::make_unique<DefaultSelector>();
}

}  // namespace asyncio::selectors
