// StreamTransport: one connected stream socket (TCP or Unix), or one end of a pipe, and its
// read and write buffers, shared by a StreamReader and its StreamWriter. It is CPython's
// _SelectorSocketTransport (or _UnixReadPipeTransport / _UnixWritePipeTransport) and
// StreamReaderProtocol in one object. Without a socket it is the buffer of a StreamReader fed by
// hand (Python's StreamReader(limit) made on its own): feed_data(), feed_eof() and
// set_exception() drive it, reading never starts and nothing can be written.
//
// Implementation notes. While reading is on, the transport is the fd's reader for the loop: each
// readiness event reads once into the read buffer and wakes the task waiting for data, so a
// reader that finds bytes buffered never makes a system call, and one that must wait costs the
// loop no epoll_ctl (the watch stays installed). Reading pauses (the watch is removed) while the
// buffer holds more than twice the limit, and resumes once a read brings it back to the limit,
// or when a reader must wait for more. Writing first tries send(2) right away; what the socket
// does not take is buffered, and the transport becomes the fd's writer until the buffer is
// empty. drain() waits while the buffer is above the high-water mark, until it falls to the
// low-water mark.
//
// A pipe's end goes one way. The read end is closed when EOF arrives. The write end's bytes go
// out with write(2) with SIGPIPE held back (EPIPE instead), write_eof() closes it once flushed,
// and it is watched for reading only to learn that the reader went away (the connection is
// then lost: cleanly with nothing buffered, with EPIPE otherwise).
//
// Once the connection is lost (an error, or close() with the write buffer flushed, or abort())
// the fd is closed at once, the watches are gone, and every waiter is woken: readers see EOF
// (or the error), drain() and wait_closed() raise the error, if any.
#pragma once

#include <cstddef>
#include <exception>
#include <memory>
#include <string_view>
#include <utility>

#include "asyncio/detail/byte_buffer.hpp"
#include "asyncio/detail/intrusive_list.hpp"
#include "asyncio/detail/io_watcher.hpp"
#include "asyncio/detail/owned_fd.hpp"
#include "asyncio/detail/wait_queue.hpp"
#include "asyncio/socket_address.hpp"

namespace asyncio {
class EventLoop;
}

namespace asyncio::detail {

class ServerCore;

/// Linked, through its ListHook, in the list of live connections of the server that accepted it.
class StreamTransport : public ListHook {
 public:
  static constexpr std::size_t default_high_water = 64 * 1024;
  static constexpr std::size_t default_low_water = 16 * 1024;
  static constexpr std::size_t max_read = 64 * 1024;  // bytes read per readiness event, at most

  /// What the fd is: a connected stream socket, or the read or the write end of a pipe (or
  /// FIFO, or character device).
  enum class Kind { socket, read_pipe, write_pipe };

  /// Takes `fd`, non-blocking, and starts reading unless it is a write pipe. fd is closed when
  /// this throws (std::invalid_argument for a limit of 0).
  StreamTransport(EventLoop& loop, OwnedFd fd, std::size_t limit, Kind kind = Kind::socket);
  /// A reader's buffer fed by hand, with no socket; on the running loop, if one runs.
  explicit StreamTransport(std::size_t limit);
  /// Aborts the connection if it is still open.
  ~StreamTransport();
  StreamTransport(const StreamTransport&) = delete;
  StreamTransport& operator=(const StreamTransport&) = delete;

  /// The loop of a connection (a transport fed by hand made with no loop running has none).
  EventLoop& loop() const noexcept { return *loop_; }
  int fd() const noexcept { return fd_.get(); }
  std::size_t limit() const noexcept { return limit_; }

  // --- Reading ---------------------------------------------------------------------------------

  ByteBuffer& read_buffer() noexcept { return in_; }
  /// EOF was received or fed, or the connection is lost: no byte will be added to the read
  /// buffer.
  bool eof() const noexcept { return eof_; }
  /// Throws the reader's error (set_exception's, or the one the connection was lost with), if
  /// any.
  void throw_if_failed() const {
    if (error_) std::rethrow_exception(error_);
  }
  std::exception_ptr error() const noexcept { return error_; }
  /// Python's StreamReader.feed_data: appends `bytes` to the read buffer and wakes the waiting
  /// reader (nothing for empty bytes). RuntimeError once EOF was received or fed.
  void feed_data(std::string_view bytes);
  /// Python's StreamReader.feed_eof: no byte will be added any more; wakes the waiting reader
  /// and stops reading from the socket.
  void feed_eof() noexcept;
  /// Python's StreamReader.set_exception: wakes the waiting reader; it and every later read
  /// raise `error`.
  void set_exception(std::exception_ptr error) noexcept;
  /// Called after bytes were taken from the read buffer: resumes reading below the limit.
  void consumed();
  /// Suspends the caller until bytes arrive, EOF, or the connection is lost. RuntimeError when
  /// another task already waits (`what` names the caller, as in Python's message).
  WakeAwaiter wait_for_data(const char* what);

