// StreamTransport: the one implementation of Transport (transports.hpp) over an fd: a connected
// stream socket (TCP or Unix), or one end of a pipe. It is CPython's _SelectorSocketTransport,
// _UnixReadPipeTransport and _UnixWritePipeTransport in one. The streams of streams.hpp are a
// protocol (StreamReaderProtocol) over it, as in CPython.
//
// Implementation notes. While reading is on, the transport is the fd's reader for the loop:
// each readiness event makes one read(2), straight into the buffer a BufferedProtocol gives
// (get_buffer / buffer_updated), or into a buffer on the stack that a Protocol's data_received
// sees. On a completion backend (io_uring) a socket is read by a receive instead (the
// backend's multishot receive, IoBackend::Receiver): bytes arrive in the backend's buffers and
// are handed over as they come (copied into a BufferedProtocol's buffer). Pausing cancels the
// receive; bytes already on their way are held, and handed over from the loop on resuming. Writing
// first tries send(2) right away; what the socket does not take is buffered, and the transport
// becomes the fd's writer until the buffer is empty. The protocol's pause_writing is called when
// the buffer passes the high-water mark, resume_writing when it falls back to the low-water mark.
//
// A pipe's end goes one way. The read end is closed when EOF arrives. The write end's bytes go
// out with write(2) with SIGPIPE held back (EPIPE instead), write_eof() closes it once flushed,
// and it is watched for reading only to learn that the reader went away (the connection is
// then lost: cleanly with nothing buffered, with EPIPE otherwise).
//
// Lifetime. An open transport owns itself (self_), so a protocol need not hold it. Once the
// connection is lost (an error, close() with the write buffer flushed, or abort()) the fd is
// closed at once, the watches are gone, and connection_lost is called from the loop (never
// from inside another callback); then the transport lets go of the protocol and of itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "asyncio/coro.hpp"
#include "asyncio/detail/byte_buffer.hpp"
#include "asyncio/detail/connection_transport.hpp"
#include "asyncio/detail/intrusive_list.hpp"
#include "asyncio/detail/io_backend.hpp"
#include "asyncio/detail/io_watcher.hpp"
#include "asyncio/detail/loop_link.hpp"
#include "asyncio/detail/owned_fd.hpp"
#include "asyncio/detail/stream_protocol_slot.hpp"
#include "asyncio/detail/wait_queue.hpp"
#include "asyncio/detail/write_flow.hpp"
#include "asyncio/socket_address.hpp"
#include "asyncio/transports.hpp"

namespace asyncio {
class EventLoop;
}

