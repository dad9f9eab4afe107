// StreamReaderProtocol: the read buffer and its flow control, drain() and the end of the
// connection, as the transport reports them (see the header's notes).
#include "asyncio/stream_reader_protocol.hpp"

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "asyncio/detail/connection_transport.hpp"
#include "asyncio/exceptions.hpp"

namespace asyncio {

StreamReaderProtocol::StreamReaderProtocol(std::size_t limit) : limit_(limit) {
  if (limit == 0) throw std::invalid_argument("Limit cannot be <= 0");
}

StreamReaderProtocol::StreamReaderProtocol(std::size_t limit, ClientTask client_task,
                                           std::shared_ptr<const void> handler)
    : StreamReaderProtocol(limit) {
  client_task_ = client_task;
  handler_ = std::move(handler);
}

StreamReaderProtocol::~StreamReaderProtocol() {
  if (transport_) transport_->orphan(this);
}

// --- The transport's side ------------------------------------------------------------------------

void StreamReaderProtocol::connection_made(std::shared_ptr<Transport> transport) {
  transport_ = std::dynamic_pointer_cast<detail::ConnectionTransport>(std::move(transport));
  if (!transport_)
    throw std::invalid_argument("a StreamReaderProtocol needs a transport of this library");
  if (client_task_) {
    // The handler task holds this protocol through its reader and writer.
    client_task_(handler_, shared_from_this());
  }
}

// The read buffer's free room, at most `sizehint`: read_size_ bytes of it, or more when the
// buffer has more room already. read_size_ starts small, so an idle connection reserves
// little, and doubles each time a read fills what it was offered, so a bulk transfer soon
// reads sizehint bytes per system call.
std::span<char> StreamReaderProtocol::get_buffer(std::size_t sizehint) {
  const std::size_t wanted = std::min(read_size_, sizehint);
  if (in_.back_room().size() < wanted) in_.reserve_back(wanted);
  std::span<char> room = in_.back_room();
  offered_ = std::min(room.size(), sizehint);
  return room.first(offered_);
}

void StreamReaderProtocol::buffer_updated(std::size_t nbytes) {
  in_.commit(nbytes);
  if (nbytes == offered_ && read_size_ < max_read_size) read_size_ *= 2;
  data_added();
}

// Bytes were added to the read buffer: wake the reader, and pause the transport while more
// than twice the limit is buffered.
void StreamReaderProtocol::data_added() noexcept {
  if (in_.size() > 2 * limit_) pause_transport();
  read_waiters_.wake_all();
}

void StreamReaderProtocol::pause_transport() noexcept {
  if (reading_paused_ || !transport_) return;
  reading_paused_ = true;
  transport_->pause_reading();
}

bool StreamReaderProtocol::eof_received() {
  feed_eof();
  return true;
}

void StreamReaderProtocol::connection_lost(std::exception_ptr exc) {
  lost_ = true;
  eof_ = true;
  if (exc) error_ = std::move(exc);  // a clean loss keeps what set_exception() set
  writing_paused_ = false;
  read_waiters_.wake_all();
  drain_waiters_.wake_all();
  closed_waiters_.wake_all();
}

void StreamReaderProtocol::resume_writing() {
  writing_paused_ = false;
  drain_waiters_.wake_all();
}

// --- The reader's side ---------------------------------------------------------------------------

void StreamReaderProtocol::feed_data(std::string_view bytes) {
  if (eof_) throw RuntimeError("feed_data after feed_eof");
  if (bytes.empty()) return;
  in_.append(bytes);
  data_added();
}

void StreamReaderProtocol::feed_eof() noexcept {
  eof_ = true;
  if (transport_ && !reading_paused_) {
    reading_paused_ = true;
    transport_->pause_reading();
  }
  read_waiters_.wake_all();
}

void StreamReaderProtocol::set_exception(std::exception_ptr error) noexcept {
  error_ = std::move(error);
  read_waiters_.wake_all();
}

void StreamReaderProtocol::consumed() {
  if (reading_paused_ && !eof_ && in_.size() <= limit_) {
    reading_paused_ = false;
    transport_->resume_reading();
  }
}

detail::WakeAwaiter StreamReaderProtocol::wait_for_data(const char* what) {
  if (read_waiters_.has_waiting()) {
    throw RuntimeError(std::string(what) +
                       "() called while another coroutine is already waiting for incoming data");
  }
  // A reader that needs more than the buffer may hold (readexactly) must get it.
  if (reading_paused_ && !eof_) {
    reading_paused_ = false;
    transport_->resume_reading();
  }
  return detail::WakeAwaiter(read_waiters_, eof_);
}

// --- The writer's side ---------------------------------------------------------------------------

detail::WakeAwaiter StreamReaderProtocol::wait_for_drain() {
  return detail::WakeAwaiter(drain_waiters_, !writing_paused_ || lost_);
}

detail::WakeAwaiter StreamReaderProtocol::wait_for_close() noexcept {
  return detail::WakeAwaiter(closed_waiters_, lost_);
}

void StreamReaderProtocol::raise_if_lost() const {
  if (!lost_) return;
  throw_if_failed();
  // A pipe has no reset: the reader went away (EPIPE, Python's BrokenPipeError).
  const bool pipe = transport_ && transport_->is_pipe();
  throw std::system_error(pipe ? EPIPE : ECONNRESET, std::generic_category(), "Connection lost");
}

}  // namespace asyncio
