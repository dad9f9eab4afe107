// StreamTransport: reading into the protocol, sending and buffering, flow control, and losing
// the connection (see the header's notes).
#include "asyncio/detail/stream_transport.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "asyncio/detail/server_core.hpp"
#include "asyncio/detail/syscall.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/exceptions.hpp"
#include "asyncio/stream_reader_protocol.hpp"

namespace asyncio::detail {

StreamTransport::StreamTransport(EventLoop& loop, OwnedFd fd, Kind kind,
                                 ServerCore* server) noexcept
    : loop_(&loop),
      fd_(std::move(fd)),
      kind_(kind),
      loop_link_(&close_for_loop, this),
      read_watch_(&on_read_event, this, IoBackend::reader),
      write_watch_(&on_write_event, this, IoBackend::writer),
      server_(server) {}

std::shared_ptr<StreamTransport> StreamTransport::open(EventLoop& loop, OwnedFd fd, Kind kind,
                                                       std::shared_ptr<StreamProtocol> protocol,
                                                       ServerCore* server,
                                                       const SocketAddress& peer) {
  if (!protocol) throw std::invalid_argument("a transport needs a protocol");
  // make_shared cannot reach the private constructor; fd is closed if allocating throws.
  std::shared_ptr<StreamTransport> transport(
      new StreamTransport(loop, std::move(fd), kind, server));
  transport->protocol_.set(protocol);  // `protocol` lives on until connection_made is called
  transport->peer_address_ = peer;
  if (kind == Kind::socket) {  // kept for after the connection is lost, as Python's
    transport->peer_address();
    transport->local_address();
  }
  if (server) server->connection_made(transport.get());
  transport->start();
  return transport;
}

// Python's order: connection_made, then reading starts. A write pipe is watched for reading
// only to learn that its reader went away, as CPython's _UnixWritePipeTransport does, and so
// only when it is a FIFO or a socket: a character device is only written to (a terminal that
// turns readable has input, not a reader gone; another may not be watchable at all).
void StreamTransport::start() {
  self_ = shared_from_this();
  loop_->open_transports().add(loop_link_, fd_.get());
  try {
    protocol_.protocol->connection_made(self_);
  } catch (...) {
    report("Exception in protocol.connection_made()", std::current_exception());
    lose_connection(std::current_exception());
    return;
  }
  if (kind_ != Kind::write_pipe) {
    try {
      receives_ = kind_ == Kind::socket;  // if the backend can (start_reading finds out)
      start_reading();
    } catch (...) {
      lose_connection(std::current_exception());
    }
    return;
  }
  struct stat status;
  if (::fstat(fd_.get(), &status) != 0 || !(S_ISFIFO(status.st_mode) || S_ISSOCK(status.st_mode)))
    return;
  try {
    read_watch_.install();
  } catch (const std::exception&) {
  }
}

StreamTransport::~StreamTransport() {
  protocol_.take();  // nobody is told any more
  lose_connection(nullptr, true);
}

// --- The protocol --------------------------------------------------------------------------------

std::shared_ptr<BaseProtocol> StreamTransport::get_protocol() const noexcept {
  return protocol_.get();
}

void StreamTransport::set_protocol(std::shared_ptr<BaseProtocol> protocol) {
  auto stream = std::dynamic_pointer_cast<StreamProtocol>(std::move(protocol));
  if (!stream)
    throw std::invalid_argument("a stream transport needs a Protocol or BufferedProtocol");
  if (!protocol_.protocol) return;  // connection_lost was called already: nothing would call it
  // The protocol replaced may be the one whose callback calls this, which Python keeps alive
  // while its method runs: the transport lets go of it from the loop's next callback.
  std::shared_ptr<StreamProtocol> replaced = protocol_.owned;
  protocol_.set(stream);
  if (replaced && replaced.use_count() == 1) loop_->call_soon([replaced = std::move(replaced)] {});
}

void StreamTransport::orphan(const StreamProtocol* protocol) noexcept {
  if (protocol != protocol_.protocol) return;  // set_protocol gave the connection to another
  protocol_.clear();
  close();  // as Python's StreamWriter.__del__: the buffered bytes go out first
}

void StreamTransport::report(const char* message, std::exception_ptr error) noexcept {
  loop_->call_exception_handler({message, std::move(error), "StreamTransport"});
}

void StreamTransport::protocol_failed(const char* message) noexcept {
  if (kind_ == Kind::read_pipe) {  // Python's pipe calls it as a plain callback: reported only
    report("Exception in callback", std::current_exception());
    return;
  }
  report(message, std::current_exception());
  lose_connection(std::current_exception());
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
  if (reading_paused_ || eof_ || is_closing()) return;
  if (receives_) {
    // (A receive being cancelled restarts itself when it ends: see receive_ended.)
    if (receive_) return;
    receive_ = loop_->io_backend().start_receive(fd_.get(), *this);
    if (receive_) return;
    receives_ = false;  // a readiness backend: read on readiness from now on
  }
  read_watch_.install();
}

void StreamTransport::stop_reading() noexcept {
  if (receive_) {
    if (!receive_cancelled_) loop_->io_backend().cancel_receive(receive_);
    receive_cancelled_ = true;
    return;
  }
  read_watch_.remove();
}

// --- Reading on a completion backend -------------------------------------------------------------

void StreamTransport::received(std::span<const std::string_view> pieces) {
  if (lost_ || closing_) return;  // (Python reads nothing more once closing)
  if (reading_paused_ || !held_.empty()) {
    for (const std::string_view piece : pieces) held_.append(piece);
    return;
  }
  hand_over(pieces);
}

void StreamTransport::receive_ended(int result) {
  receive_ = nullptr;
  receive_cancelled_ = false;
  if (lost_) return;
  if (result == IoBackend::receive_stopped) {
    if (held_.empty()) start_reading();  // when reading is on
    return;
  }
  if (reading_paused_ || !held_.empty()) {
    held_end_ = result;
    return;
  }
  stream_ended(result);
}

void StreamTransport::stream_ended(int result) {
  if (result == 0)
    eof_received();
  else
    fail(-result);
}

void StreamTransport::hand_over(std::span<const std::string_view> pieces) {
  if (!protocol_.buffered) {
    if (!protocol_.plain) return;  // orphaned
    try {
      if (pieces.size() == 1) {
        protocol_.plain->data_received(pieces[0]);
      } else {
        std::string whole;
        for (const std::string_view piece : pieces) whole += piece;
        protocol_.plain->data_received(whole);
      }
    } catch (...) {
      protocol_failed("Fatal error: protocol.data_received() call failed.");
    }
    return;
  }
  std::size_t left = 0;
  for (const std::string_view piece : pieces) left += piece.size();
  std::size_t piece = 0, offset = 0;  // where the next byte to copy is
  while (left > 0 && !lost_) {
    std::size_t n = 0;
    try {
      const std::span<char> buffer = protocol_.buffered->get_buffer(left);
      if (buffer.empty()) throw RuntimeError("get_buffer() returned an empty buffer");
      while (n < buffer.size() && n < left) {  // fill it from as many pieces as fit
        const std::string_view from = pieces[piece].substr(offset);
        const std::size_t take = std::min(buffer.size() - n, from.size());
        std::memcpy(buffer.data() + n, from.data(), take);
        n += take;
        offset += take;
        if (offset == pieces[piece].size()) {
          ++piece;
          offset = 0;
        }
      }
    } catch (...) {
      return protocol_failed("Fatal error: protocol.get_buffer() call failed.");
    }
    left -= n;
    try {
      protocol_.buffered->buffer_updated(n);
    } catch (...) {
      return protocol_failed("Fatal error: protocol.buffer_updated() call failed.");
    }
  }
}

void StreamTransport::hand_over_held() {
  if (lost_ || reading_paused_) return;  // (paused again: the next resume hands it over)
  const std::string held(held_.view());
  held_.clear();
  if (!held.empty()) hand_over(held);
  if (lost_) return;
  if (held_end_) {
    stream_ended(*std::exchange(held_end_, std::nullopt));
  } else {
    start_reading();
  }
}

void StreamTransport::pause_reading() {
  if (!is_reading()) return;
  reading_paused_ = true;
  if (kind_ != Kind::write_pipe) stop_reading();
}

void StreamTransport::resume_reading() {
  if (is_closing() || !reading_paused_) return;
  reading_paused_ = false;
  if (kind_ == Kind::write_pipe) return;
  if (!held_.empty() || held_end_) {
    // Python's protocols are not called from inside resume_reading: from the loop, then.
    tell_from_loop(*loop_, shared_from_this(), false, [this] { hand_over_held(); });
    return;
  }
  try {
    start_reading();
  } catch (...) {
    lose_connection(std::current_exception());
  }
}

void StreamTransport::on_read_event(IoWatcher* watcher, IoWatcher::Event event) {
  auto& watch = *static_cast<Watch*>(watcher);
  if (event == IoWatcher::Event::removed) {  // someone replaced the reader: nothing will arrive
    watch.installed = false;
    watch.owner->lose_connection(nullptr);
    return;
  }
  watch.owner->read_ready();
}

void StreamTransport::read_ready() {
  if (kind_ == Kind::write_pipe) {  // the reader went away: nothing more can be written
    lose_connection(out_.empty() ? nullptr
                                 : std::make_exception_ptr(errno_error(EPIPE, "Connection lost")));
    return;
  }
  // The transport outlives this call even if the protocol closes it: losing the connection
  // moves self_ into the callback that tells the protocol.
  if (protocol_.buffered)
    read_into_protocol_buffer();
  else
    read_and_hand_over();
}

// BufferedProtocol: one read(2) straight into the protocol's memory.
void StreamTransport::read_into_protocol_buffer() {
  std::span<char> buffer;
  try {
    buffer = protocol_.buffered->get_buffer(max_read);
    if (buffer.empty()) throw RuntimeError("get_buffer() returned an empty buffer");
  } catch (...) {
    return protocol_failed("Fatal error: protocol.get_buffer() call failed.");
  }
  const ssize_t n = retry_on_eintr([&] { return ::read(fd_.get(), buffer.data(), buffer.size()); });
  if (n < 0) {
    if (!would_block(errno)) fail(errno);
    return;
  }
  if (n == 0) return eof_received();
  try {
    protocol_.buffered->buffer_updated(static_cast<std::size_t>(n));
  } catch (...) {
    protocol_failed("Fatal error: protocol.buffer_updated() call failed.");
  }
}

// Protocol: one read(2) into the stack; data_received sees the bytes during its call only.
void StreamTransport::read_and_hand_over() {
  char data[max_read];
  const ssize_t n = retry_on_eintr([&] { return ::read(fd_.get(), data, max_read); });
  if (n < 0) {
    if (!would_block(errno)) fail(errno);
    return;
  }
  if (n == 0) return eof_received();
  hand_over(std::string_view(data, static_cast<std::size_t>(n)));
}

// Python's _read_ready__on_eof: a socket stays open for writing when eof_received() says so,
// else it is closed; a read pipe's connection is lost at EOF whatever it says.
void StreamTransport::eof_received() {
  eof_ = true;
  stop_reading();
  bool keep_open = false;
  if (protocol_.protocol) {
    try {
      keep_open = protocol_.protocol->eof_received();
    } catch (...) {
      protocol_failed("Fatal error: protocol.eof_received() call failed.");
      if (kind_ != Kind::read_pipe) return;  // lost with the error; a read pipe's is lost below
    }
  }
  if (kind_ == Kind::read_pipe)
    lose_connection(nullptr);
  else if (!keep_open)
    close();
}

// --- Writing -------------------------------------------------------------------------------------

bool StreamTransport::accepts_write(const char* call) const {
  // A write pipe drops what comes once it is closing (Python's _UnixWritePipeTransport); a
  // socket refuses a write after write_eof() and still sends one after close().
  if (kind_ == Kind::write_pipe && (closing_ || lost_)) return false;
  if (eof_requested_)
    throw RuntimeError(std::string("Cannot call ") + call + "() after write_eof()");
  if (sending_file_)
    throw RuntimeError(std::string("unable to ") + call + "; sendfile is in progress");
  if (kind_ == Kind::read_pipe) throw RuntimeError("a read pipe cannot be written to");
  return !lost_;
}

void StreamTransport::write(std::string_view bytes) {
  if (!accepts_write("write") || bytes.empty()) return;
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
  maybe_pause_protocol();
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
  // Python's order (_write_send): a paused protocol hears resume_writing() before a close()
  // that waited for the buffer gives it connection_lost().
  flow_.maybe_resume(out_.size(), protocol_.protocol, reporter());
  if (lost_) return false;  // (resume_writing() may have aborted)
  if (out_.empty()) {
    stop_writing();
    flushed_waiters_.wake_all();
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

void StreamTransport::on_write_event(IoWatcher* watcher, IoWatcher::Event event) {
  auto& watch = *static_cast<Watch*>(watcher);
  if (event == IoWatcher::Event::removed) {  // nothing more can be sent
    watch.installed = false;
    watch.owner->lose_connection(nullptr);
    return;
  }
  watch.owner->write_ready();
}

void StreamTransport::write_ready() { flush_now(); }

// The write buffer is empty: finish what close() or write_eof() started (a pipe has no
// half-close: its write end is closed).
void StreamTransport::after_flush() {
  if (closing_) {
    lose_connection(nullptr);
  } else if (eof_requested_) {
    ::shutdown(fd_.get(), SHUT_WR);
  }
}

void StreamTransport::maybe_pause_protocol() noexcept {
  flow_.maybe_pause(out_.size(), protocol_.protocol, reporter());
}

void StreamTransport::set_write_buffer_limits(std::optional<std::size_t> high,
                                              std::optional<std::size_t> low) {
  flow_.set_limits(high, low);
  // Never resumes here: only a send that drains the buffer does (Python's order).
  maybe_pause_protocol();
}

void StreamTransport::write_eof() {
  if (eof_requested_ || is_closing()) return;
  if (kind_ == Kind::read_pipe) throw RuntimeError("a read pipe cannot write EOF");
  eof_requested_ = true;
  if (kind_ == Kind::write_pipe) closing_ = true;  // a pipe has no half-close: this ends it
  if (out_.empty()) after_flush();
}

void StreamTransport::close() {
  if (is_closing()) return;
  closing_ = true;
  if (kind_ != Kind::write_pipe) stop_reading();
  if (out_.empty()) lose_connection(nullptr);
}

// --- Addresses -----------------------------------------------------------------------------------

namespace {

// An address is asked of the socket once, when the transport opens (the peer's is not asked when
// a server's accept gave it). A socket that cannot tell (the peer reset it, ENOTCONN) leaves it
// empty, as Python stores None: asking must not fail the protocol callback that asks.
void ask_once(SocketAddress& cached, SocketAddress (*ask)(int), int fd) {
  if (cached.family() != AF_UNSPEC) return;
  try {
    cached = ask(fd);
  } catch (const std::system_error&) {
  }
}

}  // namespace

SocketAddress StreamTransport::peer_address() const {
  if (!lost_ && kind_ == Kind::socket) ask_once(peer_address_, &SocketAddress::peer_of, fd_.get());
  return peer_address_;
}

SocketAddress StreamTransport::local_address() const {
  if (!lost_ && kind_ == Kind::socket)
    ask_once(local_address_, &SocketAddress::local_of, fd_.get());
  return local_address_;
}

std::any StreamTransport::get_extra_info(std::string_view name) const {
  if (kind_ == Kind::socket) {
    if (name == "peername") return peer_address();
    if (name == "sockname") return local_address();
    if (name == "socket") return fd();
  } else if (name == "pipe") {
    return fd();
  }
  return {};
}

// --- Losing the connection -----------------------------------------------------------------------

void StreamTransport::fail(int error) {
  const char* what = error == EPIPE || error == ECONNRESET ? "Connection lost" : "socket error";
  lose_connection(std::make_exception_ptr(errno_error(error, what)));
}

void StreamTransport::lose_connection(std::exception_ptr error, bool now) noexcept {
  if (lost_) return;
  lost_ = true;
  closing_ = true;
  if (receive_) loop_->io_backend().abandon_receive(std::exchange(receive_, nullptr));
  stop_reading();
  stop_writing();
  out_.clear();
  held_.clear();
  loop_->open_transports().remove(loop_link_);
  flushed_waiters_.wake_all();
  if (sending_file_) {
    // send_file's next call fails; it closes the fd then. Its wait for writability ends now
    // (select(2) would not report a shut-down socket whose peer's buffer is full).
    ::shutdown(fd_.get(), SHUT_RDWR);
    if (IoWatcher* waiter = loop_->io_backend().detach_watcher(fd_.get(), IoBackend::writer))
      waiter->notify(IoWatcher::Event::removed);
  } else if (fd_.get() >= 0) {
    loop_->io_backend().close_fd(fd_.release());  // out of the selector first, then closed
  }
  assert((fd_.get() < 0 || sending_file_) && !read_watch_.installed &&
         !write_watch_.installed);  // lost_'s invariant
  // The server counts open connections: this one is closed now.
  if (server_) std::exchange(server_, nullptr)->connection_lost(this);
  tell_from_loop(*loop_, std::move(self_), now,
                 [this, error]() mutable { call_connection_lost(std::move(error)); });
}

void StreamTransport::close_for_loop(void* owner) noexcept {
  static_cast<StreamTransport*>(owner)->lose_connection(nullptr, true);
}

void StreamTransport::call_connection_lost(std::exception_ptr error) noexcept {
  if (StreamProtocol* protocol = protocol_.take()) {
    try {
      protocol->connection_lost(std::move(error));
    } catch (...) {
      report("Exception in protocol.connection_lost()", std::current_exception());
    }
    protocol_.owned.reset();
  }
}

}  // namespace asyncio::detail