namespace asyncio::detail {

class ServerCore;

/// Linked, through its ListHook, in the list of live connections of the server that accepted
/// it; and through its LoopLink in its loop's list of open transports.
class StreamTransport final : public ConnectionTransport,
                              public ListHook,
                              private IoBackend::Receiver,
                              public std::enable_shared_from_this<StreamTransport> {
 public:
  static constexpr std::size_t default_high_water = WriteFlow::default_high_water;
  static constexpr std::size_t default_low_water = WriteFlow::default_low_water;
  static constexpr std::size_t max_read = 64 * 1024;  // bytes read per readiness event, at most

  /// What the fd is: a connected stream socket, or the read or the write end of a pipe (or
  /// FIFO, or character device).
  enum class Kind { socket, read_pipe, write_pipe };

  /// Takes `fd`, non-blocking (closed when this throws), calls the protocol's connection_made
  /// and starts reading unless it is a write pipe. `server`, when given, counts the connection
  /// until it is lost. An exception from connection_made goes to the exception handler and
  /// aborts the connection. The transport holds the protocol until connection_lost, but for a
  /// StreamReaderProtocol, which belongs to its reader and writer (they abort the connection
  /// when they go).
  /// A socket's addresses are kept from the start, as Python's: the peer's is `peer` when the
  /// caller has it (a server's accept), else asked of the socket.
  static std::shared_ptr<StreamTransport> open(EventLoop& loop, OwnedFd fd, Kind kind,
                                               std::shared_ptr<StreamProtocol> protocol,
                                               ServerCore* server = nullptr,
                                               const SocketAddress& peer = {});
  /// Aborts the connection if it is still open.
  ~StreamTransport() override;

  EventLoop& loop() const noexcept override { return *loop_; }
  int fd() const noexcept override { return fd_.get(); }
  bool is_pipe() const noexcept override { return kind_ != Kind::socket; }
  Kind kind() const noexcept { return kind_; }

  // --- BaseTransport ---------------------------------------------------------------------------
  std::any get_extra_info(std::string_view name) const override;
  bool is_closing() const noexcept override { return closing_ || lost_; }
  void close() override;
  std::shared_ptr<BaseProtocol> get_protocol() const noexcept override;
  void set_protocol(std::shared_ptr<BaseProtocol> protocol) override;

  // --- ReadTransport ---------------------------------------------------------------------------
  bool is_reading() const noexcept override { return !reading_paused_ && !is_closing(); }
  void pause_reading() override;
  void resume_reading() override;

  // --- WriteTransport --------------------------------------------------------------------------
  void write(std::string_view bytes) override;
  void writelines(std::span<const std::string_view> pieces) override { write_all(pieces); }
  /// writelines for any range of string-likes.
  template <class Range>
  void write_all(const Range& pieces) {
    if (!accepts_write("writelines")) return;
    const bool was_empty = out_.empty();
    for (const auto& piece : pieces) out_.append(std::string_view(piece));
    if (was_empty) flush_now();
    maybe_pause_protocol();
  }
  void write_eof() override;
  bool can_write_eof() const noexcept override { return kind_ != Kind::read_pipe; }
  void abort() override { lose_connection(nullptr); }
  void set_write_buffer_limits(std::optional<std::size_t> high = std::nullopt,
                               std::optional<std::size_t> low = std::nullopt) override;
  std::size_t get_write_buffer_size() const noexcept override { return out_.size(); }
  std::pair<std::size_t, std::size_t> get_write_buffer_limits() const noexcept override {
    return flow_.limits();
  }

  /// A socket's addresses, kept from the start (also once the connection is lost).
  SocketAddress peer_address() const override;
  SocketAddress local_address() const override;

  void orphan(const StreamProtocol* protocol) noexcept override;

  /// loop.sendfile's part: waits until the write buffer is flushed, pauses reading, sends
  /// `file` on the fd (sock_sendfile's way), and resumes reading. write() raises RuntimeError
  /// meanwhile; losing the connection shuts the socket down, which ends the sending.
  static Coro<std::size_t> send_file(std::shared_ptr<StreamTransport> self, int file,
                                     std::int64_t offset, std::optional<std::size_t> count,
                                     bool fallback);

  // --- The loop and the server -----------------------------------------------------------------

  /// The server that accepted this connection is gone: no longer report to it.
  void detach_from_server() noexcept { server_ = nullptr; }

 private:
  /// One direction's watch of the fd: installed with the loop, or not.
  struct Watch : IoWatcher {
    Watch(Fn fn, StreamTransport* owner, int direction) noexcept
        : IoWatcher(fn), owner(owner), direction(direction) {}
    void install();
    void remove() noexcept;
    StreamTransport* owner;
    int direction;
    bool installed = false;
  };
  StreamTransport(EventLoop& loop, OwnedFd fd, Kind kind, ServerCore* server) noexcept;
  void start();
  static void on_read_event(IoWatcher* watcher, IoWatcher::Event event);
  static void on_write_event(IoWatcher* watcher, IoWatcher::Event event);
  /// The loop is closing: the connection is aborted and connection_lost called now.
  static void close_for_loop(void* owner) noexcept;

  void start_reading();
  void stop_reading() noexcept;
  // IoBackend::Receiver: a completion backend's receive.
  void received(std::span<const std::string_view> pieces) override;
  void receive_ended(int result) override;
  /// Hands the bytes of one read, `pieces` in order, to the protocol (all of them, as Python's
  /// transports do even when the protocol pauses reading meanwhile): a Protocol gets them in one
  /// data_received, a BufferedProtocol as few get_buffer/buffer_updated rounds as its buffer
  /// allows.
  void hand_over(std::span<const std::string_view> pieces);
  void hand_over(std::string_view data) { hand_over({&data, 1}); }
  /// What arrived while reading was paused, handed over from the loop after resume_reading.
  void hand_over_held();
  /// The stream ended (0: EOF, else -errno).
  void stream_ended(int result);
  void start_writing();
  void stop_writing() noexcept { write_watch_.remove(); }
  void read_ready();
  void read_into_protocol_buffer();
  void read_and_hand_over();
  /// EOF arrived (read returned 0).
  void eof_received();
  void write_ready();
  /// Sends as much of the write buffer as the socket takes, and resumes a paused protocol when
  /// it fell to the low-water mark; returns false when the connection was lost doing so.
  bool flush_now();
  /// One send(2) of `bytes` (write(2) for a pipe), never raising SIGPIPE; -1 and errno as the
  /// call's.
  ssize_t send_some(std::string_view bytes) noexcept;
  /// Whether bytes `call` (write, writelines) is given are to be sent: RuntimeError when the
  /// transport refuses them (after write_eof(), during sendfile, on a read pipe); false when they
  /// are dropped (the connection is lost, or a write pipe is closing).
  bool accepts_write(const char* call) const;
  void maybe_pause_protocol() noexcept;
  void after_flush();
  /// An OS error on the fd: the connection is lost with it (not reported: Python's
  /// _fatal_error logs OSError only in debug mode).
  void fail(int error);
  /// A protocol callback threw: the exception handler hears of it, and the connection is
  /// aborted with it.
  void protocol_failed(const char* message) noexcept;
  void report(const char* message, std::exception_ptr error) noexcept;
  /// report() as WriteFlow takes it.
  auto reporter() noexcept {
    return [this](const char* message, std::exception_ptr error) { report(message, error); };
  }
  /// Closes the fd and drops the buffer now; tells the protocol from the loop (or at once
  /// when `now`).
  void lose_connection(std::exception_ptr error, bool now = false) noexcept;
  void call_connection_lost(std::exception_ptr error) noexcept;

  EventLoop* loop_;
  OwnedFd fd_;  // -1 once lost (closed)
  Kind kind_;
  StreamProtocolSlot protocol_;            // cleared once connection_lost was called
  std::shared_ptr<StreamTransport> self_;  // set while the connection is open
  LoopLink loop_link_;
  ByteBuffer out_;
  Watch read_watch_;
  // A completion backend's receive (null: reading on readiness, or none in flight). While
  // reading is paused, what still arrives is held (held_), and an end is kept in held_end_.
  IoBackend::Receive* receive_ = nullptr;
  bool receives_ = false;           // a socket, on a backend that may receive for it
  bool receive_cancelled_ = false;  // receive_ was asked to end
  ByteBuffer held_;
  std::optional<int> held_end_;
  Watch write_watch_;
  ServerCore* server_;
  WaitQueue flushed_waiters_{"sendfile"};  // send_file waiting for the write buffer to empty
  mutable SocketAddress peer_address_;
  mutable SocketAddress local_address_;
  WriteFlow flow_;
  // Invariants: read_watch_ is installed only while reading (not paused, no EOF, not closing)
  // or for a write pipe; write_watch_.installed iff !out_.empty() and !lost_; lost_ implies
  // no watch installed, not in the loop's list, and fd_ == -1 but while sending_file_ (the
  // socket is shut down then, and send_file closes it when it ends).
  bool reading_paused_ = false;  // pause_reading() was called, not yet resume_reading()
  bool eof_ = false;             // EOF was received
  bool eof_requested_ = false;   // write_eof() was called
  bool closing_ = false;         // close() was called, or write_eof() on a write pipe
  bool lost_ = false;
  bool sending_file_ = false;  // inside send_file
};

}  // namespace asyncio::detail
