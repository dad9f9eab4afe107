// StreamReaderProtocol: what puts Python's streams on top of the transports. One per
// connection (or per StreamReader fed by hand), shared by its StreamReader and StreamWriter
// handles: it holds the read buffer and the tasks waiting for data, for the write buffer to
// drain and for the connection to close. It is a BufferedProtocol whose buffer is the read
// buffer itself, so bytes go from the socket into the buffer with no copy between.
//
// CPython splits this into StreamReader (the buffer), StreamReaderProtocol and
// FlowControlMixin; here they are one object, and StreamReader / StreamWriter are handles on
// it. When the last handle goes, the connection is closed once its buffered bytes are sent
// (as Python's StreamWriter.__del__ closes it).
#pragma once

#include <cstddef>
#include <exception>
#include <memory>
#include <span>
#include <string_view>

#include "asyncio/detail/byte_buffer.hpp"
#include "asyncio/detail/wait_queue.hpp"
#include "asyncio/protocols.hpp"

namespace asyncio {

class EventLoop;
class StreamReader;
class StreamWriter;

namespace detail {
class ConnectionTransport;
}

class StreamReaderProtocol final : public BufferedProtocol,
                                   public std::enable_shared_from_this<StreamReaderProtocol> {
 public:
  /// The task a server starts for each connection (ClientConnected, type-erased).
  using ClientTask = void (*)(const std::shared_ptr<const void>& handler,
                              const std::shared_ptr<StreamReaderProtocol>& protocol);

  /// A protocol for a connection, or a reader fed by hand when no transport ever comes.
  /// std::invalid_argument when `limit` is 0.
  explicit StreamReaderProtocol(std::size_t limit);
  /// A server's: connection_made starts client_task(handler, this).
  StreamReaderProtocol(std::size_t limit, ClientTask client_task,
                       std::shared_ptr<const void> handler);
  /// Closes the connection, if still open, once its buffered bytes are sent.
  ~StreamReaderProtocol() override;
  StreamReaderProtocol(const StreamReaderProtocol&) = delete;
  StreamReaderProtocol& operator=(const StreamReaderProtocol&) = delete;

  // --- The transport's side (BufferedProtocol) -------------------------------------------------
  void connection_made(std::shared_ptr<Transport> transport) override;
  std::span<char> get_buffer(std::size_t sizehint) override;
  void buffer_updated(std::size_t nbytes) override;
  /// Keeps the connection open for writing (Python's StreamReaderProtocol returns True).
  bool eof_received() override;
  void connection_lost(std::exception_ptr exc) override;
  void pause_writing() override { writing_paused_ = true; }
  void resume_writing() override;

  // --- The reader's side -----------------------------------------------------------------------
  std::size_t limit() const noexcept { return limit_; }
  detail::ByteBuffer& read_buffer() noexcept { return in_; }
  /// EOF was received or fed, or the connection is lost: no byte will be added to the buffer.
  bool eof() const noexcept { return eof_; }
  std::exception_ptr error() const noexcept { return error_; }
  /// Throws set_exception's error, or the one the connection was lost with, if any.
  void throw_if_failed() const {
    if (error_) std::rethrow_exception(error_);
  }
  /// Python's StreamReader.feed_data: RuntimeError once EOF was received or fed.
  void feed_data(std::string_view bytes);
  /// Python's StreamReader.feed_eof: wakes the waiting reader; a connection stops reading.
  void feed_eof() noexcept;
  /// Python's StreamReader.set_exception.
  void set_exception(std::exception_ptr error) noexcept;
  /// Called after bytes were taken from the read buffer: resumes reading at the limit.
  void consumed();
  /// Suspends the caller until bytes arrive, EOF, or the connection is lost. RuntimeError when
  /// another task already waits (`what` names the caller, as in Python's message).
  detail::WakeAwaiter wait_for_data(const char* what);

  // --- The writer's side -----------------------------------------------------------------------
  /// The connection's transport (null for a reader fed by hand).
  detail::ConnectionTransport* transport() const noexcept { return transport_.get(); }
  const std::shared_ptr<detail::ConnectionTransport>& shared_transport() const noexcept {
    return transport_;
  }
  /// A server's connection (start_tls is then the server side).
  bool is_server_side() const noexcept { return client_task_ != nullptr; }
  /// start_tls's: the connection goes on over `transport` (the TLS layer over the old one).
  /// (start_tls: the read buffer was handed to the TLS layer, which reads from now on; a pause
  /// of the old transport is not the new one's.)
  void replace_transport(std::shared_ptr<detail::ConnectionTransport> transport) noexcept {
    transport_ = std::move(transport);
    reading_paused_ = false;
  }
  bool is_lost() const noexcept { return lost_; }
  /// drain(): ready unless writing is paused; raise_if_lost() after it.
  detail::WakeAwaiter wait_for_drain();
  /// What drain() raises on a lost connection: its error, or "Connection lost" (ECONNRESET;
  /// EPIPE for a pipe).
  void raise_if_lost() const;
  /// wait_closed(): ready once the connection is lost.
  detail::WakeAwaiter wait_for_close() noexcept;

 private:
  void data_added() noexcept;
  void pause_transport() noexcept;

  std::shared_ptr<detail::ConnectionTransport> transport_;  // from connection_made
  ClientTask client_task_ = nullptr;
  std::shared_ptr<const void> handler_;  // a server's ClientConnected
  static constexpr std::size_t first_read_size = 256;
  static constexpr std::size_t max_read_size = 64 * 1024;

  std::size_t limit_;
  detail::ByteBuffer in_;
  std::size_t read_size_ = first_read_size;  // how much get_buffer offers at least
  std::size_t offered_ = 0;                  // what the last get_buffer offered
  detail::WaitQueue read_waiters_{"StreamReader"};
  detail::WaitQueue drain_waiters_{"StreamWriter"};
  detail::WaitQueue closed_waiters_{"StreamWriter"};
  std::exception_ptr error_;     // set_exception's, or what the connection was lost with
  bool eof_ = false;             // EOF received or fed, or the connection is lost
  bool reading_paused_ = false;  // this protocol paused the transport (buffer over 2 * limit)
  bool writing_paused_ = false;  // between pause_writing and resume_writing
  bool lost_ = false;            // connection_lost was called
};

}  // namespace asyncio
