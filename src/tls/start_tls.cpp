// TLS on connections: the keyword arguments, a TLS connection over a connected socket, and
// start_tls on a live one (CPython's base_events.start_tls and StreamWriter.start_tls).
#include <stdexcept>
#include <string>
#include <utility>

#include "asyncio/connections.hpp"
#include "asyncio/detail/stream_transport.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/future.hpp"
#include "asyncio/streams.hpp"
#include "tls/tls_setup.hpp"

namespace asyncio::detail {

namespace {

void check_timeout(const std::optional<std::chrono::milliseconds>& timeout, const char* name,
                   bool with_ssl) {
  if (!timeout) return;
  if (!with_ssl) throw std::invalid_argument(std::string(name) + " is only meaningful with ssl");
  if (timeout->count() <= 0)
    throw std::invalid_argument(std::string(name) + " should be a positive number, got " +
                                std::to_string(timeout->count()) + " ms");
}

void apply_timeouts(TLSSettings& settings,
                    const std::optional<std::chrono::milliseconds>& handshake,
                    const std::optional<std::chrono::milliseconds>& shutdown) {
  if (handshake) settings.handshake_timeout = *handshake;
  if (shutdown) settings.shutdown_timeout = *shutdown;
}

/// Waits for `tls`'s handshake; if it fails, or the waiting task is cancelled, the connection
/// is aborted and the error raised.
Coro<void> finish_handshake(std::shared_ptr<TLSTransport> tls) {
  Future<void> done = tls->handshake_done();
  try {
    co_await done;
  } catch (...) {
    tls->abort();
    throw;
  }
}

}  // namespace

TLSSettings tls_settings(const ConnectionOptions& options, const std::string& host,
                         bool server_side) {
  const bool with_ssl = options.ssl != nullptr;
  if (options.server_hostname && !with_ssl)
    throw std::invalid_argument("server_hostname is only meaningful with ssl");
  check_timeout(options.ssl_handshake_timeout, "ssl_handshake_timeout", with_ssl);
  check_timeout(options.ssl_shutdown_timeout, "ssl_shutdown_timeout", with_ssl);
  TLSSettings settings;
  if (!with_ssl) return settings;
  settings.context = options.ssl;
  settings.server_side = server_side;
  if (!server_side) {
    if (!options.server_hostname && host.empty())
      throw std::invalid_argument("You must set server_hostname when using ssl without a host");
    settings.server_hostname = options.server_hostname ? *options.server_hostname : host;
  }
  apply_timeouts(settings, options.ssl_handshake_timeout, options.ssl_shutdown_timeout);
  return settings;
}

TLSSettings tls_settings(const ServerOptions& options) {
  const bool with_ssl = options.ssl != nullptr;
  check_timeout(options.ssl_handshake_timeout, "ssl_handshake_timeout", with_ssl);
  check_timeout(options.ssl_shutdown_timeout, "ssl_shutdown_timeout", with_ssl);
  TLSSettings settings;
  if (!with_ssl) return settings;
  if (!options.ssl->is_server())
    throw ssl::SSLError("SSL", "",
                        "Cannot create a server socket with a PROTOCOL_TLS_CLIENT context");
  settings.context = options.ssl;
  settings.server_side = true;
  apply_timeouts(settings, options.ssl_handshake_timeout, options.ssl_shutdown_timeout);
  return settings;
}

Coro<std::shared_ptr<Transport>> open_tls(EventLoop& loop, OwnedFd fd, TLSSettings settings,
                                          std::shared_ptr<StreamProtocol> protocol) {
  auto tls = TLSTransport::create(loop, std::move(settings), std::move(protocol));
  StreamTransport::open(loop, std::move(fd), StreamTransport::Kind::socket, tls);
  co_await finish_handshake(tls);
  co_return tls;
}

Coro<std::shared_ptr<Transport>> start_tls(std::shared_ptr<Transport> transport,
                                           std::shared_ptr<StreamProtocol> protocol,
                                           std::shared_ptr<ssl::SSLContext> context,
                                           StartTLSOptions options, ByteBuffer* early_records) {
  if (!transport || !protocol || !context)
    throw std::invalid_argument("start_tls needs a transport, a protocol and an SSLContext");
  if (transport->is_closing()) throw RuntimeError("Transport is closing");
  check_timeout(options.ssl_handshake_timeout, "ssl_handshake_timeout", true);
  check_timeout(options.ssl_shutdown_timeout, "ssl_shutdown_timeout", true);
  TLSSettings settings;
  settings.context = std::move(context);
  settings.server_side = options.server_side;
  if (options.server_hostname) settings.server_hostname = *options.server_hostname;
  settings.call_connection_made = false;
  apply_timeouts(settings, options.ssl_handshake_timeout, options.ssl_shutdown_timeout);
  EventLoop& loop = get_running_loop();
  auto tls = TLSTransport::create(loop, std::move(settings), std::move(protocol));
  if (early_records) {  // nothing is taken before the layer is made: `create` may throw
    tls->feed_records(early_records->view());
    early_records->clear();
  }
  // A StreamReaderProtocol reads and writes through the TLS layer from now on.
  if (auto* stream = dynamic_cast<StreamReaderProtocol*>(tls->get_protocol().get()))
    stream->replace_transport(tls);
  transport->set_protocol(tls);
  tls->connection_made(transport);
  // As Python's start_tls: the handshake needs the peer's records, whether or not reading was
  // paused on the connection (by the application, or by a full stream reader).
  transport->resume_reading();
  co_await finish_handshake(tls);
  co_return tls;
}

}  // namespace asyncio::detail

namespace asyncio {

namespace {

Coro<void> upgrade_writer(StreamWriter writer, std::shared_ptr<ssl::SSLContext> context,
                          StartTLSOptions options) {
  co_await writer.drain();
  const std::shared_ptr<StreamReaderProtocol>& protocol = writer.protocol();
  options.server_side = protocol->is_server_side();
  // Records the peer sent right after its last plain-text bytes may be in the read buffer
  // already: they are the start of the handshake.
  std::shared_ptr<Transport> below = protocol->shared_transport();
  co_await detail::start_tls(std::move(below), protocol, std::move(context), std::move(options),
                             &protocol->read_buffer());
}

}  // namespace

Coro<void> StreamWriter::start_tls(std::shared_ptr<ssl::SSLContext> context,
                                   StartTLSOptions options) {
  return upgrade_writer(*this, std::move(context), std::move(options));
}

}  // namespace asyncio
