// Python's high-level streams: StreamReader and StreamWriter over a connected socket or a pipe,
// open_connection / open_unix_connection, and connect_read_pipe / connect_write_pipe. Servers
// are in server.hpp.
#pragma once

#include <any>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "asyncio/connection_options.hpp"
#include "asyncio/coro.hpp"
#include "asyncio/detail/connection_transport.hpp"
#include "asyncio/detail/loop_bound.hpp"
#include "asyncio/socket_address.hpp"
#include "asyncio/stream_reader_protocol.hpp"

namespace asyncio {

/// The default buffer limit of a StreamReader (CPython's _DEFAULT_LIMIT): the longest line
/// readline() accepts, and half the size at which reading from the socket pauses.
inline constexpr std::size_t DEFAULT_LIMIT = 64 * 1024;

/// The reading half of a connection, or a reader fed by hand. A cheap handle: copies read from
/// the same buffer. Only one task may wait for data at a time (RuntimeError otherwise, as in
/// Python). Each coroutine holds the buffer (and the connection), so it may outlive the handle
/// it was called on.
class StreamReader : detail::LoopBound {
 public:
  /// A reader with no connection, fed with feed_data() and feed_eof() (Python's
  /// StreamReader(limit=...)). std::invalid_argument when `limit` is 0.
  explicit StreamReader(std::size_t limit = DEFAULT_LIMIT);
  /// A handle on a connection's (or another reader's) protocol.
  explicit StreamReader(std::shared_ptr<StreamReaderProtocol> protocol) noexcept
      : protocol_(std::move(protocol)) {}

  /// Appends `data` to the buffer and wakes the task waiting for data; empty data does nothing.
  /// RuntimeError("feed_data after feed_eof") once EOF was fed or received.
  void feed_data(std::string_view data) { protocol_->feed_data(data); }
  /// Marks EOF and wakes the task waiting for data. On a connection, reading stops.
  void feed_eof() noexcept { protocol_->feed_eof(); }
  /// Fails the reader: the task waiting for data and every later read raise `error`.
  void set_exception(std::exception_ptr error) noexcept {
    protocol_->set_exception(std::move(error));
  }

  /// Up to n bytes, waiting only when none are buffered; "" at EOF, and at once for n == 0.
  /// n < 0 reads until EOF.
  Coro<std::string> read(std::ptrdiff_t n = -1);
  /// One line, '\n' included; at EOF the partial last line, then "". LimitOverrunError when
  /// the line is longer than the limit (the buffered bytes are dropped, as Python does).
  Coro<std::string> readline();
  /// Python's `async for line in reader`: the next line as readline() gives it, or nullopt at
  /// EOF (StopAsyncIteration):  while (auto line = co_await reader.anext()) { ... }
  Coro<std::optional<std::string>> anext();
  /// Bytes up to and including `separator`. IncompleteReadError (with what was read) at EOF;
  /// LimitOverrunError when no separator is found within the limit (the data stays buffered).
  Coro<std::string> readuntil(std::string separator = "\n");
  /// Python 3.13's readuntil with several separators: the shortest chunk that ends with any of
  /// them. std::invalid_argument for no separator or an empty one.
  Coro<std::string> readuntil(std::vector<std::string> separators);
  /// Exactly n bytes; IncompleteReadError (with what was read) when EOF comes first.
  /// std::invalid_argument (Python's ValueError) when n < 0.
  Coro<std::string> readexactly(std::ptrdiff_t n);

  /// True when the buffer is empty and EOF was received or fed.
  bool at_eof() const noexcept { return protocol_->eof() && protocol_->read_buffer().empty(); }
  /// set_exception()'s error, or the one the connection was lost with; else null.
  std::exception_ptr exception() const noexcept { return protocol_->error(); }
  std::size_t limit() const noexcept { return protocol_->limit(); }
  /// How many bytes are buffered, not read yet (an extension: Python keeps this private). At
  /// most twice the limit plus 64 KiB (one read), unless readexactly() asked for more.
  std::size_t buffered() const noexcept { return protocol_->read_buffer().size(); }

  /// The protocol this reader reads from (Python's _protocol).
  const std::shared_ptr<StreamReaderProtocol>& protocol() const noexcept { return protocol_; }

 private:
  std::shared_ptr<StreamReaderProtocol> protocol_;
};

/// The writing half of a connection. A cheap handle: copies write to the same connection.
class StreamWriter : detail::LoopBound {
 public:
  /// A handle on a connection's protocol, which must have its transport.
  explicit StreamWriter(std::shared_ptr<StreamReaderProtocol> protocol) noexcept
      : protocol_(std::move(protocol)) {}

  /// Sends what the socket takes now and buffers the rest; never blocks. Follow with
  /// `co_await drain()` to keep the buffer bounded. Ignored once the connection is lost
  /// (drain() then raises); RuntimeError after write_eof().
  void write(std::string_view data) { transport().write(data); }
  /// write() for each piece of a range of string-likes, as one send when nothing is buffered.
  template <class Range>
  void writelines(const Range& pieces) {
    std::vector<std::string_view> views;
    for (const auto& piece : pieces) views.emplace_back(piece);
    transport().writelines(views);
  }
  void writelines(std::initializer_list<std::string_view> pieces) {
    transport().writelines(std::span<const std::string_view>(pieces.begin(), pieces.size()));
  }
  /// Waits while the write buffer is above the high-water mark, until it falls to the low-water
  /// mark. Raises the connection's error, or std::system_error(ECONNRESET) "Connection lost",
  /// once the connection is lost.
  Coro<void> drain();

