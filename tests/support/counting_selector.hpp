// Test helpers: a selector that forwards to the default backend (ASYNCIO_SELECTOR) and counts
// its polls, so a test can tell a loop that sleeps from one that spins, and its re-arms; and a
// fixture whose loop waits on one.
#pragma once

#include <asyncio/selectors.hpp>

#include <chrono>
#include <memory>

#include "support/asyncio_test.hpp"

namespace asyncio_test {

class CountingSelector final : public asyncio::selectors::Selector {
 public:
  using SelectorKey = asyncio::selectors::SelectorKey;
  using ReadyKey = asyncio::selectors::ReadyKey;

  CountingSelector(std::size_t* polls, std::size_t* refreshes)
      : polls_(polls), refreshes_(refreshes) {}

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

/// LoopFixture whose loop counts its polls (polls()), on the backend ASYNCIO_SELECTOR names;
/// on a selector it waits on a CountingSelector, which counts re-arms in `refreshes` too.
struct CountingLoopFixture : LoopFixture {
  std::size_t selector_polls = 0, refreshes = 0;

  CountingLoopFixture() {
    if (loop->backend_name() == "io_uring") return;  // it has no selector; its stats count
    loop = std::make_unique<asyncio::EventLoop>(
        std::make_unique<CountingSelector>(&selector_polls, &refreshes));
    record_reports();
  }

  /// The loop's polls of its backend so far.
  std::size_t polls() const { return loop->stats().polls; }

  /// How many times the loop polls while `duration` passes with nothing else to run: a loop
  /// that sleeps polls a handful of times, one that spins thousands.
  std::size_t polls_during(std::chrono::milliseconds duration) {
    const std::size_t before = polls();
    run([](std::chrono::milliseconds d) -> asyncio::Coro<void> {
      co_await asyncio::sleep(d);
    }(duration));
    return polls() - before;
  }
};

}  // namespace asyncio_test