  // --- Writing ---------------------------------------------------------------------------------

  /// Sends or buffers `bytes`. Ignored once the connection is lost; RuntimeError after
  /// write_eof().
  void write(std::string_view bytes);
  /// write() for each piece, with one send(2) for them all when nothing is buffered.
  template <class Range>
  void write_all(const Range& pieces) {
    check_writable();
    if (lost_) return;
    const bool was_empty = out_.empty();
    for (const auto& piece : pieces) out_.append(std::string_view(piece));
    if (was_empty) flush_now();
    check_high_water();
  }
  /// Shuts down the sending side once the write buffer is flushed.
  void write_eof();
  /// Closes the connection once the write buffer is flushed; stops reading now.
  void close();
  /// Closes the connection now, dropping the write buffer.
  void abort() { lose_connection(nullptr); }
  bool is_closing() const noexcept { return closing_ || lost_; }
  bool is_lost() const noexcept { return lost_; }
  std::size_t write_buffer_size() const noexcept { return out_.size(); }
  void set_write_buffer_limits(std::size_t high, std::size_t low);
  std::size_t high_water() const noexcept { return high_water_; }
  std::size_t low_water() const noexcept { return low_water_; }
  /// drain(): WakeAwaiter that is ready unless writing is paused; raise_if_lost() after it.
  WakeAwaiter wait_for_drain();
  /// Raises what drain() raises on a lost connection: its error, or "Connection lost"
  /// (ECONNRESET; EPIPE for a write pipe).
  void raise_if_lost() const;
  /// wait_closed(): ready once the connection is lost.
  WakeAwaiter wait_for_close() noexcept { return WakeAwaiter(closed_waiters_, lost_); }

  /// The peer's and the socket's own address, asked of the OS on first use and kept (empty
  /// when the connection was lost before).
  const SocketAddress& peer_address();
  const SocketAddress& local_address();
  /// The peer's address, when the caller knows it already (accept, connect).
  void set_peer_address(const SocketAddress& address) { peer_address_ = address; }

  // --- Servers ---------------------------------------------------------------------------------

  /// Links this connection to the server that accepted it (see ServerCore).
  void attach_to(ServerCore* server) noexcept { server_ = server; }
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
  /// What both public constructors share: the members, and the limit's check.
  StreamTransport(EventLoop* loop, OwnedFd fd, std::size_t limit, Kind kind);
  static void on_read_event(IoWatcher* watcher, IoWatcher::Event event);
  static void on_write_event(IoWatcher* watcher, IoWatcher::Event event);

  void start_reading();
  void stop_reading() noexcept;
  void start_writing();
  void stop_writing() noexcept;
  void read_ready();
  void data_received() noexcept;
  void write_ready();
  /// Sends as much of the write buffer as the socket takes; returns false when the connection
  /// was lost doing so.
  bool flush_now();
  /// One send(2) of `bytes` (write(2) for a pipe), never raising SIGPIPE; -1 and errno as the
  /// call's.
  ssize_t send_some(std::string_view bytes) noexcept;
  void check_writable() const;
  void check_high_water() noexcept;
  void after_flush();
  void fail(int error);
  void lose_connection(std::exception_ptr error) noexcept;

  EventLoop* loop_;  // null only for a transport fed by hand made with no loop running
  OwnedFd fd_;       // -1 once lost (closed), or from the start for a transport fed by hand
  std::size_t limit_;
  Kind kind_;
  ByteBuffer in_;
  ByteBuffer out_;
  Watch read_watch_;
  Watch write_watch_;
  WaitQueue read_waiters_{"StreamReader"};
  WaitQueue drain_waiters_{"StreamWriter"};
  WaitQueue closed_waiters_{"StreamWriter"};
  std::exception_ptr error_;  // set_exception's, or what the connection was lost with; else null
  ServerCore* server_ = nullptr;
  SocketAddress peer_address_;
  SocketAddress local_address_;
  std::size_t high_water_ = default_high_water;
  std::size_t low_water_ = default_low_water;
  // Invariants: reading_paused_ implies !read_watch_.installed; write_watch_.installed iff
  // !out_.empty() and !lost_; lost_ implies eof_, fd_ == -1 and no watch installed. A
  // transport fed by hand has fd_ == -1 and !lost_ until destroyed: it never installs a watch,
  // never pauses reading and never has bytes to write.
  bool eof_ = false;             // EOF received or fed, or connection lost
  bool reading_paused_ = false;  // the read buffer passed 2 * limit_
  bool writing_paused_ = false;  // the write buffer passed high_water_, not yet back to low_water_
  bool eof_requested_ = false;   // write_eof() was called
  bool closing_ = false;         // close() was called
  bool lost_ = false;
};

}  // namespace asyncio::detail