  /// False over TLS, which has no half-close.
  bool can_write_eof() const noexcept { return transport().can_write_eof(); }
  /// Shuts down the sending side (after the buffered bytes); the reading side stays open.
  /// NotImplementedError over TLS.
  void write_eof() { transport().write_eof(); }
  /// Closes the connection once the buffered bytes are sent; stops reading now.
  void close() { transport().close(); }
  /// Closes the connection now, dropping the buffered bytes (Python's transport.abort()).
  void abort() { transport().abort(); }
  bool is_closing() const noexcept { return transport().is_closing(); }
  /// Waits until the connection is closed; raises the error it was lost with, if any.
  Coro<void> wait_closed();

  /// Python's get_extra_info: "peername" and "sockname" give a SocketAddress, "socket" the fd
  /// (an int, -1 once closed); over TLS also "ssl_object", "peercert", "cipher",
  /// "compression", "sslcontext" and "alpn_protocol" (docs/tls.md); anything else an empty
  /// std::any.
  std::any get_extra_info(std::string_view name) const { return transport().get_extra_info(name); }
  /// The peer's and our own address (empty if the connection was lost before first asked).
  SocketAddress peername() const;
  SocketAddress sockname() const;
  /// The socket's fd, -1 once the connection is lost.
  int socket() const noexcept { return transport().fd(); }

  /// Python's transport.get_write_buffer_size() and set_write_buffer_limits(high, low):
  /// flow-control marks, 64 KiB and 16 KiB by default.
  std::size_t get_write_buffer_size() const noexcept { return transport().get_write_buffer_size(); }
  void set_write_buffer_limits(std::optional<std::size_t> high = std::nullopt,
                               std::optional<std::size_t> low = std::nullopt) {
    transport().set_write_buffer_limits(high, low);
  }

  /// Python's StreamWriter.start_tls: upgrades the connection to TLS (STARTTLS) with
  /// `context`, as a client, or as the server when the connection came from start_server.
  /// Waits as drain() does, then for the handshake; reading and writing go
  /// on over TLS afterwards, through this writer and its reader. The handshake's error
  /// (ssl::SSLError, ...) is raised, and the connection is then closed.
  Coro<void> start_tls(std::shared_ptr<ssl::SSLContext> context, StartTLSOptions options = {});

  /// Python's writer.transport: the connection's transport, for what the streams do not
  /// offer (pause_reading, get_write_buffer_limits, ...).
  Transport& get_transport() const noexcept { return transport(); }
  const std::shared_ptr<StreamReaderProtocol>& protocol() const noexcept { return protocol_; }

 private:
  detail::ConnectionTransport& transport() const noexcept { return *protocol_->transport(); }

  std::shared_ptr<StreamReaderProtocol> protocol_;
};

/// A connection's reader and writer (use with structured bindings).
using StreamPair = std::pair<StreamReader, StreamWriter>;

/// Wraps a connected, non-blocking stream socket (TCP or Unix), taking ownership of `fd`.
StreamPair open_stream(int fd, std::size_t limit = DEFAULT_LIMIT);

/// Connects to host:port: the name is resolved off the loop's thread (getaddrinfo.hpp), and
/// each address is tried in turn, IPv4 and IPv6. TCP_NODELAY is set. Throws the connect
/// error (std::system_error), or one naming every address's error when several failed.
Coro<StreamPair> open_connection(std::string host, std::uint16_t port,
                                 std::size_t limit = DEFAULT_LIMIT);
/// The same with create_connection's options (Python's keyword arguments): TLS with
/// `options.ssl`, returned once the handshake is done (its error raised otherwise).
Coro<StreamPair> open_connection(std::string host, std::uint16_t port, ConnectionOptions options,
                                 std::size_t limit = DEFAULT_LIMIT);
/// Connects to the Unix-domain socket at `path`.
Coro<StreamPair> open_unix_connection(std::string path, std::size_t limit = DEFAULT_LIMIT);
/// The same with TLS (options.ssl, server_hostname, the ssl timeouts; the others are unused).
Coro<StreamPair> open_unix_connection(std::string path, ConnectionOptions options,
                                      std::size_t limit = DEFAULT_LIMIT);

/// The stream form of Python's loop.connect_read_pipe: a reader of the pipe, FIFO or character
/// device `fd`, which it takes over (made non-blocking; closed at EOF or when the reader goes).
/// std::invalid_argument for any other kind of file ("Pipe transport is for
/// pipes/sockets/character devices only"); `fd` is then left open.
Coro<StreamReader> connect_read_pipe(int fd, std::size_t limit = DEFAULT_LIMIT);
/// The stream form of loop.connect_write_pipe: a writer to the pipe, FIFO or character device
/// `fd`, taken over as above. drain() raises std::system_error(EPIPE) once the reader has gone
/// (never SIGPIPE); write_eof() and close() close the fd once the buffered bytes are written.
Coro<StreamWriter> connect_write_pipe(int fd);

}  // namespace asyncio
