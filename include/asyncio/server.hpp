// Python's stream servers: start_server / start_unix_server, which call a handler with a
// StreamReader and StreamWriter for each accepted connection, and the Server they return.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "asyncio/coro.hpp"
#include "asyncio/detail/loop_bound.hpp"
#include "asyncio/socket_address.hpp"
#include "asyncio/streams.hpp"

namespace asyncio {

namespace detail {
class ServerCore;
}

/// What each accepted connection runs, in a task of its own. An exception escaping it goes to
/// the loop's exception handler and closes the connection.
using ClientConnected = std::function<Coro<void>(StreamReader, StreamWriter)>;
/// A handler that is a plain callable (Python's client_connected_cb that is not a coroutine
/// function): called with the reader and writer as the connection is made, in no task of its
/// own. An exception escaping it goes to the exception handler and aborts the connection.
using ClientConnectedCallback = std::function<void(StreamReader, StreamWriter)>;

struct ServerOptions {
  std::size_t limit = DEFAULT_LIMIT;  // each StreamReader's limit
  int backlog = 100;  // listen(2)'s backlog; also the most connections taken per wake-up
  /// TLS on every connection with this server-side context (Python's ssl=): the handler (or
  /// the protocol's connection_made) runs once the handshake is done.
  std::shared_ptr<ssl::SSLContext> ssl{};
  bool reuse_address = true;  // SO_REUSEADDR (TCP)
  bool reuse_port = false;    // SO_REUSEPORT (TCP)
  /// How long a client's handshake may take (60 s unset) before its connection is aborted, and
  /// how long closing waits for its close_notify (30 s unset). Only with ssl.
  std::optional<std::chrono::milliseconds> ssl_handshake_timeout{};
  std::optional<std::chrono::milliseconds> ssl_shutdown_timeout{};
  /// Listen and accept from the start; false: the sockets are only bound, and connections are
  /// refused until start_serving() or serve_forever() (Python's start_serving=False).
  bool start_serving = true;
  /// How long accepting pauses after running out of descriptors or memory (EMFILE, ENFILE,
  /// ENOBUFS, ENOMEM), instead of spinning on the pending connection (CPython: 1 s).
  std::chrono::milliseconds accept_retry_delay{1000};
};

/// A listening server. A cheap handle: copies refer to the same server, which closes (as by
/// close()) when the last handle goes.
class Server : detail::LoopBound {
 public:
  explicit Server(std::shared_ptr<detail::ServerCore> core) noexcept : core_(std::move(core)) {}

  /// Stops listening (closing the listening sockets); the live connections stay open, as
  /// Python's close() leaves them. wait_closed() then waits for them; close_clients() and
  /// abort_clients() end them.
  void close();
  /// Closes every live connection, after its buffered bytes are sent.
  void close_clients();
  /// Closes every live connection now, dropping buffered bytes.
  void abort_clients();
  /// Waits until the server is closed and every connection it accepted is closed.
  Coro<void> wait_closed();
  /// Starts listening and accepting, if not already; std::system_error when listen() fails.
  void start_serving();
  bool is_serving() const noexcept;
  /// Accepts until close() is called (then returns). If the awaiting task is cancelled, closes
  /// the server, waits until it is closed, and raises CancelledError. RuntimeError when another
  /// task is already in serve_forever, or the server is closed.
  Coro<void> serve_forever();

  /// The listening sockets' fds (empty once closed), and their addresses.
  std::vector<int> sockets() const;
  std::vector<SocketAddress> addresses() const;
  /// How many accepted connections are still open.
  std::size_t active_connections() const noexcept;
  EventLoop& get_loop() const noexcept;

 private:
  std::shared_ptr<detail::ServerCore> core_{};
};

/// Listens on host:port (host "" means every interface, IPv4 and IPv6; a name is resolved off
/// the loop's thread; port 0 picks a free port) and serves each connection with `handler`.
/// std::system_error when an address cannot be bound.
Coro<Server> start_server(ClientConnected handler, std::string host, std::uint16_t port,
                          ServerOptions options = {});
/// Listens on the Unix-domain socket `path`. A stale socket file there is removed first, and
/// the file is removed again when the server closes.
Coro<Server> start_unix_server(ClientConnected handler, std::string path,
                               ServerOptions options = {});

namespace detail {
Coro<Server> start_callback_server(ClientConnectedCallback handler, std::string host,
                                   std::uint16_t port, ServerOptions options);
Coro<Server> start_unix_callback_server(ClientConnectedCallback handler, std::string path,
                                        ServerOptions options);
template <class F>
concept PlainClientCallback = std::is_void_v<std::invoke_result_t<F&, StreamReader, StreamWriter>>;
}  // namespace detail

/// start_server and start_unix_server with a plain callable handler (ClientConnectedCallback).
template <class F>
  requires detail::PlainClientCallback<F>
Coro<Server> start_server(F handler, std::string host, std::uint16_t port,
                          ServerOptions options = {}) {
  return detail::start_callback_server(ClientConnectedCallback(std::move(handler)), std::move(host),
                                       port, options);
}
template <class F>
  requires detail::PlainClientCallback<F>
Coro<Server> start_unix_server(F handler, std::string path, ServerOptions options = {}) {
  return detail::start_unix_callback_server(ClientConnectedCallback(std::move(handler)),
                                            std::move(path), options);
}

}  // namespace asyncio
