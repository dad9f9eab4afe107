// Test helper: a selector that forwards to the default backend (ASYNCIO_SELECTOR) and counts
// its polls, so a test can tell a loop that sleeps from one that spins, and its re-arms.
#pragma once

#include <asyncio/selectors.hpp>

#include <memory>

namespace asyncio_test {

class CountingSelector final : public asyncio::selectors::Selector {
 public:
  using SelectorKey = asyncio::selectors::SelectorKey;
  using ReadyKey = asyncio::selectors::ReadyKey;

  CountingSelector(std::size_t* polls, std::size_t* refreshes) : polls_(polls), refreshes_(refreshes) {}

  const SelectorKey& register_fd(int fd, unsigned events, void* data) override {
    inner_->register_fd(fd, events, data);
    return mirror(fd);
  }
  SelectorKey unregister(int fd) override {
    SelectorKey old = inner_->unregister(fd);
    remove_key(fd);
    return old;
  }
  const SelectorKey& modify(int fd, unsigned events, void* data) override {
    inner_->modify(fd, events, data);
    remove_key(fd);
    return mirror(fd);
  }
  const std::vector<ReadyKey>& select(std::optional<std::chrono::nanoseconds> timeout) override {
    ++*polls_;
    return inner_->select(timeout);
  }
  void close() override {
    inner_->close();
    clear_keys();
  }
  void refresh(int fd) override {
    ++*refreshes_;
    inner_->refresh(fd);
  }
  bool forgets_closed_fds() const noexcept override { return inner_->forgets_closed_fds(); }

 private:
  const SelectorKey& mirror(int fd) {
    const SelectorKey& key = *inner_->get_key(fd);
    return add_key(fd, key.events, key.data);
  }

  std::unique_ptr<Selector> inner_ = asyncio::selectors::make_default_selector();
  std::size_t* polls_;
  std::size_t* refreshes_;
};

}  // namespace asyncio_test
