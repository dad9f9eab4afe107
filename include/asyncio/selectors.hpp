// asyncio::selectors: Python's selectors module. One Selector interface that watches file
// descriptors for readiness; the event loop waits on one. EpollSelector is the Linux backend.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <vector>

namespace asyncio::selectors {

/// Event masks, as in Python's selectors module.
inline constexpr unsigned EVENT_READ = 1u << 0;
inline constexpr unsigned EVENT_WRITE = 1u << 1;

/// A registered file descriptor: what it is watched for, and the caller's data.
struct SelectorKey {
  int fd = -1;
  unsigned events = 0;
  void* data = nullptr;
};

/// One entry of select()'s result: the key, and which of its events are ready.
struct ReadyKey {
  SelectorKey key;
  unsigned events = 0;
};

/// Watches file descriptors for readiness. Not thread-safe: one owner (one loop) at a time.
class Selector {
 public:
  virtual ~Selector() = default;

  /// Python's register() (a reserved word in C++). Throws std::invalid_argument for a bad mask,
  /// KeyError-like std::invalid_argument when fd is already registered, std::system_error for an
  /// OS error.
  virtual const SelectorKey& register_fd(int fd, unsigned events, void* data = nullptr) = 0;
  /// Stops watching fd and returns its key; std::invalid_argument when not registered.
  virtual SelectorKey unregister(int fd) = 0;
  /// Changes the events and data of a registered fd.
  virtual const SelectorKey& modify(int fd, unsigned events, void* data = nullptr) = 0;
  /// Waits until at least one fd is ready or the timeout passes (nullopt: no timeout; zero:
  /// just poll). Returns the ready keys; the result stays valid until the next call. A signal
  /// interrupting the wait gives an empty result, never an error.
  virtual const std::vector<ReadyKey>& select(std::optional<std::chrono::nanoseconds> timeout) = 0;
  /// Releases the OS resources; the selector is unusable afterwards.
  virtual void close() = 0;

  /// The key of fd, or null when fd is not registered.
  virtual const SelectorKey* get_key(int fd) const noexcept = 0;
  /// Number of registered fds.
  virtual std::size_t size() const noexcept = 0;
};

/// Linux epoll.
class EpollSelector final : public Selector {
 public:
  EpollSelector();
  ~EpollSelector() override;

  const SelectorKey& register_fd(int fd, unsigned events, void* data = nullptr) override;
  SelectorKey unregister(int fd) override;
  const SelectorKey& modify(int fd, unsigned events, void* data = nullptr) override;
  const std::vector<ReadyKey>& select(std::optional<std::chrono::nanoseconds> timeout) override;
  void close() override;
  const SelectorKey* get_key(int fd) const noexcept override;
  std::size_t size() const noexcept override { return count_; }

  /// The epoll file descriptor (-1 once closed).
  int fileno() const noexcept { return epfd_; }

 private:
  int epfd_ = -1;
  std::size_t count_ = 0;
  std::vector<std::optional<SelectorKey>> keys_;  // indexed by fd
  std::vector<ReadyKey> ready_;
};

/// The best selector for this platform (epoll on Linux).
using DefaultSelector = EpollSelector;

/// A new DefaultSelector.
std::unique_ptr<Selector> make_default_selector();

}  // namespace asyncio::selectors
