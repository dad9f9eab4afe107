// The calls that make transports at the protocol level: create_connection,
// create_unix_connection, connect_accepted_socket, connect_read_pipe, connect_write_pipe,
// create_server and create_unix_server (Python's loop methods of those names; here free
// functions on the running loop, like open_connection and start_server). Each takes a factory:
// a callable returning a std::shared_ptr to a Protocol or BufferedProtocol (protocols.hpp),
// called once per connection; the results give the protocol back with the factory's type.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "asyncio/connection_options.hpp"
#include "asyncio/coro.hpp"
#include "asyncio/datagram.hpp"
#include "asyncio/detail/byte_buffer.hpp"
#include "asyncio/detail/owned_fd.hpp"
#include "asyncio/protocols.hpp"
#include "asyncio/server.hpp"
#include "asyncio/subprocess.hpp"
#include "asyncio/transports.hpp"

namespace asyncio {

/// A protocol factory's product, for the typed results below.
template <class Factory>
using ProtocolOf = typename std::invoke_result_t<Factory&>::element_type;

/// A connection as create_connection returns it: Python's (transport, protocol) pair.
template <class P>
using Connection = std::pair<std::shared_ptr<Transport>, std::shared_ptr<P>>;

/// What makes one StreamProtocol per connection (type-erased form).
using ProtocolFactory = std::function<std::shared_ptr<StreamProtocol>()>;

namespace detail {
using StreamConnection = Connection<StreamProtocol>;
Coro<StreamConnection> create_connection(ProtocolFactory factory, std::string host,
                                         std::uint16_t port, ConnectionOptions options);
Coro<StreamConnection> create_unix_connection(ProtocolFactory factory, std::string path,
                                              ConnectionOptions options);
Coro<StreamConnection> connect_accepted_socket(ProtocolFactory factory, OwnedFd fd,
                                               ConnectionOptions options);
/// `early_records`, when given, holds bytes that came before the upgrade (a StreamReader's
/// buffer): they are taken as the start of the handshake once the TLS layer is made.
Coro<std::shared_ptr<Transport>> start_tls(std::shared_ptr<Transport> transport,
                                           std::shared_ptr<StreamProtocol> protocol,
                                           std::shared_ptr<ssl::SSLContext> context,
                                           StartTLSOptions options, ByteBuffer* early_records);
Coro<StreamConnection> connect_pipe(ProtocolFactory factory, int fd, bool read_end);
Coro<Server> create_server(ProtocolFactory factory, std::string host, std::uint16_t port,
                           ServerOptions options);
Coro<Server> create_unix_server(ProtocolFactory factory, std::string path, ServerOptions options);
using DatagramConnection =
    std::pair<std::shared_ptr<DatagramTransport>, std::shared_ptr<DatagramProtocol>>;
using DatagramProtocolFactory = std::function<std::shared_ptr<DatagramProtocol>()>;
Coro<DatagramConnection> create_datagram_endpoint(DatagramProtocolFactory factory,
                                                  DatagramOptions options);
using SubprocessConnection =
    std::pair<std::shared_ptr<SubprocessTransport>, std::shared_ptr<SubprocessProtocol>>;
using SubprocessProtocolFactory = std::function<std::shared_ptr<SubprocessProtocol>()>;
Coro<SubprocessConnection> subprocess_exec(SubprocessProtocolFactory factory, std::string program,
                                           std::vector<std::string> args,
                                           const SubprocessOptions& options, bool shell);

/// `factory` as a std::function making the Base its protocols derive from (StreamProtocol:
/// a Protocol or BufferedProtocol; DatagramProtocol; SubprocessProtocol).
template <class Base = StreamProtocol, class Factory>
std::function<std::shared_ptr<Base>()> erase(Factory factory) {
  static_assert(std::is_base_of_v<Base, ProtocolOf<Factory>>,
                "the factory must return a std::shared_ptr to a protocol of the kind this call "
                "takes (Protocol or BufferedProtocol, DatagramProtocol, SubprocessProtocol)");
  return [factory = std::move(factory)]() mutable -> std::shared_ptr<Base> { return factory(); };
}
/// The connection with its protocol as the factory's type.
template <class P, class T, class Base>
Coro<std::pair<std::shared_ptr<T>, std::shared_ptr<P>>> typed(
    Coro<std::pair<std::shared_ptr<T>, std::shared_ptr<Base>>> connecting) {
  auto connection = co_await std::move(connecting);
  co_return std::pair(std::move(connection.first),
                      std::static_pointer_cast<P>(std::move(connection.second)));
}

}  // namespace detail

/// Python's loop.create_connection(protocol_factory, host, port, ...): resolves host (off the
/// loop's thread), connects to its addresses in turn (or racing them, with
/// happy_eyeballs_delay), makes one protocol with `factory` (a callable returning a
/// std::shared_ptr to a Protocol or BufferedProtocol) and calls its connection_made. Throws
/// the connect error (std::system_error), or one naming every address's error.
template <class Factory>
Coro<Connection<ProtocolOf<Factory>>> create_connection(Factory factory, std::string host,
                                                        std::uint16_t port,
                                                        ConnectionOptions options = {}) {
  return detail::typed<ProtocolOf<Factory>>(detail::create_connection(
      detail::erase(std::move(factory)), std::move(host), port, std::move(options)));
}

/// Python's loop.create_unix_connection: the same over the Unix-domain socket at `path` (of
/// the options, only ssl, server_hostname and the ssl timeouts apply; with ssl,
/// server_hostname must be given, as in Python: "" when no name is to be sent or checked).
template <class Factory>
Coro<Connection<ProtocolOf<Factory>>> create_unix_connection(Factory factory, std::string path,
                                                             ConnectionOptions options = {}) {
  return detail::typed<ProtocolOf<Factory>>(detail::create_unix_connection(
      detail::erase(std::move(factory)), std::move(path), std::move(options)));
}

/// Python's loop.connect_accepted_socket: wraps an already connected stream socket `fd`
/// (taken over and made non-blocking; closed if this throws); with options.ssl (a server
/// context) as the server side of TLS, returned once the handshake is done.
template <class Factory>
Coro<Connection<ProtocolOf<Factory>>> connect_accepted_socket(Factory factory, int fd,
                                                              ConnectionOptions options = {}) {
  return detail::typed<ProtocolOf<Factory>>(detail::connect_accepted_socket(
      detail::erase(std::move(factory)), detail::OwnedFd(fd), std::move(options)));
}

/// Python's loop.start_tls(transport, protocol, sslcontext, ...): upgrades a live connection
/// to TLS. From now on `transport` feeds the TLS layer, which calls `protocol` (not its
/// connection_made again); the result is the transport to write to from now on, returned once
/// the handshake is done. The handshake's error is raised, and the connection then closed.
/// Over a TLS transport this makes TLS within TLS.
inline Coro<std::shared_ptr<Transport>> start_tls(std::shared_ptr<Transport> transport,
                                                  std::shared_ptr<StreamProtocol> protocol,
                                                  std::shared_ptr<ssl::SSLContext> context,
                                                  StartTLSOptions options = {}) {
  return detail::start_tls(std::move(transport), std::move(protocol), std::move(context),
                           std::move(options), nullptr);
}

/// Python's loop.connect_read_pipe / connect_write_pipe at the protocol level: `fd` (a pipe,
/// FIFO, socket or character device, taken over and made non-blocking) is read from, or
/// written to. std::invalid_argument for any other kind of file ("Pipe transport is for
/// pipes/sockets/character devices only"); fd is then left open.
template <class Factory>
Coro<Connection<ProtocolOf<Factory>>> connect_read_pipe(Factory factory, int fd) {
  return detail::typed<ProtocolOf<Factory>>(
      detail::connect_pipe(detail::erase(std::move(factory)), fd, true));
}
template <class Factory>
Coro<Connection<ProtocolOf<Factory>>> connect_write_pipe(Factory factory, int fd) {
  return detail::typed<ProtocolOf<Factory>>(
      detail::connect_pipe(detail::erase(std::move(factory)), fd, false));
}

/// Python's loop.create_server(protocol_factory, host, port, ...): listens as start_server
/// does (ServerOptions' limit is unused here), and makes one protocol per accepted
/// connection.
template <class Factory>
Coro<Server> create_server(Factory factory, std::string host, std::uint16_t port,
                           ServerOptions options = {}) {
  return detail::create_server(detail::erase(std::move(factory)), std::move(host), port, options);
}
/// Python's loop.create_unix_server: the same on the Unix-domain socket `path`.
template <class Factory>
Coro<Server> create_unix_server(Factory factory, std::string path, ServerOptions options = {}) {
  return detail::create_unix_server(detail::erase(std::move(factory)), std::move(path), options);
}

/// The options of subprocess_exec / subprocess_shell unless given: every stream a pipe, as
/// Python's loop.subprocess_exec defaults (create_subprocess_exec's inherit them instead).
inline constexpr SubprocessOptions subprocess_pipes{
    .stdin = subprocess::PIPE, .stdout = subprocess::PIPE, .stderr = subprocess::PIPE};

/// Python's loop.subprocess_exec(protocol_factory, program, *args, ...): starts `program`
/// (looked up in PATH) with `args`, as create_subprocess_exec does, and a SubprocessTransport
/// over it whose protocol `factory` makes (a callable returning a std::shared_ptr to a
/// SubprocessProtocol). Options left unset are inherited (Python's None): pass
/// subprocess::PIPE for the pipes wanted, as subprocess_pipes does. std::system_error when the
/// child cannot be started.
template <class Factory>
  requires std::is_base_of_v<SubprocessProtocol, ProtocolOf<Factory>>
Coro<std::pair<std::shared_ptr<SubprocessTransport>, std::shared_ptr<ProtocolOf<Factory>>>>
subprocess_exec(Factory factory, std::string program, std::vector<std::string> args = {},
                const SubprocessOptions& options = subprocess_pipes) {
  return detail::typed<ProtocolOf<Factory>>(
      detail::subprocess_exec(detail::erase<SubprocessProtocol>(std::move(factory)),
                              std::move(program), std::move(args), options, false));
}

/// Python's loop.subprocess_shell(protocol_factory, cmd, ...): `cmd` run by /bin/sh -c.
template <class Factory>
  requires std::is_base_of_v<SubprocessProtocol, ProtocolOf<Factory>>
Coro<std::pair<std::shared_ptr<SubprocessTransport>, std::shared_ptr<ProtocolOf<Factory>>>>
subprocess_shell(Factory factory, std::string cmd,
                 const SubprocessOptions& options = subprocess_pipes) {
  return detail::typed<ProtocolOf<Factory>>(detail::subprocess_exec(
      detail::erase<SubprocessProtocol>(std::move(factory)), std::move(cmd), {}, options, true));
}

/// Python's loop.create_datagram_endpoint(protocol_factory, local_addr, remote_addr, ...):
/// opens the socket as the awaitable form does (datagram.hpp: UDP, bound and/or connected,
/// reuse_port, allow_broadcast; or a Unix datagram socket with local_path / remote_path),
/// makes one protocol with `factory` (a callable returning a std::shared_ptr to a
/// DatagramProtocol) and calls its connection_made. std::system_error on failure.
template <class Factory>
  requires std::is_base_of_v<DatagramProtocol, ProtocolOf<Factory>>
Coro<std::pair<std::shared_ptr<DatagramTransport>, std::shared_ptr<ProtocolOf<Factory>>>>
create_datagram_endpoint(Factory factory, DatagramOptions options = {}) {
  return detail::typed<ProtocolOf<Factory>>(detail::create_datagram_endpoint(
      detail::erase<DatagramProtocol>(std::move(factory)), std::move(options)));
}

}  // namespace asyncio
