// Python's transports (asyncio.transports): what a protocol writes to and controls its
// connection through. connections.hpp makes them (create_connection, create_server, ...); the
// streams of streams.hpp are one protocol over these same transports.
//
// A transport stays alive while its connection is open, whoever holds it; once the connection
// is lost it lives as long as a shared_ptr to it does (connection_made hands one over). Closing
// the loop aborts the transports still open, and their protocols see connection_lost then.
#pragma once

#include <any>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "asyncio/protocols.hpp"
#include "asyncio/socket_address.hpp"

namespace asyncio {

/// What every transport has (Python's BaseTransport).
class BaseTransport {
 public:
  virtual ~BaseTransport() = default;

  /// Python's get_extra_info: "peername" and "sockname" give a SocketAddress, "socket" (and
  /// "pipe" for a pipe) the fd as an int (-1 once closed); anything else an empty std::any.
  virtual std::any get_extra_info(std::string_view name) const = 0;
  /// True once close() or abort() was called, or the connection is lost.
  virtual bool is_closing() const noexcept = 0;
  /// Closes after the buffered bytes are sent; reading stops now. connection_lost(nullptr)
  /// follows, from the loop.
  virtual void close() = 0;
  /// The protocol the transport calls (Python's get_protocol / set_protocol). set_protocol's
  /// protocol must be of the same kind (a StreamProtocol for a stream transport:
  /// std::invalid_argument otherwise).
  virtual std::shared_ptr<BaseProtocol> get_protocol() const noexcept = 0;
  virtual void set_protocol(std::shared_ptr<BaseProtocol> protocol) = 0;
};

/// The reading side (Python's ReadTransport).
class ReadTransport : public virtual BaseTransport {
 public:
  /// True unless reading is paused or the transport is closing.
  virtual bool is_reading() const noexcept = 0;
  /// Stops data_received until resume_reading; no-op when already paused or closing.
  virtual void pause_reading() = 0;
  virtual void resume_reading() = 0;
};

/// The writing side (Python's WriteTransport). Writes never block: what the fd does not take
/// now is buffered, and the protocol's pause_writing / resume_writing report the buffer
/// passing the high-water mark and falling back to the low-water mark.
class WriteTransport : public virtual BaseTransport {
 public:
  /// Sends what the fd takes now and buffers the rest. Ignored once the connection is lost;
  /// RuntimeError after write_eof(), while loop.sendfile() sends, and on a read pipe.
  virtual void write(std::string_view data) = 0;
  /// write() for each piece, as one system call when nothing is buffered.
  virtual void writelines(std::span<const std::string_view> pieces) = 0;
  void writelines(std::initializer_list<std::string_view> pieces) {
    writelines(std::span<const std::string_view>(pieces.begin(), pieces.size()));
  }
  /// Shuts down the sending side once the buffered bytes are sent (closes a pipe's write end).
  virtual void write_eof() = 0;
  virtual bool can_write_eof() const noexcept = 0;
  /// Closes now, dropping the buffered bytes; connection_lost(nullptr) follows, from the loop.
  virtual void abort() = 0;
  /// Python's set_write_buffer_limits(high=None, low=None): with neither, 64 KiB and 16 KiB;
  /// with one, the other is a quarter or four times it. std::invalid_argument unless
  /// high >= low. A buffer above the new high mark pauses the protocol at once; a paused one
  /// resumes only once a send brings the buffer down to the low mark, as in Python.
  virtual void set_write_buffer_limits(std::optional<std::size_t> high = std::nullopt,
                                       std::optional<std::size_t> low = std::nullopt) = 0;
  virtual std::size_t get_write_buffer_size() const noexcept = 0;
  /// (low, high), in Python's order.
  virtual std::pair<std::size_t, std::size_t> get_write_buffer_limits() const noexcept = 0;
};

/// A stream connection, both ways (Python's Transport): TCP, a Unix socket, or a pipe's end
/// (which goes one way: writing to a read pipe is a RuntimeError; a write pipe never
/// reads, and pausing or resuming its reading does nothing).
class Transport : public ReadTransport, public WriteTransport {};

/// A datagram endpoint (Python's DatagramTransport): UDP or a Unix datagram socket. Datagrams
/// the socket does not take at once wait in a queue; the protocol's pause_writing and
/// resume_writing report it passing its high-water mark and falling back to the low one.
class DatagramTransport : public virtual BaseTransport {
 public:
  /// Sends `data` as one datagram to `address`, or to the connected peer when none is given.
  /// std::invalid_argument for an address other than a connected peer's, or none on an
  /// unconnected endpoint; ignored once closed (as Python, which only logs it). A send error
  /// goes to the protocol's error_received.
  virtual void sendto(std::string_view data,
                      std::optional<SocketAddress> address = std::nullopt) = 0;
  /// Closes now, dropping the queued datagrams; connection_lost(nullptr) follows.
  virtual void abort() = 0;
  /// The bytes of the datagrams waiting in the queue.
  virtual std::size_t get_write_buffer_size() const noexcept = 0;
  virtual void set_write_buffer_limits(std::optional<std::size_t> high = std::nullopt,
                                       std::optional<std::size_t> low = std::nullopt) = 0;
  virtual std::pair<std::size_t, std::size_t> get_write_buffer_limits() const noexcept = 0;
};

/// A child process and its pipes (Python's SubprocessTransport), from subprocess_exec or
/// subprocess_shell (connections.hpp).
class SubprocessTransport : public virtual BaseTransport {
 public:
  virtual int get_pid() const noexcept = 0;
  /// The exit status once the child exited (-N: killed by signal N), else nothing.
  virtual std::optional<int> get_returncode() const noexcept = 0;
  /// The transport of pipe `fd` (0: a WriteTransport to the child's stdin; 1, 2: reading its
  /// stdout, stderr), or null when that stream was not a pipe.
  virtual std::shared_ptr<Transport> get_pipe_transport(int fd) const noexcept = 0;
  /// std::system_error(ESRCH) once the child exited.
  virtual void send_signal(int sig) = 0;
  virtual void terminate() = 0;
  virtual void kill() = 0;
};

}  // namespace asyncio
