// sock_sendfile and sendfile (Python's loop.sock_sendfile and loop.sendfile): a file over a
// connection with sendfile(2), so no byte of it passes through user memory, or read and sent
// chunk by chunk when sendfile(2) cannot send that file, or over a transport whose bytes are
// not the socket's (TLS): then written through the transport, waiting while its buffer is full.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "asyncio/detail/fd_waiter.hpp"
#include "asyncio/detail/stream_transport.hpp"
#include "asyncio/detail/syscall.hpp"
#include "asyncio/detail/wait_queue.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/exceptions.hpp"

namespace asyncio {

namespace {

using detail::throw_errno;

void check_sendfile_arguments(int fd, std::int64_t offset, std::optional<std::size_t> count) {
  if (offset < 0)
    throw std::invalid_argument("offset must be a non-negative integer (got " +
                                std::to_string(offset) + ")");
  if (count && *count == 0) throw std::invalid_argument("count must be a positive integer (got 0)");
  if (detail::is_socket_but_not_stream(fd))
    throw std::invalid_argument("only SOCK_STREAM type sockets are supported");
}

/// Puts the file's offset after what was sent, however the sending ends, as Python does (when
/// nothing was sent, the offset is left alone; not for pipes).
struct SeekPastSent {
  int file;
  std::int64_t offset;
  std::size_t sent = 0;
  ~SeekPastSent() {
    if (sent > 0) ::lseek(file, static_cast<off_t>(offset) + static_cast<off_t>(sent), SEEK_SET);
  }
};

/// The fallback (Python's _sock_sendfile_fallback): reads up to 256 KiB at a time and sends
/// it with `send(bytes)` (a coroutine), adding what was sent to `sent`. The file is read on the
/// loop's thread (a regular file's read does not wait for long; a pipe's is waited for).
template <class Send>
Coro<void> read_and_send(EventLoop& loop, int file, std::int64_t offset, std::size_t count,
                         Send send, std::size_t& sent) {
  if (offset != 0 && ::lseek(file, static_cast<off_t>(offset), SEEK_SET) < 0)
    throw_errno(errno, "lseek");
  std::vector<char> chunk(std::min<std::size_t>(count, 256 * 1024));
  for (std::size_t total = 0; total < count;) {
    const std::size_t wanted = std::min(chunk.size(), count - total);
    const ssize_t n = detail::retry_on_eintr([&] { return ::read(file, chunk.data(), wanted); });
    if (n < 0) {
      if (!detail::would_block(errno)) throw_errno(errno, "read");
      co_await loop.wait_readable(file);
      continue;
    }
    if (n == 0) break;  // the file ended
    co_await send(std::string_view(chunk.data(), static_cast<std::size_t>(n)));
    total += static_cast<std::size_t>(n);
    sent += static_cast<std::size_t>(n);
  }
}

/// sendfile(2), or the fallback.
Coro<std::size_t> send_file_over(EventLoop& loop, int fd, int file, std::int64_t offset,
                                 std::optional<std::size_t> count, bool fallback) {
  const std::size_t wanted = count.value_or(std::numeric_limits<std::size_t>::max());
  SeekPastSent seek{file, offset};
  bool not_available = false;
  try {
    co_await loop.io_backend().sendfile(fd, file, offset, wanted, seek.sent);
  } catch (const SendfileNotAvailableError&) {
    if (!fallback) throw;
    not_available = true;
  }
  if (not_available) {
    co_await read_and_send(
        loop, file, offset, wanted,
        [&loop, fd](std::string_view bytes) { return loop.io_backend().send_all(fd, bytes); },
        seek.sent);
  }
  co_return seek.sent;
}

/// Python's _SendfileFallbackProtocol: stands in for a transport's protocol while a file is
/// written through the transport, to hear when its write buffer drains; the transport's
/// reading is paused meanwhile. restore() gives the transport back to its protocol, telling it
/// what changed (writing paused or resumed, the connection lost) in the meantime.
class FallbackProtocol final : public Protocol {
 public:
  explicit FallbackProtocol(std::shared_ptr<Transport> transport)
      : transport_(std::move(transport)),
        previous_(std::dynamic_pointer_cast<StreamProtocol>(transport_->get_protocol())),
        resume_reading_(transport_->is_reading()) {
    // Over the high-water mark, the protocol was told pause_writing already.
    paused_ = was_paused_ =
        transport_->get_write_buffer_size() > transport_->get_write_buffer_limits().second;
    transport_->pause_reading();
  }
  void pause_writing() override { paused_ = true; }
  void resume_writing() override {
    paused_ = false;
    drained_.wake_all();
  }
  void connection_lost(std::exception_ptr exc) override {
    lost_ = true;
    error_ = std::move(exc);
    drained_.wake_all();
  }

