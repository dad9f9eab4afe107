// UringBackend: the completion kind of I/O backend, on Linux's io_uring (liburing). Operations
// are submissions to a ring shared with the kernel and results come back as completions; all
// the submissions an iteration made go to the kernel in the one io_uring_enter that also waits
// for completions (io_uring_submit_and_wait_timeout), so no operation costs a system call of
// its own on the hot path.
//
// Implementation notes.
// - Every submission carries a Request (user_data): an object that stays alive until the
//   kernel's last completion for it, whoever asked for it went away meanwhile. The one who
//   asked holds a pointer and "orphans" the request when it leaves (a frame destroyed, a
//   transport closed); an orphaned request deletes itself when its last completion arrives.
//   So no completion ever points at freed memory.
// - Readiness (add_reader, wait_readable, transports' watches) is a one-shot IORING_OP_POLL_ADD
//   per watched fd direction, armed anew after each event while a watcher is there: the
//   level-triggered behaviour of a selector. A watcher replaced or taken out cancels its poll,
//   and a new watcher gets a new poll: a poll is bound to the file it was armed on, and the fd
//   number may since name another file (the readiness backend's "forgotten fd" problem does
//   not arise: nothing is reused).
// - close_fd cancels every request on the fd (IORING_ASYNC_CANCEL_FD) and submits the
//   cancellation before closing it, since a request holds its file open.
// - Memory the kernel writes into that belongs to someone else (a sock_recv_into buffer)
//   must not be given back before the kernel is done: a cancelled task waits for its
//   request's completion, and a frame destroyed with its request in flight cancels it
//   synchronously (IORING_REGISTER_SYNC_CANCEL), as does closing the backend for all.
// - Received stream data lands in buffers the kernel picks from a provided-buffer ring
//   (multishot receive): a connection ties up no memory while it waits.
#pragma once

#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <thread>
#include <vector>

#include "asyncio/detail/io_backend.hpp"
#include "asyncio/event_loop.hpp"

namespace asyncio::detail {

class Scheduler;

class UringBackend final : public IoBackend {
 public:
  /// One submitted operation. `complete` is called with each of its completions (the result,
  /// and the CQE flags: IORING_CQE_F_MORE when more will follow for a multishot request).
  struct Request {
    using Fn = void (*)(Request*, int result, unsigned flags);
    explicit Request(Fn fn) noexcept : complete(fn) {}
    Fn complete;
  };

  /// Null when the kernel or the container refuses io_uring (`error` says why: an errno value,
  /// or 0 when the kernel lacks a feature used here).
  static std::unique_ptr<UringBackend> create(Scheduler& scheduler, const IoUringOptions& options,
                                              int& error);
  ~UringBackend() override;

  // --- IoBackend ------------------------------------------------------------------------------
  void add_watcher(int fd, int direction, IoWatcher* watcher, bool replace) override;
  IoWatcher* detach_watcher(int fd, int direction) noexcept override;
  void close_fd(int fd) noexcept override;
  void poll(std::optional<std::chrono::nanoseconds> timeout) override;
  /// The watched fds and the requests in flight: while there are any, the loop must poll.
  std::size_t registered_fds() const noexcept override { return watched_fds_ + in_flight_; }
  void drop_watchers() noexcept override;
  void close() noexcept override;
  void check_can_run_here() const override;
  selectors::Selector* selector() noexcept override { return nullptr; }
  const char* name() const noexcept override { return "io_uring"; }
  UringBackend* uring() noexcept override { return this; }

  // The operations (src/io/uring_sockets.cpp).
  Coro<std::pair<int, SocketAddress>> accept(int fd) override;
  Coro<void> connect(int fd, SocketAddress address) override;
  Coro<std::size_t> recv_into(int fd, std::span<std::byte> buffer) override;
  Coro<void> send_all(int fd, std::string_view data) override;
  Coro<std::pair<std::string, SocketAddress>> recvfrom(int fd, std::size_t max_bytes) override;
  Coro<std::size_t> sendto(int fd, std::string_view data, SocketAddress address) override;
  Coro<std::pair<std::size_t, SocketAddress>> recvfrom_into(int fd,
                                                            std::span<char> buffer) override;
  Coro<void> sendfile(int fd, int file, std::int64_t offset, std::size_t count,
                      std::size_t& sent) override;

