// StreamTransport: reading into the buffer, sending and buffering, flow control, and losing the
// connection (see the header's notes).
#include "asyncio/detail/stream_transport.hpp"

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "asyncio/detail/server_core.hpp"
#include "asyncio/detail/syscall.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/exceptions.hpp"

namespace asyncio::detail {

namespace {

std::exception_ptr os_error(int error, const char* what) {
  return std::make_exception_ptr(errno_error(error, what));
}

}  // namespace

// fd_ is initialised before anything that can throw, so every throw from a constructor closes
// the fd (one from the body of a delegating constructor through ~StreamTransport).
StreamTransport::StreamTransport(EventLoop* loop, OwnedFd fd, std::size_t limit, Kind kind)
    : loop_(loop),
      fd_(std::move(fd)),
      limit_(limit),
      kind_(kind),
      read_watch_(&on_read_event, this, IoBackend::reader),
      write_watch_(&on_write_event, this, IoBackend::writer) {
  if (limit == 0) throw std::invalid_argument("Limit cannot be <= 0");
}

StreamTransport::StreamTransport(EventLoop& loop, OwnedFd fd, std::size_t limit, Kind kind)
    : StreamTransport(&loop, std::move(fd), limit, kind) {
  if (kind != Kind::write_pipe) {
    start_reading();
    return;
  }
  // A write pipe is watched for reading only to learn that its reader went away (the selector
  // reports an error then), as CPython's _UnixWritePipeTransport does. A character device
  // may not be watchable at all; it is then only written to.
  try {
    read_watch_.install();
  } catch (const std::exception&) {
  }
}

StreamTransport::StreamTransport(std::size_t limit)
    : StreamTransport(running_loop_or_null(), OwnedFd(), limit, Kind::socket) {}

StreamTransport::~StreamTransport() {
  if (!lost_) lose_connection(nullptr);
}

// --- Reading -------------------------------------------------------------------------------------

void StreamTransport::Watch::install() {
  if (installed) return;
  owner->loop_->io_backend().add_watcher(owner->fd_.get(), direction, this, false);
  installed = true;
}

void StreamTransport::Watch::remove() noexcept {
  if (!installed) return;
  installed = false;
  owner->loop_->io_backend().detach_watcher(owner->fd_.get(), direction);
}

void StreamTransport::start_reading() {
  if (!eof_ && !closing_) read_watch_.install();
}

void StreamTransport::stop_reading() noexcept { read_watch_.remove(); }

void StreamTransport::on_read_event(IoWatcher* watcher, IoWatcher::Event event) {
  auto& watch = *static_cast<Watch*>(watcher);
  if (event == IoWatcher::Event::removed) {  // the loop closed, or someone replaced the reader:
    watch.installed = false;                 // no byte will arrive any more
    watch.owner->feed_eof();
    return;
  }
  watch.owner->read_ready();
}

// One read(2) of up to max_read bytes per readiness event, straight into the buffer's free
// room, with a stack buffer behind it for the rest: no more memory is reserved than the bytes
// that arrived, and the buffer never exceeds 2 * limit_ + max_read.
void StreamTransport::read_ready() {
  if (kind_ == Kind::write_pipe) {  // the reader went away: nothing more can be written
    lose_connection(out_.empty() ? nullptr : os_error(EPIPE, "Connection lost"));
    return;
  }
  char spill[max_read];
  std::span<char> room = in_.back_room();
  if (room.size() > max_read) room = room.first(max_read);
  iovec parts[2] = {{room.data(), room.size()}, {spill, max_read - room.size()}};
  const ssize_t n = retry_on_eintr([&] {
    return room.empty() ? ::read(fd_.get(), spill, max_read)
                        : ::readv(fd_.get(), parts, parts[1].iov_len ? 2 : 1);
  });
  if (n < 0) {
    if (!would_block(errno)) fail(errno);
    return;
  }
  if (n == 0) {  // EOF: a socket stays open for writing (Python's eof_received -> True)
    feed_eof();
    if (kind_ == Kind::read_pipe) lose_connection(nullptr);
    return;
  }
  const std::size_t got = static_cast<std::size_t>(n);
  const std::size_t in_room = std::min(got, room.size());
  in_.commit(in_room);
  in_.append(std::string_view(spill, got - in_room));
  data_received();
}

// Bytes were added to the read buffer: wake the reader, and stop reading from the socket while
// more than twice the limit is buffered (a transport fed by hand has no socket to stop).
void StreamTransport::data_received() noexcept {
  if (in_.size() > 2 * limit_ && fd_.get() >= 0) {
    reading_paused_ = true;
    stop_reading();
  }
  assert(!reading_paused_ || !read_watch_.installed);
  read_waiters_.wake_all();
}

void StreamTransport::feed_data(std::string_view bytes) {
  if (eof_) throw RuntimeError("feed_data after feed_eof");
  if (bytes.empty()) return;
  in_.append(bytes);
  data_received();
}

void StreamTransport::feed_eof() noexcept {
  eof_ = true;
  stop_reading();
  read_waiters_.wake_all();
}

void StreamTransport::set_exception(std::exception_ptr error) noexcept {
  error_ = std::move(error);
  read_waiters_.wake_all();
}

void StreamTransport::consumed() {
  if (reading_paused_ && in_.size() <= limit_) {
    reading_paused_ = false;
    start_reading();
  }
}

WakeAwaiter StreamTransport::wait_for_data(const char* what) {
  if (read_waiters_.has_waiting()) {
    throw RuntimeError(std::string(what) +
                       "() called while another coroutine is already waiting for incoming data");
  }
  // A reader that needs more than the buffer may hold (readexactly) must get it.
  if (reading_paused_) {
    reading_paused_ = false;
    start_reading();
  }
  return WakeAwaiter(read_waiters_, eof_);
}

// --- Writing -------------------------------------------------------------------------------------

void StreamTransport::check_writable() const {
  if (eof_requested_) throw RuntimeError("Cannot call write() after write_eof()");
}

void StreamTransport::write(std::string_view bytes) {
  check_writable();
  if (bytes.empty() || lost_) return;
  if (out_.empty()) {
    ssize_t n = retry_on_eintr([&] { return send_some(bytes); });
    if (n < 0) {
      if (!would_block(errno)) return fail(errno);
      n = 0;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
    if (bytes.empty()) return;
    out_.append(bytes);
    start_writing();
  } else {
    out_.append(bytes);
  }
  check_high_water();
}

bool StreamTransport::flush_now() {
  while (!out_.empty()) {
    const std::string_view pending = out_.view();
    const ssize_t n = retry_on_eintr([&] { return send_some(pending); });
    if (n < 0) {
      if (would_block(errno)) break;
      fail(errno);
      return false;
    }
    out_.consume(static_cast<std::size_t>(n));
  }
  if (out_.empty()) {
    stop_writing();
    after_flush();
  } else {
    start_writing();
  }
  return !lost_;
}

ssize_t StreamTransport::send_some(std::string_view bytes) noexcept {
  if (kind_ == Kind::socket) return ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
  return write_without_sigpipe(fd_.get(), bytes.data(), bytes.size());
}

void StreamTransport::start_writing() {
  try {
    write_watch_.install();
  } catch (...) {
    lose_connection(std::current_exception());
  }
}

void StreamTransport::stop_writing() noexcept { write_watch_.remove(); }

void StreamTransport::on_write_event(IoWatcher* watcher, IoWatcher::Event event) {
  auto& watch = *static_cast<Watch*>(watcher);
  if (event == IoWatcher::Event::removed) {  // the loop closed: nothing more can be sent
    watch.installed = false;
    watch.owner->lose_connection(nullptr);
    return;
  }
  watch.owner->write_ready();
}

void StreamTransport::write_ready() {
  if (!flush_now()) return;
  if (writing_paused_ && out_.size() <= low_water_) {
    writing_paused_ = false;
    drain_waiters_.wake_all();
  }
}

// The write buffer is empty: finish what close() or write_eof() started (a pipe has no
// half-close: its write end is closed).
void StreamTransport::after_flush() {
  if (closing_ || (eof_requested_ && kind_ == Kind::write_pipe)) {
    lose_connection(nullptr);
  } else if (eof_requested_) {
    ::shutdown(fd_.get(), SHUT_WR);
  }
}

void StreamTransport::check_high_water() noexcept {
  if (out_.size() > high_water_) writing_paused_ = true;
}

void StreamTransport::set_write_buffer_limits(std::size_t high, std::size_t low) {
  if (low > high) throw std::invalid_argument("high must be >= low must be >= 0");
  high_water_ = high;
  low_water_ = low;
  if (out_.size() > high_water_) {
    writing_paused_ = true;
  } else if (writing_paused_ && out_.size() <= low_water_) {
    writing_paused_ = false;
    drain_waiters_.wake_all();
  }
}

WakeAwaiter StreamTransport::wait_for_drain() {
  return WakeAwaiter(drain_waiters_, !writing_paused_ || lost_);
}

void StreamTransport::raise_if_lost() const {
  if (!lost_) return;
  throw_if_failed();
  // A pipe has no reset: the reader went away (EPIPE, Python's BrokenPipeError).
  throw std::system_error(kind_ == Kind::write_pipe ? EPIPE : ECONNRESET, std::generic_category(),
                          "Connection lost");
}

void StreamTransport::write_eof() {
  if (eof_requested_ || is_closing()) return;
  eof_requested_ = true;
  if (out_.empty()) after_flush();
}

void StreamTransport::close() {
  if (is_closing()) return;
  closing_ = true;
  stop_reading();
  if (out_.empty()) lose_connection(nullptr);
}

// --- Addresses -----------------------------------------------------------------------------------

const SocketAddress& StreamTransport::peer_address() {
  if (peer_address_.family() == AF_UNSPEC && !lost_ && kind_ == Kind::socket)
    peer_address_ = SocketAddress::peer_of(fd_.get());
  return peer_address_;
}

const SocketAddress& StreamTransport::local_address() {
  if (local_address_.family() == AF_UNSPEC && !lost_ && kind_ == Kind::socket)
    local_address_ = SocketAddress::local_of(fd_.get());
  return local_address_;
}

// --- Losing the connection -----------------------------------------------------------------------

void StreamTransport::fail(int error) {
  const char* what = error == EPIPE || error == ECONNRESET ? "Connection lost" : "socket error";
  lose_connection(os_error(error, what));
}

void StreamTransport::lose_connection(std::exception_ptr error) noexcept {
  if (lost_) return;
  lost_ = true;
  eof_ = true;
  if (error) error_ = std::move(error);  // a clean loss keeps what set_exception() set
  stop_reading();
  stop_writing();
  out_.clear();
  // Out of the selector first, then closed (a reader fed by hand has no fd).
  if (fd_.get() >= 0) loop_->io_backend().close_fd(fd_.release());
  writing_paused_ = false;
  read_waiters_.wake_all();
  drain_waiters_.wake_all();
  closed_waiters_.wake_all();
  assert(eof_ && fd_.get() < 0 && !read_watch_.installed &&
         !write_watch_.installed);  // lost_'s invariant
  if (server_) std::exchange(server_, nullptr)->connection_lost(this);
}

}  // namespace asyncio::detail