  /// Writes `bytes` once the write buffer is below its high-water mark.
  static Coro<void> write_when_drained(std::shared_ptr<FallbackProtocol> self,
                                       std::string_view bytes) {
    co_await detail::WakeAwaiter(self->drained_, !self->paused_ || self->lost_);
    if (self->lost_) {
      if (self->error_) std::rethrow_exception(self->error_);
      throw std::system_error(ECONNRESET, std::generic_category(), "Connection lost");
    }
    self->transport_->write(bytes);
  }

  void restore() noexcept {
    if (!previous_) return;
    try {
      if (lost_) {  // the transport told this protocol; its own must hear it too
        previous_->connection_lost(error_);
        return;
      }
      transport_->set_protocol(previous_);
      if (resume_reading_) transport_->resume_reading();
      if (paused_ != was_paused_)
        paused_ ? previous_->pause_writing() : previous_->resume_writing();
    } catch (...) {
      transport_->abort();
    }
  }

 private:
  std::shared_ptr<Transport> transport_;
  std::shared_ptr<StreamProtocol> previous_;
  detail::WaitQueue drained_{"sendfile"};
  std::exception_ptr error_;
  bool resume_reading_;
  bool paused_ = false;      // between pause_writing and resume_writing
  bool was_paused_ = false;  // paused_ when this protocol took over
  bool lost_ = false;
};

/// loop.sendfile over a transport that sendfile(2) cannot write to (Python's
/// _sendfile_fallback): the file read and written through the transport.
Coro<std::size_t> write_through(EventLoop& loop, std::shared_ptr<Transport> transport, int file,
                                std::int64_t offset, std::optional<std::size_t> count) {
  if (transport->is_closing()) throw RuntimeError("Transport is closing");
  auto protocol = std::make_shared<FallbackProtocol>(transport);
  transport->set_protocol(protocol);
  struct Restore {
    FallbackProtocol& protocol;
    ~Restore() { protocol.restore(); }
  } restore{*protocol};
  SeekPastSent seek{file, offset};
  co_await read_and_send(
      loop, file, offset, count.value_or(std::numeric_limits<std::size_t>::max()),
      [&protocol](std::string_view bytes) {
        return FallbackProtocol::write_when_drained(protocol, bytes);
      },
      seek.sent);
  co_return seek.sent;
}

}  // namespace

// Coroutines, so that bad arguments are raised where they are awaited, as Python's.
Coro<std::size_t> EventLoop::sock_sendfile(int fd, int file, std::int64_t offset,
                                           std::optional<std::size_t> count, bool fallback) {
  check_sendfile_arguments(fd, offset, count);
  co_return co_await send_file_over(*this, fd, file, offset, count, fallback);
}

Coro<std::size_t> EventLoop::sendfile(std::shared_ptr<Transport> transport, int file,
                                      std::int64_t offset, std::optional<std::size_t> count,
                                      bool fallback) {
  if (!transport) throw std::invalid_argument("sendfile needs a transport");
  auto stream = std::dynamic_pointer_cast<detail::StreamTransport>(transport);
  if (!stream) {  // TLS: the bytes must go through the transport
    auto connection = std::dynamic_pointer_cast<detail::ConnectionTransport>(transport);
    check_sendfile_arguments(connection ? connection->fd() : -1, offset, count);
    if (!fallback)
      throw SendfileNotAvailableError(
          "fallback is disabled and native sendfile is not supported for this transport");
    co_return co_await write_through(*this, std::move(transport), file, offset, count);
  }
  check_sendfile_arguments(stream->fd(), offset, count);
  co_return co_await detail::StreamTransport::send_file(std::move(stream), file, offset, count,
                                                        fallback);
}

namespace detail {

Coro<std::size_t> StreamTransport::send_file(std::shared_ptr<StreamTransport> self, int file,
                                             std::int64_t offset, std::optional<std::size_t> count,
                                             bool fallback) {
  if (self->is_closing()) throw RuntimeError("Transport is closing");
  if (self->kind_ == Kind::read_pipe) throw RuntimeError("a read pipe cannot send a file");
  if (self->sending_file_) throw RuntimeError("sendfile is in progress");
  self->sending_file_ = true;
  // However this ends: writing is allowed again, reading resumes if it was on, and a
  // connection lost meanwhile gets its fd closed now.
  struct Done {
    StreamTransport* transport;
    bool resume_reading = false;
    ~Done() {
      transport->sending_file_ = false;
      if (transport->lost_ && transport->fd_.get() >= 0)
        transport->loop_->io_backend().close_fd(transport->fd_.release());
      if (resume_reading) transport->resume_reading();  // nothing once closing
    }
  } done{self.get()};
  co_await WakeAwaiter(self->flushed_waiters_, self->out_.empty() || self->lost_);
  if (self->lost_) throw std::system_error(ECONNRESET, std::generic_category(), "Connection lost");
  done.resume_reading = self->is_reading();
  self->pause_reading();
  co_return co_await send_file_over(*self->loop_, self->fd_.get(), file, offset, count, fallback);
}

}  // namespace detail

}  // namespace asyncio
