// ServerCore: what a Server handle refers to. It owns the listening sockets, accepts
// connections while serving, opens a transport with a new protocol for each (a stream server's
// protocol starts the handler task), and keeps the list of live connections so that closing
// the server can close them.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "asyncio/connections.hpp"
#include "asyncio/detail/io_backend.hpp"
#include "asyncio/detail/io_watcher.hpp"
#include "asyncio/detail/stream_transport.hpp"
#include "asyncio/detail/wait_queue.hpp"
#include "asyncio/handle.hpp"
#include "asyncio/server.hpp"

namespace asyncio::detail {

class ServerCore {
 public:
  /// A Unix-domain server's socket file, removed on close if it is still the one bound.
  struct SocketFile {
    std::string path;
    dev_t device = 0;
    ino_t inode = 0;
  };

  /// Takes ownership of `listeners`, bound non-blocking sockets, which listen once it serves.
  ServerCore(EventLoop& loop, std::vector<OwnedFd> listeners, ProtocolFactory factory,
             ServerOptions options, SocketFile file);
  ~ServerCore();
  ServerCore(const ServerCore&) = delete;
  ServerCore& operator=(const ServerCore&) = delete;

  EventLoop& loop() const noexcept { return *loop_; }
  /// Listens on the sockets and accepts from them; std::system_error when listen() fails.
  void start_serving();
  bool is_serving() const noexcept { return serving_; }
  bool is_closed() const noexcept { return closed_; }
  void close();
  void close_clients();
  void abort_clients();
  std::vector<int> sockets() const;
  std::size_t active_connections() const noexcept { return active_; }

  /// Ready once closed with no live connection.
  WakeAwaiter wait_for_closed() noexcept {
    return WakeAwaiter(closed_waiters_, closed_ && active_ == 0);
  }
  /// serve_forever's wait: ready once closed.
  WakeAwaiter wait_for_close_call() noexcept { return WakeAwaiter(close_waiters_, closed_); }
  bool serving_forever_ = false;  // a task is in serve_forever

  /// A connection this server accepted is opened, and was lost (called by the transport).
  void connection_made(StreamTransport* connection) noexcept;
  void connection_lost(StreamTransport* connection) noexcept;

 private:
  /// A listening socket: watched for readiness (and accepted from then), or, on a completion
  /// backend, accepted from by the backend (a multishot accept) that hands over each connection.
  struct Listener final : IoWatcher, IoBackend::Acceptor {
    Listener(ServerCore* owner, int fd) noexcept : IoWatcher(&on_event), owner(owner), fd(fd) {}
    void accepted(int connection) override;
    void accept_ended(int result) override;
    ServerCore* owner;
    int fd;
    bool watching = false;                // watched, or accepted from
    IoBackend::Accept* accept = nullptr;  // the backend's accept, while watching on one
    int family = AF_UNSPEC;               // the socket's (asked by the first accepted())
    TimerHandle retry;                    // set while accepting is paused after EMFILE and the like
  };
  static void on_event(IoWatcher* watcher, IoWatcher::Event event);

  void watch(Listener& listener);
  void unwatch(Listener& listener) noexcept;
  void accept_ready(Listener& listener);
  void pause_accepting(Listener& listener, int error);
  /// Stops accepting on `listener` for accept_retry_delay.
  void retry_accepting(Listener& listener);
  /// An accepted connection: TCP_NODELAY set (`tcp`), then served. `peer`: its address, when
  /// accept gave it.
  void serve_accepted(int fd, bool tcp, const SocketAddress& peer = {});
  void serve(OwnedFd fd, const SocketAddress& peer);
  template <class F>
  void for_each_connection(F f);

  EventLoop* loop_;
  std::vector<std::unique_ptr<Listener>> listeners_;  // empty once closed
  ProtocolFactory factory_;
  ServerOptions options_;
  SocketFile file_;
  // The live connections this server accepted (StreamTransports); active_ counts them.
  IntrusiveList connections_;
  std::size_t active_ = 0;
  WaitQueue closed_waiters_{"Server"};
  WaitQueue close_waiters_{"Server"};
  bool serving_ = false;
  bool closed_ = false;
};

}  // namespace asyncio::detail
