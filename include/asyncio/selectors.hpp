// asyncio::selectors: Python's selectors module. One Selector interface that watches file
// descriptors for readiness, with three backends: SelectSelector (select(2)), PollSelector
// (poll(2)) and EpollSelector (Linux epoll). Usable on its own, without a loop; the event loop
// waits on one.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>
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

/// One entry of select()'s result: the key, and which of its events are ready. A hang-up or an
/// error on the fd reports every event it is registered for, so its reader and its writer both
/// wake and meet the EOF or the error themselves.
struct ReadyKey {
  SelectorKey key;
  unsigned events = 0;
};

/// Watches file descriptors for readiness. Not thread-safe: one owner (one loop) at a time.
///
/// Errors: an invalid event mask, a negative fd, registering an fd twice, or modifying or
/// unregistering one that is not registered throw std::invalid_argument (Python's ValueError
/// and KeyError); OS errors throw std::system_error carrying errno. A signal interrupting a
/// wait is never an error: select() then returns what is ready (possibly nothing).
class Selector {
 public:
  virtual ~Selector() = default;

  /// Python's register() (a reserved word in C++).
  virtual const SelectorKey& register_fd(int fd, unsigned events, void* data = nullptr) = 0;
  /// Stops watching fd and returns its key. An fd closed while registered may be unregistered.
  virtual SelectorKey unregister(int fd) = 0;
  /// Changes the events and data of a registered fd.
  virtual const SelectorKey& modify(int fd, unsigned events, void* data = nullptr) = 0;
  /// Waits until at least one fd is ready or the timeout passes (nullopt: no timeout; zero or
  /// less: just poll). Returns the ready keys; the result stays valid until the next call.
  /// Timeouts are rounded up to the backend's resolution, so a wait never ends early.
  virtual const std::vector<ReadyKey>& select(std::optional<std::chrono::nanoseconds> timeout) = 0;
  /// Releases the OS resources and forgets every key; the selector is unusable afterwards.
  virtual void close() = 0;
  /// Not in Python: tells the OS again what fd is registered for. For a caller that cannot rule
  /// out that fd was closed and its number reused since it registered it: epoll silently drops
  /// a closed fd, and would never report the new one. A no-op for select and poll, which keep
  /// no state in the kernel.
  virtual void refresh(int /*fd*/) {}
  /// Not in Python: whether closing a registered fd makes the OS forget it, so that refresh()
  /// is needed after a reuse of its number (epoll: yes; select and poll: no).
  virtual bool forgets_closed_fds() const noexcept { return false; }

  /// The key of fd, or null when fd is not registered.
  const SelectorKey* get_key(int fd) const noexcept {
    if (fd < 0 || static_cast<std::size_t>(fd) >= keys_.size() || !keys_[fd]) return nullptr;
    return &*keys_[fd];
  }
  /// Number of registered fds.
  std::size_t size() const noexcept { return count_; }

 protected:
  // The key bookkeeping every backend shares (Python's _BaseSelectorImpl).
  /// Checks the arguments of register_fd and stores the new key.
  SelectorKey& add_key(int fd, unsigned events, void* data);
  /// The key of a registered fd, after checking the events; throws when fd is not registered.
  SelectorKey& key_for_modify(int fd, unsigned events);
  /// Forgets the key of a registered fd and returns it; throws when fd is not registered.
  SelectorKey remove_key(int fd);
  void clear_keys() noexcept;
  /// Adds ready events for a registered fd to the result, restricted to what it is watched for.
  void report(const SelectorKey& key, unsigned events) {
    events &= key.events;
    if (events) ready_.push_back({key, events});
  }

  std::vector<ReadyKey> ready_;  // the last select()'s result

 private:
  std::vector<std::optional<SelectorKey>> keys_;  // indexed by fd
  std::size_t count_ = 0;                         // registered fds
};

/// select(2). Refuses an fd >= FD_SETSIZE (1024) with std::invalid_argument instead of
/// writing past its fd_set. Resolution of timeouts: 1 microsecond.
class SelectSelector final : public Selector {
 public:
  SelectSelector() noexcept = default;
  ~SelectSelector() override = default;

  const SelectorKey& register_fd(int fd, unsigned events, void* data = nullptr) override;
  SelectorKey unregister(int fd) override;
  const SelectorKey& modify(int fd, unsigned events, void* data = nullptr) override;
  const std::vector<ReadyKey>& select(std::optional<std::chrono::nanoseconds> timeout) override;
  void close() override;

 private:
  /// select() failed with EBADF: reports the fds that were closed while registered as ready,
  /// so their owners meet the error, instead of failing every wait from now on.
  void report_closed_fds();

  // The fd_sets are made from the keys for each call: the keys are the one record of what is
  // registered.
  int max_fd_ = -1;  // highest registered fd (an upper bound after unregister)
};

/// poll(2). Resolution of timeouts: 1 millisecond.
class PollSelector final : public Selector {
 public:
  PollSelector();
  ~PollSelector() override;

  const SelectorKey& register_fd(int fd, unsigned events, void* data = nullptr) override;
  SelectorKey unregister(int fd) override;
  const SelectorKey& modify(int fd, unsigned events, void* data = nullptr) override;
  const std::vector<ReadyKey>& select(std::optional<std::chrono::nanoseconds> timeout) override;
  void close() override;

 private:
  struct Table;  // the pollfd array poll(2) takes, and each fd's slot in it (poll.cpp)
  std::unique_ptr<Table> table_;
};

/// Linux epoll, level-triggered. Resolution of timeouts: 1 nanosecond (epoll_pwait2), or 1
/// millisecond on kernels before 5.11.
class EpollSelector final : public Selector {
 public:
  EpollSelector();
  ~EpollSelector() override;

  const SelectorKey& register_fd(int fd, unsigned events, void* data = nullptr) override;
  SelectorKey unregister(int fd) override;
  const SelectorKey& modify(int fd, unsigned events, void* data = nullptr) override;
  const std::vector<ReadyKey>& select(std::optional<std::chrono::nanoseconds> timeout) override;
  void close() override;
  void refresh(int fd) override;
  bool forgets_closed_fds() const noexcept override { return true; }

  /// The epoll file descriptor (-1 once closed).
  int fileno() const noexcept { return epfd_; }

 private:
  /// epoll_ctl(MOD), falling back to ADD when the kernel no longer knows fd (it was closed).
  void update_kernel(int fd, unsigned events);

  int epfd_ = -1;
  bool nanosecond_timeouts_ = true;  // epoll_pwait2 works here (Linux 5.11+)
};

/// The best selector for this platform: epoll on Linux.
using DefaultSelector = EpollSelector;

/// A new selector of the named kind: "select", "poll" or "epoll"; std::invalid_argument for
/// any other name.
std::unique_ptr<Selector> make_selector(std::string_view name);
/// The selector a new event loop gets: the kind named by the environment variable
/// ASYNCIO_SELECTOR (select, poll or epoll) when it is set and not empty, else DefaultSelector
/// (also for ASYNCIO_SELECTOR=io_uring, which the loop itself acts on: event_loop.hpp).
std::unique_ptr<Selector> make_default_selector();

}  // namespace asyncio::selectors
