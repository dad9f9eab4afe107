// DatagramSocketTransport: receiving, sending and queueing datagrams, flow control, and closing
// (see the header's notes).
#include "asyncio/detail/datagram_transport.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "asyncio/detail/syscall.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/exceptions.hpp"

namespace asyncio::detail {

DatagramSocketTransport::DatagramSocketTransport(EventLoop& loop, OwnedFd fd,
                                                 std::optional<SocketAddress> peer) noexcept
    : loop_(&loop),
      fd_(std::move(fd)),
      peer_(std::move(peer)),
      loop_link_(&close_for_loop, this),
      read_watch_(&on_read_event, this),
      write_watch_(&on_write_event, this) {}

std::shared_ptr<DatagramSocketTransport> DatagramSocketTransport::open(
    EventLoop& loop, OwnedFd fd, std::optional<SocketAddress> peer,
    std::shared_ptr<DatagramProtocol> protocol) {
  if (!protocol) throw std::invalid_argument("a transport needs a protocol");
  std::shared_ptr<DatagramSocketTransport> transport(
      new DatagramSocketTransport(loop, std::move(fd), std::move(peer)));
  transport->protocol_ = std::move(protocol);
  try {  // kept for after close, as Python's
    transport->sockname_ = SocketAddress::local_of(transport->fd_.get());
  } catch (const std::system_error&) {
  }
  transport->start();
  return transport;
}

void DatagramSocketTransport::start() {
  self_ = shared_from_this();
  loop_->open_transports().add(loop_link_, fd_.get());
  try {
    protocol_->connection_made(self_);
    if (!is_closing()) install(read_watch_, IoBackend::reader);
  } catch (...) {
    report("Exception in protocol.connection_made()", std::current_exception());
    lose(std::current_exception());
  }
}

DatagramSocketTransport::~DatagramSocketTransport() {
  protocol_.reset();  // nobody is told any more
  lose(nullptr, true);
}

void DatagramSocketTransport::set_protocol(std::shared_ptr<BaseProtocol> protocol) {
  auto datagram = std::dynamic_pointer_cast<DatagramProtocol>(std::move(protocol));
  if (!datagram) throw std::invalid_argument("a datagram transport needs a DatagramProtocol");
  if (protocol_) protocol_ = std::move(datagram);
}

std::any DatagramSocketTransport::get_extra_info(std::string_view name) const {
  if (name == "socket") return fd_.get();
  if (name == "sockname" && sockname_.family() != AF_UNSPEC) return sockname_;
  if (name == "peername" && peer_) return *peer_;
  return {};
}

void DatagramSocketTransport::report(const char* message, std::exception_ptr error) noexcept {
  loop_->call_exception_handler({message, std::move(error), "DatagramTransport"});
}

// --- Watches -------------------------------------------------------------------------------------

void DatagramSocketTransport::install(Watch& watch, int direction) {
  if (watch.installed) return;
  loop_->io_backend().add_watcher(fd_.get(), direction, &watch, false);
  watch.installed = true;
}

void DatagramSocketTransport::remove(Watch& watch, int direction) noexcept {
  if (!watch.installed) return;
  watch.installed = false;
  loop_->io_backend().detach_watcher(fd_.get(), direction);
}

void DatagramSocketTransport::on_read_event(IoWatcher* watcher, IoWatcher::Event event) {
  auto& watch = *static_cast<Watch*>(watcher);
  if (event == IoWatcher::Event::removed) {  // someone replaced the reader
    watch.installed = false;
    watch.owner->lose(nullptr);
    return;
  }
  watch.owner->read_ready();
}

void DatagramSocketTransport::on_write_event(IoWatcher* watcher, IoWatcher::Event event) {
  auto& watch = *static_cast<Watch*>(watcher);
  if (event == IoWatcher::Event::removed) {
    watch.installed = false;
    watch.owner->lose(nullptr);
    return;
  }
  watch.owner->write_ready();
}

// --- Receiving -----------------------------------------------------------------------------------

void DatagramSocketTransport::read_ready() {
  char data[max_datagram];
  std::optional<std::pair<std::size_t, SocketAddress>> got;
  try {
    got = try_recvfrom_into(fd_.get(), std::span<char>(data, max_datagram));
  } catch (const std::system_error& error) {
    return error_received(error.code().value());
  }
  if (!got || !protocol_) return;
  // A protocol callback that throws is reported and the endpoint stays open: Python calls it
  // from the transport's read callback, whose error the loop reports.
  try {
    protocol_->datagram_received(std::string_view(data, got->first), got->second);
  } catch (...) {
    report("Exception in callback", std::current_exception());
  }
}

void DatagramSocketTransport::error_received(int error) noexcept {
  if (!protocol_) return;
  try {
    protocol_->error_received(std::make_exception_ptr(errno_error(error, "datagram socket")));
  } catch (...) {
    report("Exception in callback", std::current_exception());
  }
}

// --- Sending -------------------------------------------------------------------------------------

void DatagramSocketTransport::sendto(std::string_view data, std::optional<SocketAddress> address) {
  if (peer_ && address && *address != *peer_)
    throw std::invalid_argument("Invalid address: must be None or " + peer_->to_string());
  if (lost_) return;
  if (!peer_ && !address)
    throw std::invalid_argument("sendto() needs an address on an unconnected transport");
  if (queue_.empty()) {
    if (send_one(data, peer_ ? std::nullopt : address)) return;
    if (lost_) return;
  }
  queue_.push_back({std::string(data), peer_ ? std::nullopt : std::move(address)});
  queued_bytes_ += data.size();
  try {
    install(write_watch_, IoBackend::writer);
  } catch (...) {
    return lose(std::current_exception());
  }
  flow_.maybe_pause(queued_bytes_, protocol_.get(), reporter());
}

// True when the datagram is done with: sent, or its error reported; false when it would block.
bool DatagramSocketTransport::send_one(std::string_view data,
                                       const std::optional<SocketAddress>& address) {
  try {
    return try_sendto(fd_.get(), data, address ? &*address : nullptr) >= 0;
  } catch (const std::system_error& error) {
    error_received(error.code().value());
    return true;
  }
}

void DatagramSocketTransport::write_ready() {
  while (!queue_.empty()) {
    Queued& next = queue_.front();
    if (!send_one(next.data, next.address)) break;
    if (lost_) return;
    queued_bytes_ -= next.data.size();
    queue_.pop_front();
  }
  flow_.maybe_resume(queued_bytes_, protocol_.get(), reporter());
  if (!queue_.empty()) return;
  remove(write_watch_, IoBackend::writer);
  if (closing_) lose(nullptr);
}

void DatagramSocketTransport::set_write_buffer_limits(std::optional<std::size_t> high,
                                                      std::optional<std::size_t> low) {
  flow_.set_limits(high, low);
  // Never resumes here: only a send that drains the queue does (Python's order).
  flow_.maybe_pause(queued_bytes_, protocol_.get(), reporter());
}

// --- Closing -------------------------------------------------------------------------------------

void DatagramSocketTransport::close() {
  if (is_closing()) return;
  closing_ = true;
  remove(read_watch_, IoBackend::reader);
  if (queue_.empty()) lose(nullptr);
}

void DatagramSocketTransport::lose(std::exception_ptr error, bool now) noexcept {
  if (lost_) return;
  lost_ = true;
  closing_ = true;
  remove(read_watch_, IoBackend::reader);
  remove(write_watch_, IoBackend::writer);
  queue_.clear();
  queued_bytes_ = 0;
  loop_->open_transports().remove(loop_link_);
  if (fd_.get() >= 0) loop_->io_backend().close_fd(fd_.release());
  tell_from_loop(*loop_, std::move(self_), now,
                 [this, error]() mutable { call_connection_lost(std::move(error)); });
}

void DatagramSocketTransport::close_for_loop(void* owner) noexcept {
  static_cast<DatagramSocketTransport*>(owner)->lose(nullptr, true);
}

void DatagramSocketTransport::call_connection_lost(std::exception_ptr error) noexcept {
  if (std::shared_ptr<DatagramProtocol> protocol = std::move(protocol_)) {
    try {
      protocol->connection_lost(std::move(error));
    } catch (...) {
      report("Exception in protocol.connection_lost()", std::current_exception());
    }
  }
}

}  // namespace asyncio::detail
