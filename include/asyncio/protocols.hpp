// Python's protocols (asyncio.protocols): the callbacks a transport calls as a connection makes
// progress. Derive from Protocol (bytes handed over in data_received) or from BufferedProtocol
// (the transport reads straight into memory the protocol provides), or from DatagramProtocol,
// override what matters, and give a factory of them to create_connection, create_server or
// create_datagram_endpoint (connections.hpp).
//
// The order Python guarantees holds: connection_made first; then any number of data_received
// (or get_buffer/buffer_updated pairs); at most one eof_received; connection_lost exactly once,
// last, never from inside another of these callbacks. pause_writing and resume_writing
// alternate, starting with pause_writing.
//
// An exception thrown from data_received, eof_received, get_buffer or buffer_updated goes to
// the loop's exception handler and aborts that connection (connection_lost then receives it);
// one thrown from connection_made does the same. One from pause_writing, resume_writing or
// connection_lost goes to the exception handler only.
#pragma once

#include <cstddef>
#include <exception>
#include <memory>
#include <span>
#include <string_view>

namespace asyncio {

class Transport;
class DatagramTransport;
class SubprocessTransport;
class SocketAddress;

/// What every protocol has: the end of the connection and write flow control.
class BaseProtocol {
 public:
  virtual ~BaseProtocol() = default;

  /// The connection is gone: `exc` is null after a clean close or EOF, else the error (or the
  /// exception a callback threw). Called exactly once, last; the transport lets go of the
  /// protocol after it.
  virtual void connection_lost(std::exception_ptr exc) { (void)exc; }
  /// The transport's write buffer went over its high-water mark: stop writing for a while.
  virtual void pause_writing() {}
  /// The write buffer fell back to the low-water mark: writing may go on.
  virtual void resume_writing() {}

 protected:
  BaseProtocol() = default;
  BaseProtocol(const BaseProtocol&) = default;
  BaseProtocol& operator=(const BaseProtocol&) = default;
};

/// A stream protocol (Python's Protocol and BufferedProtocol share this part): what a stream
/// transport (TCP, Unix socket, pipe) tells it.
class StreamProtocol : public BaseProtocol {
 public:
  /// The connection is made: the transport to write to, kept alive by this pointer for as
  /// long as it is held (hold it as Python code keeps `self.transport`).
  virtual void connection_made(std::shared_ptr<Transport> transport) { (void)transport; }
  /// The peer sent EOF. Return true to keep the connection open for writing (then close it
  /// yourself); false (the default) closes the transport.
  virtual bool eof_received() { return false; }
};

/// Python's Protocol: each read's bytes are handed to data_received, valid only during the
/// call (copy what must outlive it).
class Protocol : public StreamProtocol {
 public:
  virtual void data_received(std::string_view data) { (void)data; }
};

/// Python's BufferedProtocol: the transport asks for a buffer, reads into it and says how many
/// bytes it wrote, so no byte is copied between the socket and the protocol's memory.
class BufferedProtocol : public StreamProtocol {
 public:
  /// A buffer to read into, valid until buffer_updated; `sizehint` is how much the transport
  /// would like (the span may be smaller or larger, but not empty: that is a RuntimeError that
  /// aborts the connection).
  virtual std::span<char> get_buffer(std::size_t sizehint) = 0;
  /// The transport wrote `nbytes` at the start of the last buffer get_buffer returned.
  virtual void buffer_updated(std::size_t nbytes) = 0;
};

/// Python's DatagramProtocol: what a datagram transport (UDP, Unix datagram socket) tells it.
class DatagramProtocol : public BaseProtocol {
 public:
  /// The endpoint is ready: the transport to send with, kept alive by this pointer.
  virtual void connection_made(std::shared_ptr<DatagramTransport> transport) { (void)transport; }
  /// One datagram and its sender; `data` is valid only during the call.
  virtual void datagram_received(std::string_view data, const SocketAddress& addr) {
    (void)data;
    (void)addr;
  }
  /// A send or receive failed with an OS error (std::system_error: ECONNREFUSED from a
  /// connected peer, say); the transport stays open.
  virtual void error_received(std::exception_ptr exc) { (void)exc; }
};

/// Python's SubprocessProtocol: what loop.subprocess_exec / subprocess_shell's transport tells
/// it about a child process and its pipes (fd 0, 1, 2). connection_made comes first; then any
/// pipe_data_received, each pipe's pipe_connection_lost once, and process_exited once, in the
/// order they happen; connection_lost last, once the child exited and every pipe is closed.
class SubprocessProtocol : public BaseProtocol {
 public:
  virtual void connection_made(std::shared_ptr<SubprocessTransport> transport) { (void)transport; }
  /// Bytes the child wrote to its stdout (fd 1) or stderr (2); valid only during the call.
  virtual void pipe_data_received(int fd, std::string_view data) {
    (void)fd;
    (void)data;
  }
  /// One of the child's pipes closed (EOF, or an error in `exc`).
  virtual void pipe_connection_lost(int fd, std::exception_ptr exc) {
    (void)fd;
    (void)exc;
  }
  /// The child exited; the transport's get_returncode() says how.
  virtual void process_exited() {}
};

}  // namespace asyncio
