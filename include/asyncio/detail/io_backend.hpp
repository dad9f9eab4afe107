// The I/O backend: how a loop performs socket operations, learns that file descriptors are
// ready, and closes the ones it watched. EventLoop owns one, polls it once per iteration, and
// forwards add_reader and the sock_* calls to it; wait_readable, transports and servers install
// their watchers through it. The readiness kind (ReadinessBackend, on a selector) makes each
// operation a non-blocking call plus a wait for readiness; the completion kind (UringBackend,
// on io_uring) implements the same interface with submissions.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "asyncio/detail/io_watcher.hpp"

namespace asyncio {
template <class T>
class Coro;
class SocketAddress;
namespace selectors {
class Selector;
}
}  // namespace asyncio

namespace asyncio::detail {

class UringBackend;

class IoBackend {
 public:
  /// Which of an fd's two watchers: the index of its reader and of its writer.
  static constexpr int reader = 0, writer = 1;

  virtual ~IoBackend() = default;

  /// Installs `watcher` for fd's `direction`. A watcher already there is replaced (and told
  /// it was removed) when `replace` (add_reader), else it is a RuntimeError (wait_readable).
  /// std::invalid_argument for a negative fd, RuntimeError("Event loop is closed") once the
  /// backend is closed; errors registering it with the OS are thrown.
  virtual void add_watcher(int fd, int direction, IoWatcher* watcher, bool replace) = 0;
  /// Takes fd's watcher for `direction` out without telling it; null if there was none.
  virtual IoWatcher* detach_watcher(int fd, int direction) noexcept = 0;
  /// The one way to close an fd the loop may have watched: the backend forgets it first (once
  /// closed, an fd can no longer be taken out of an epoll set, and its number may be reused),
  /// then closes it. Its watchers must be gone already. Works on a closed backend too.
  virtual void close_fd(int fd) noexcept = 0;

  /// Waits at most `timeout` (none: until some fd is ready) and notifies the watchers of the
  /// fds that are ready; a watcher installed during this call is not notified by it.
  virtual void poll(std::optional<std::chrono::nanoseconds> timeout) = 0;
  /// How many fds are registered with the OS (the loop's own wake-up fd among them).
  virtual std::size_t registered_fds() const noexcept = 0;

  /// Takes every watcher out, telling each it was removed (the loop closing).
  virtual void drop_watchers() noexcept = 0;
  /// Releases the OS resources; only close_fd may be called afterwards.
  virtual void close() noexcept = 0;
  /// RuntimeError when the loop may not run on this thread (a single-thread io_uring ring made
  /// on another).
  virtual void check_can_run_here() const {}

  // --- Operations: EventLoop's sock_* (their documentation is there) --------------------------
  // Coroutines: an error (std::system_error with errno; std::invalid_argument for a blocking
  // socket in debug mode) is raised where the operation is awaited.

  virtual Coro<std::pair<int, SocketAddress>> accept(int fd) = 0;
  virtual Coro<void> connect(int fd, SocketAddress address) = 0;
  virtual Coro<std::size_t> recv_into(int fd, std::span<std::byte> buffer) = 0;
  virtual Coro<void> send_all(int fd, std::string_view data) = 0;
  virtual Coro<std::pair<std::string, SocketAddress>> recvfrom(int fd, std::size_t max_bytes) = 0;
  virtual Coro<std::size_t> sendto(int fd, std::string_view data, SocketAddress address) = 0;
  virtual Coro<std::pair<std::size_t, SocketAddress>> recvfrom_into(int fd,
                                                                    std::span<char> buffer) = 0;
  /// sendfile(2) of up to `count` bytes of `file` from `offset` to the socket or pipe `fd`, until
  /// the file ends; adds the bytes sent to `sent` as they go, so that it is right also when
  /// this throws or is cancelled. SendfileNotAvailableError when sendfile(2) cannot do it (no
  /// byte was sent then).
  virtual Coro<void> sendfile(int fd, int file, std::int64_t offset, std::size_t count,
                              std::size_t& sent) = 0;

  // --- Receiving a stream's bytes as they arrive (completion backends) ------------------------

  /// The client of a receive: a stream transport reading on a completion backend.
  struct Receiver {
    /// Bytes arrived, in one or more pieces (in order) that make one read; they are the
    /// backend's memory, valid during the call only.
    virtual void received(std::span<const std::string_view> pieces) = 0;
    /// The receive ended: 0 at EOF, -errno for an error, `receive_stopped` when it ended
    /// otherwise (cancel_receive, or the kernel ended it: the receiver may start another).
    virtual void receive_ended(int result) = 0;

   protected:
    ~Receiver() = default;
  };
  static constexpr int receive_stopped = 1;
  struct Receive;  // a receive in flight (the backend's)
  /// Starts receiving fd's bytes as they arrive (a multishot receive); null when this backend
  /// does not (the readiness ones): read on readiness then.
  virtual Receive* start_receive(int /*fd*/, Receiver& /*receiver*/) { return nullptr; }
  /// Asks the receive to end: bytes already on their way still arrive, then receive_ended.
  virtual void cancel_receive(Receive* /*receive*/) noexcept {}
  /// The receiver goes away: it hears nothing more of the receive, which is cancelled.
  virtual void abandon_receive(Receive* /*receive*/) noexcept {}

  // --- Accepting connections as they come (completion backends) -------------------------------

  /// The client of an accept: a server's listening socket on a completion backend.
  struct Acceptor {
    /// A connection came: `fd` (non-blocking, close-on-exec) is the acceptor's now.
    virtual void accepted(int fd) = 0;
    /// The accept ended: -errno for an error, `receive_stopped` when it ended otherwise.
    virtual void accept_ended(int result) = 0;

   protected:
    ~Acceptor() = default;
  };
  struct Accept;  // an accept in flight (the backend's)
  /// Starts accepting fd's connections as they come (a multishot accept); null when this
  /// backend does not: accept on readiness then.
  virtual Accept* start_accept(int /*fd*/, Acceptor& /*acceptor*/) { return nullptr; }
  /// The acceptor goes away: it hears nothing more of the accept, which is cancelled.
  virtual void abandon_accept(Accept* /*accept*/) noexcept {}

  /// The selector a readiness backend waits on; null for a completion backend.
  virtual selectors::Selector* selector() noexcept = 0;
  /// "epoll", "poll", "select" (or "selector" for one the program gave), "io_uring".
  virtual const char* name() const noexcept = 0;
  /// The io_uring backend, for the transports that submit to it directly; null for the others.
  virtual UringBackend* uring() noexcept { return nullptr; }
};

}  // namespace asyncio::detail