  Receive* start_receive(int fd, Receiver& receiver) override;
  Accept* start_accept(int fd, Acceptor& acceptor) override;
  void abandon_accept(Accept* accept) noexcept override;
  void cancel_receive(Receive* receive) noexcept override;
  void abandon_receive(Receive* receive) noexcept override;

  // --- For the operations ---------------------------------------------------------------------

  /// A submission queue entry for `request`, which the next poll submits. When the queue is
  /// full, what it holds is submitted first (one system call), so this always succeeds.
  io_uring_sqe& prepare(Request* request);
  /// Asks the kernel to cancel `request` (async: its completion says how it ended). Should the
  /// ring fail, the request ends when the ring is closed.
  void cancel(Request* request) noexcept;
  /// Cancels `request` and returns once the kernel no longer touches its memory; its
  /// completion still arrives (and must find the request alive).
  void cancel_now(Request* request) noexcept;
  /// Requests in flight on fd (operations, receives): close_fd must cancel them.
  void count_in_flight(int fd, int change) noexcept;
  bool debug() const noexcept;

 private:
  friend struct IoBackend::Receive;
  /// Whether multishot receives can be used (the buffer ring is made at the first call).
  bool supports_multishot_receive() noexcept;
  /// The bytes of the provided buffer a completion names, `size` long.
  std::string_view received(unsigned flags, int size) const noexcept;
  /// Gives the buffer of a completion back to the ring.
  void recycle(unsigned flags) noexcept;
  /// Gives back the buffer whose bytes `piece` (from received()) is.
  void recycle(std::string_view piece) noexcept;
  void recycle_id(unsigned id) noexcept;

  explicit UringBackend(Scheduler& scheduler) noexcept;
  bool setup_buffer_ring(unsigned count, unsigned size) noexcept;

  /// The poll of one direction of one watched fd.
  struct Poll : Request {
    Poll(UringBackend* backend, int fd, int direction) noexcept
        : Request(&on_complete), backend(backend), fd(fd), direction(direction) {}
    static void on_complete(Request* request, int result, unsigned flags);
    UringBackend* backend;
    int fd;
    int direction;
    bool orphaned = false;  // the watcher moved on: the poll only waits for its completion
  };
  struct FdWatch {
    IoWatcher* watchers[2] = {};
    // Invariant: polls[d] is in flight for watchers[d] (armed when it was added, and again
    // after each event); a poll whose watcher moved on is orphaned, not listed here.
    Poll* polls[2] = {};
    std::uint32_t in_flight = 0;  // other requests on the fd (count_in_flight)
  };
  void arm(int fd, int direction);
  void disarm(FdWatch& watch, int direction) noexcept;
  void drop_watchers(FdWatch& watch) noexcept;
  void reap();
  void flush_submissions() noexcept;

  Scheduler& scheduler_;
  io_uring ring_{};
  bool ring_open_ = false;
  std::vector<FdWatch> fds_;
  std::size_t watched_fds_ = 0;  // fds with at least one watcher
  std::size_t in_flight_ = 0;    // the sum of FdWatch::in_flight
  std::size_t polls_ = 0;        // Poll requests made and not completed, orphaned ones too
  bool closed_ = false;
  // A single-issuer ring (IoUringOptions::single_thread): the thread that made it, the only one
  // the kernel lets submit and wait. None for an ordinary ring.
  std::thread::id owner_;
  // The provided-buffer ring of multishot receives (null when the kernel has none).
  io_uring_buf_ring* buffers_ = nullptr;
  char* buffer_memory_ = nullptr;
  unsigned buffer_count_ = 0, buffer_size_ = 0;  // (from the options until the ring is made)
  bool buffers_refused_ = false;                 // the kernel refused the buffer ring
  static constexpr unsigned short buffer_group = 0;
};

}  // namespace asyncio::detail
