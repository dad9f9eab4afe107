// DatagramSocketTransport: the DatagramTransport (transports.hpp) over a UDP or Unix datagram
// socket, CPython's _SelectorDatagramTransport. Each readiness event receives one datagram
// into a buffer on the stack and hands it to datagram_received. sendto tries the socket first;
// what it does not take waits in a queue of whole datagrams while the transport is the fd's
// writer, with pause_writing / resume_writing at the queue's high- and low-water marks. An OS
// error receiving or sending (ECONNREFUSED from a connected peer, say) goes to error_received
// and the transport stays open, as in Python.
//
// Lifetime as StreamTransport's: an open transport owns itself; once closed (close() with the
// queue sent, or abort()) the fd is closed at once and connection_lost is called from the loop;
// closing the loop aborts it and calls connection_lost there and then.
#pragma once

#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "asyncio/detail/io_watcher.hpp"
#include "asyncio/detail/loop_link.hpp"
#include "asyncio/detail/owned_fd.hpp"
#include "asyncio/detail/write_flow.hpp"
#include "asyncio/socket_address.hpp"
#include "asyncio/transports.hpp"

namespace asyncio {
class EventLoop;
}

namespace asyncio::detail {

class DatagramSocketTransport final : public DatagramTransport,
                                      public std::enable_shared_from_this<DatagramSocketTransport> {
 public:
  static constexpr std::size_t max_datagram = 256 * 1024;  // received per event, at most

  /// Takes `fd` (non-blocking; closed when this throws), calls connection_made and starts
  /// receiving. `peer` is the connected address, if any (sendto's address must then be it or
  /// none).
  static std::shared_ptr<DatagramSocketTransport> open(EventLoop& loop, OwnedFd fd,
                                                       std::optional<SocketAddress> peer,
                                                       std::shared_ptr<DatagramProtocol> protocol);
  ~DatagramSocketTransport() override;

  std::any get_extra_info(std::string_view name) const override;
  bool is_closing() const noexcept override { return closing_ || lost_; }
  void close() override;
  std::shared_ptr<BaseProtocol> get_protocol() const noexcept override { return protocol_; }
  void set_protocol(std::shared_ptr<BaseProtocol> protocol) override;

  void sendto(std::string_view data, std::optional<SocketAddress> address = std::nullopt) override;
  void abort() override { lose(nullptr); }
  std::size_t get_write_buffer_size() const noexcept override { return queued_bytes_; }
  void set_write_buffer_limits(std::optional<std::size_t> high = std::nullopt,
                               std::optional<std::size_t> low = std::nullopt) override;
  std::pair<std::size_t, std::size_t> get_write_buffer_limits() const noexcept override {
    return flow_.limits();
  }

 private:
  struct Watch : IoWatcher {
    Watch(Fn fn, DatagramSocketTransport* owner) noexcept : IoWatcher(fn), owner(owner) {}
    DatagramSocketTransport* owner;
    bool installed = false;
  };
  struct Queued {
    std::string data;
    std::optional<SocketAddress> address;
  };

  DatagramSocketTransport(EventLoop& loop, OwnedFd fd, std::optional<SocketAddress> peer) noexcept;
  void start();
  static void on_read_event(IoWatcher* watcher, IoWatcher::Event event);
  static void on_write_event(IoWatcher* watcher, IoWatcher::Event event);
  static void close_for_loop(void* owner) noexcept;
  void install(Watch& watch, int direction);
  void remove(Watch& watch, int direction) noexcept;
  void read_ready();
  void write_ready();
  /// One sendto(2): the bytes sent, or -1 when it would block; other errors to error_received.
  bool send_one(std::string_view data, const std::optional<SocketAddress>& address);
  void error_received(int error) noexcept;
  void report(const char* message, std::exception_ptr error) noexcept;
  /// report() as WriteFlow takes it.
  auto reporter() noexcept {
    return [this](const char* message, std::exception_ptr error) { report(message, error); };
  }
  void lose(std::exception_ptr error, bool now = false) noexcept;
  void call_connection_lost(std::exception_ptr error) noexcept;

  EventLoop* loop_;
  OwnedFd fd_;  // -1 once lost
  std::optional<SocketAddress> peer_;
  SocketAddress sockname_;  // asked when it opens (empty if the socket could not tell)
  std::shared_ptr<DatagramProtocol> protocol_;     // null once connection_lost was called
  std::shared_ptr<DatagramSocketTransport> self_;  // set while open
  LoopLink loop_link_;
  std::deque<Queued> queue_;  // datagrams the socket did not take yet, in order
  std::size_t queued_bytes_ = 0;
  Watch read_watch_;
  Watch write_watch_;
  WriteFlow flow_;
  // Invariants: write_watch_ installed iff !queue_.empty() and !lost_; read_watch_ installed
  // while open and not closing; lost_ implies fd_ == -1 and no watch installed.
  bool closing_ = false;
  bool lost_ = false;
};

}  // namespace asyncio::detail
