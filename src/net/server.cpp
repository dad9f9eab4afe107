// Servers: binding the listening sockets, accepting (with a pause instead of a busy loop when
// descriptors run out), a transport and protocol per connection (for a stream server, a
// StreamReaderProtocol that starts the handler task), and closing.
#include "asyncio/server.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include "asyncio/detail/server_core.hpp"
#include "asyncio/detail/stream_transport.hpp"
#include "asyncio/detail/syscall.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/exceptions.hpp"
#include "asyncio/getaddrinfo.hpp"
#include "asyncio/task.hpp"
#include "tls/tls_setup.hpp"

namespace asyncio::detail {

ServerCore::ServerCore(EventLoop& loop, std::vector<OwnedFd> listeners, ProtocolFactory factory,
                       ServerOptions options, SocketFile file)
    : loop_(&loop), factory_(std::move(factory)), options_(options), file_(std::move(file)) {
  for (OwnedFd& fd : listeners) {
    listeners_.push_back(std::make_unique<Listener>(this, fd.get()));
    fd.release();  // now the listener's
  }
  if (!options_.start_serving) return;
  try {
    start_serving();
  } catch (...) {
    close();  // the destructor does not run: give the sockets back here
    throw;
  }
}

ServerCore::~ServerCore() {
  close();
  // Connections still flushing outlive the server: they no longer report to it.
  for_each_connection([](StreamTransport* connection) { connection->detach_from_server(); });
}

template <class F>
void ServerCore::for_each_connection(F f) {
  connections_.for_each([&f](ListHook* hook) { f(static_cast<StreamTransport*>(hook)); });
}

std::vector<int> ServerCore::sockets() const {
  std::vector<int> fds;
  for (const auto& listener : listeners_) fds.push_back(listener->fd);
  return fds;
}

// Python's Server._start_serving: the sockets listen from here on, so that until then a
// connection is refused rather than left waiting in a backlog nobody accepts from.
void ServerCore::start_serving() {
  if (serving_ || closed_) return;
  for (auto& listener : listeners_) {
    if (::listen(listener->fd, options_.backlog) < 0) throw_errno(errno, "listen");
  }
  serving_ = true;
  for (auto& listener : listeners_) watch(*listener);
}

void ServerCore::watch(Listener& listener) {
  if (listener.watching) return;
  listener.accept = loop_->io_backend().start_accept(listener.fd, listener);
  if (!listener.accept)
    loop_->io_backend().add_watcher(listener.fd, IoBackend::reader, &listener, false);
  listener.watching = true;
}

void ServerCore::unwatch(Listener& listener) noexcept {
  if (!listener.watching) return;
  listener.watching = false;
  if (listener.accept)
    loop_->io_backend().abandon_accept(std::exchange(listener.accept, nullptr));
  else
    loop_->io_backend().detach_watcher(listener.fd, IoBackend::reader);
}

// A completion backend's accept.
void ServerCore::Listener::accepted(int connection) {
  if (!owner->serving_) {  // (the accept is being abandoned)
    ::close(connection);
    return;
  }
  if (family == AF_UNSPEC) family = SocketAddress::local_of(fd).family();
  owner->serve_accepted(connection, family == AF_INET || family == AF_INET6);
}

void ServerCore::Listener::accept_ended(int result) {
  accept = nullptr;
  watching = false;
  ServerCore& server = *owner;
  if (result == IoBackend::receive_stopped || result == -ECONNABORTED || result == -EPROTO ||
      result == -EINTR || result == -EAGAIN) {
    if (server.serving_ && !server.loop_->is_closed()) server.watch(*this);  // accept on
  } else if (result == -EMFILE || result == -ENFILE || result == -ENOBUFS || result == -ENOMEM) {
    server.pause_accepting(*this, -result);
  } else {
    server.loop_->call_exception_handler({"Error on accepting a connection",
                                          std::make_exception_ptr(errno_error(-result, "accept")),
                                          SocketAddress::local_of(fd).to_string()});
    server.retry_accepting(*this);
  }
}

void ServerCore::on_event(IoWatcher* watcher, IoWatcher::Event event) {
  auto& listener = *static_cast<Listener*>(watcher);
  if (event == IoWatcher::Event::removed) {  // the loop closed
    listener.watching = false;
    return;
  }
  listener.owner->accept_ready(listener);
}

// Takes up to `backlog` connections per wake-up, as CPython does.
void ServerCore::accept_ready(Listener& listener) {
  for (int taken = 0; taken < options_.backlog && serving_;) {
    sockaddr_storage address;
    socklen_t size;
    int fd;
    try {
      fd = accept_connection(listener.fd, address, size);  // the same path as sock_accept
    } catch (const std::system_error& e) {
      const int error = e.code().value();
      if (error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM)
        return pause_accepting(listener, error);
      loop_->call_exception_handler({"Error on accepting a connection", std::current_exception(),
                                     SocketAddress::local_of(listener.fd).to_string()});
      return;
    }
    if (fd < 0) return;  // none left
    ++taken;
    serve_accepted(fd, address.ss_family == AF_INET || address.ss_family == AF_INET6,
                   SocketAddress(reinterpret_cast<const sockaddr*>(&address), size));
  }
}

void ServerCore::serve_accepted(int fd, bool tcp, const SocketAddress& peer) {
  if (tcp) {
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  serve(OwnedFd(fd), peer);
}

// Out of descriptors or memory: the pending connection stays in the backlog, so the listener
// would be ready again at once. Stop watching it for a while instead of spinning.
void ServerCore::pause_accepting(Listener& listener, int error) {
  loop_->call_exception_handler({"socket.accept() out of system resource",
                                 std::make_exception_ptr(errno_error(error, "accept")),
                                 SocketAddress::local_of(listener.fd).to_string()});
  retry_accepting(listener);
}

void ServerCore::retry_accepting(Listener& listener) {
  unwatch(listener);
  listener.retry = loop_->call_later(options_.accept_retry_delay, [&listener] {
    listener.retry = {};
    if (listener.owner->serving_) listener.owner->watch(listener);
  });
}

// Python's _accept_connection2: a protocol from the factory, and a transport that calls its
// connection_made. What fails goes to the exception handler, and the connection is closed.
void ServerCore::serve(OwnedFd fd, const SocketAddress& peer) {
  try {
    std::shared_ptr<StreamProtocol> protocol = factory_();
    if (options_.ssl)  // the TLS layer is the socket's protocol, and calls the factory's
      protocol = TLSTransport::create(*loop_, tls_settings(options_), std::move(protocol));
    StreamTransport::open(*loop_, std::move(fd), StreamTransport::Kind::socket, protocol, this,
                          peer);
  } catch (...) {
    loop_->call_exception_handler(
        {"Error on transport creation for incoming connection", std::current_exception(), ""});
  }
}

void ServerCore::connection_made(StreamTransport* connection) noexcept {
  connections_.push_back(connection);
  ++active_;
}

void ServerCore::connection_lost(StreamTransport* connection) noexcept {
  connection->unlink();
  if (--active_ == 0 && closed_) closed_waiters_.wake_all();
}

void ServerCore::close() {
  if (closed_) return;
  closed_ = true;
  serving_ = false;
  for (auto& listener : listeners_) {
    unwatch(*listener);
    listener->retry.cancel();
    loop_->io_backend().close_fd(listener->fd);
  }
  listeners_.clear();
  if (!file_.path.empty()) {  // remove the socket file, unless another server bound the path since
    struct stat now;
    if (::stat(file_.path.c_str(), &now) == 0 && now.st_dev == file_.device &&
        now.st_ino == file_.inode) {
      ::unlink(file_.path.c_str());
    }
  }
  close_waiters_.wake_all();
  if (active_ == 0) closed_waiters_.wake_all();
}

void ServerCore::close_clients() {
  for_each_connection([](StreamTransport* connection) { connection->close(); });
}

void ServerCore::abort_clients() {
  for_each_connection([](StreamTransport* connection) { connection->abort(); });
}

}  // namespace asyncio::detail

namespace asyncio {

namespace {

using detail::throw_errno;

/// A bound socket for a server, not yet listening.
detail::OwnedFd make_listener(int family, int protocol, const SocketAddress& address,
                              const ServerOptions& options) {
  detail::OwnedFd fd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol));
  if (fd.get() < 0) throw_errno(errno, "socket");
  const int one = 1;
  if (family != AF_UNIX) {
    if (options.reuse_address) ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (options.reuse_port &&
        ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
      throw_errno(errno, "setsockopt(SO_REUSEPORT)");
    }
    // An IPv6 socket takes IPv6 only, so that "" can bind IPv4 and IPv6 side by side.
    if (family == AF_INET6) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  if (::bind(fd.get(), address.data(), address.size()) < 0)
    throw_errno(errno, "error while attempting to bind on address " + address.to_string());
  return fd;  // listening from ServerCore::start_serving
}

/// Runs a connection's handler; what escapes it (but cancellation) goes to the loop's exception
/// handler and closes the connection, as CPython's StreamReaderProtocol does. It holds the
/// handler object: a capturing lambda's frame refers to it, and may outlive the server.
Coro<void> run_client(std::shared_ptr<const ClientConnected> handler,
                      std::shared_ptr<StreamReaderProtocol> protocol) {
  std::exception_ptr failure;
  try {
    co_await (*handler)(StreamReader(protocol), StreamWriter(protocol));
  } catch (const CancelledError&) {
    throw;
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) {
    detail::ConnectionTransport& transport = *protocol->transport();
    transport.loop().call_exception_handler(
        {"Unhandled exception in client_connected_cb", failure, ""});
    transport.close();
  }
}

/// StreamReaderProtocol's ClientTask: the handler's task, started from connection_made.
void start_client(const std::shared_ptr<const void>& handler,
                  const std::shared_ptr<StreamReaderProtocol>& protocol) {
  protocol->transport()->loop().create_task(
      run_client(std::static_pointer_cast<const ClientConnected>(handler), protocol));
}

/// The same for a plain callable handler: called from connection_made itself, as Python's.
void call_client(const std::shared_ptr<const void>& handler,
                 const std::shared_ptr<StreamReaderProtocol>& protocol) {
  (*std::static_pointer_cast<const ClientConnectedCallback>(handler))(StreamReader(protocol),
                                                                      StreamWriter(protocol));
}

/// A stream server's protocol factory: a StreamReaderProtocol whose connection starts the
/// handler, a `Handler`, with `start`.
template <class Handler>
ProtocolFactory stream_protocols(Handler handler, StreamReaderProtocol::ClientTask start,
                                 std::size_t limit) {
  std::shared_ptr<const void> shared = std::make_shared<const Handler>(std::move(handler));
  return [shared = std::move(shared), start, limit]() -> std::shared_ptr<StreamProtocol> {
    return std::make_shared<StreamReaderProtocol>(limit, start, shared);
  };
}

}  // namespace

Coro<Server> start_server(ClientConnected handler, std::string host, std::uint16_t port,
                          ServerOptions options) {
  return detail::create_server(stream_protocols(std::move(handler), &start_client, options.limit),
                               std::move(host), port, options);
}

Coro<Server> start_unix_server(ClientConnected handler, std::string path, ServerOptions options) {
  return detail::create_unix_server(
      stream_protocols(std::move(handler), &start_client, options.limit), std::move(path), options);
}

Coro<Server> detail::start_callback_server(ClientConnectedCallback handler, std::string host,
                                           std::uint16_t port, ServerOptions options) {
  return create_server(stream_protocols(std::move(handler), &call_client, options.limit),
                       std::move(host), port, options);
}

Coro<Server> detail::start_unix_callback_server(ClientConnectedCallback handler, std::string path,
                                                ServerOptions options) {
  return create_unix_server(stream_protocols(std::move(handler), &call_client, options.limit),
                            std::move(path), options);
}

Coro<Server> detail::create_server(ProtocolFactory factory, std::string host, std::uint16_t port,
                                   ServerOptions options) {
  detail::tls_settings(options);  // bad TLS options raise before binding
  std::vector<AddressInfo> addresses =
      co_await getaddrinfo(host, port, AF_UNSPEC, SOCK_STREAM, 0, AI_PASSIVE);
  std::vector<detail::OwnedFd> listeners;  // closed unless handed over to the server
  std::vector<SocketAddress> bound;
  for (const AddressInfo& info : addresses) {
    if (std::find(bound.begin(), bound.end(), info.address) != bound.end())
      continue;  // a duplicate answer
    detail::OwnedFd fd;
    try {
      fd = make_listener(info.family, info.protocol, info.address, options);
    } catch (const std::system_error& error) {
      // An address family the host lacks (no IPv6) is skipped for the wildcard, as Python does.
      if (host.empty() && error.code() == std::errc::address_family_not_supported) continue;
      throw;
    }
    listeners.push_back(std::move(fd));
    bound.push_back(info.address);
  }
  if (listeners.empty())
    throw std::system_error(EADDRNOTAVAIL, std::generic_category(), "no address to listen on");
  co_return Server(std::make_shared<detail::ServerCore>(get_running_loop(), std::move(listeners),
                                                        std::move(factory), options,
                                                        detail::ServerCore::SocketFile{}));
}

Coro<Server> detail::create_unix_server(ProtocolFactory factory, std::string path,
                                        ServerOptions options) {
  detail::tls_settings(options);
  const SocketAddress address = SocketAddress::unix_path(path);
  struct stat existing;
  if (!path.empty() && path[0] != '\0' && ::stat(path.c_str(), &existing) == 0 &&
      S_ISSOCK(existing.st_mode)) {
    ::unlink(path.c_str());  // a stale socket file from an earlier server
  }
  std::vector<detail::OwnedFd> listeners;
  listeners.push_back(make_listener(AF_UNIX, 0, address, options));
  detail::ServerCore::SocketFile file{path};
  struct stat bound;
  if (!path.empty() && path[0] != '\0' && ::stat(path.c_str(), &bound) == 0) {
    file.device = bound.st_dev;
    file.inode = bound.st_ino;
  } else {
    file.path.clear();  // an abstract socket: no file to remove
  }
  co_return Server(std::make_shared<detail::ServerCore>(
      get_running_loop(), std::move(listeners), std::move(factory), options, std::move(file)));
}

void Server::close() { core_->close(); }
void Server::close_clients() { core_->close_clients(); }
void Server::abort_clients() { core_->abort_clients(); }
void Server::start_serving() { core_->start_serving(); }
bool Server::is_serving() const noexcept { return core_->is_serving(); }
std::vector<int> Server::sockets() const { return core_->sockets(); }
std::size_t Server::active_connections() const noexcept { return core_->active_connections(); }
EventLoop& Server::get_loop() const noexcept { return core_->loop(); }

std::vector<SocketAddress> Server::addresses() const {
  std::vector<SocketAddress> result;
  for (int fd : core_->sockets()) result.push_back(SocketAddress::local_of(fd));
  return result;
}

namespace {

Coro<void> wait_server_closed(std::shared_ptr<detail::ServerCore> core) {
  co_await core->wait_for_closed();
}

Coro<void> serve_until_closed(std::shared_ptr<detail::ServerCore> core) {
  if (core->serving_forever_)
    throw RuntimeError("server is already being awaited on serve_forever()");
  if (core->is_closed()) throw RuntimeError("Server is closed");
  core->start_serving();
  core->serving_forever_ = true;
  std::exception_ptr cancelled;
  try {
    co_await core->wait_for_close_call();
  } catch (const CancelledError&) {
    cancelled = std::current_exception();
  }
  core->serving_forever_ = false;
  if (cancelled) {  // Python: close the server, wait until it is closed, raise the cancellation
    core->close();
    co_await core->wait_for_closed();
    std::rethrow_exception(cancelled);
  }
}

}  // namespace

Coro<void> Server::wait_closed() { return wait_server_closed(core_); }
Coro<void> Server::serve_forever() { return serve_until_closed(core_); }

}  // namespace asyncio
