// TLSTransport: the handshake, records both ways, flow control, and the close_notify exchange
// (see the header's notes for the states).
#include "tls/tls_transport.hpp"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "asyncio/detail/write_flow.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/exceptions.hpp"
#include "tls/ssl_error.hpp"

namespace asyncio::detail {

namespace {

std::exception_ptr connection_error(int code, const std::string& message) {
  return std::make_exception_ptr(std::system_error(code, std::generic_category(), message));
}

// As Python prints a float: the shortest text that reads back the same, with a ".0" when whole
// (0.02, 60.0).
std::string seconds_text(std::chrono::milliseconds duration) {
  const double seconds = static_cast<double>(duration.count()) / 1000.0;
  char text[32];
  std::string result(text, std::to_chars(text, text + sizeof text, seconds).ptr);
  if (result.find_first_of(".e") == std::string::npos) result += ".0";
  return result;
}

bool is_ip_address(const std::string& host) {
  unsigned char bytes[16];
  return ::inet_pton(AF_INET, host.c_str(), bytes) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), bytes) == 1;
}

constexpr std::size_t max_read_size = 256 * 1024;

}  // namespace

// --- The BIO: OpenSSL reads in_ and appends to out_
// ------------------------------------------------

struct TLSTransport::Bio {
  static int write(BIO* bio, const char* data, int size) {
    auto* self = static_cast<TLSTransport*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    try {
      self->out_.append(std::string_view(data, static_cast<std::size_t>(size)));
    } catch (...) {
      return -1;
    }
    return size;
  }
  static int read(BIO* bio, char* data, int size) {
    auto* self = static_cast<TLSTransport*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    if (self->in_.empty()) {
      BIO_set_retry_read(bio);
      return -1;
    }
    const std::size_t n = std::min(self->in_.size(), static_cast<std::size_t>(size));
    std::memcpy(data, self->in_.view().data(), n);
    self->in_.consume(n);
    return static_cast<int>(n);
  }
  static long control(BIO*, int command, long, void*) { return command == BIO_CTRL_FLUSH ? 1 : 0; }
  static int create(BIO* bio) {
    BIO_set_init(bio, 1);
    return 1;
  }
  static BIO_METHOD* method() {
    static BIO_METHOD* const made = [] {
      BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "asyncio records");
      if (!m) return m;
      BIO_meth_set_write(m, &Bio::write);
      BIO_meth_set_read(m, &Bio::read);
      BIO_meth_set_ctrl(m, &Bio::control);
      BIO_meth_set_create(m, &Bio::create);
      return m;
    }();
    return made;
  }
};

// --- Making one
// ------------------------------------------------------------------------------------

std::shared_ptr<TLSTransport> TLSTransport::create(EventLoop& loop, TLSSettings settings,
                                                   std::shared_ptr<StreamProtocol> app) {
  if (!settings.context) throw std::invalid_argument("a TLS transport needs an SSLContext");
  if (!app) throw std::invalid_argument("a transport needs a protocol");
  if (settings.server_side && !settings.context->is_server())
    throw ssl::SSLError("SSL", "",
                        "Cannot create a server socket with a PROTOCOL_TLS_CLIENT context");
  if (!settings.server_side && settings.context->is_server())
    throw ssl::SSLError("SSL", "",
                        "Cannot create a client socket with a PROTOCOL_TLS_SERVER context");
  if (!settings.server_side && settings.server_hostname.empty() &&
      settings.context->check_hostname()) {
    throw std::invalid_argument("check_hostname requires server_hostname");
  }
  std::shared_ptr<TLSTransport> transport(new TLSTransport(loop, std::move(settings)));
  transport->app_.set(app);
  transport->unconnected_app_ = std::move(app);
  return transport;
}

TLSTransport::TLSTransport(EventLoop& loop, TLSSettings settings)
    : loop_(&loop),
      settings_(std::move(settings)),
      ssl_(SSL_new(settings_.context->native_handle())) {
  if (!ssl_) ssl::detail::throw_ssl_error("SSL_new failed");
  BIO* bio = Bio::method() ? BIO_new(Bio::method()) : nullptr;
  if (!bio) {
    SSL_free(ssl_);
    ssl::detail::throw_ssl_error("BIO_new failed");
  }
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_, bio, bio);  // one BIO both ways; the session owns it
  if (settings_.server_side) {
    SSL_set_accept_state(ssl_);
    return;
  }
  SSL_set_connect_state(ssl_);
  const std::string& host = settings_.server_hostname;
  if (host.empty()) return;
  const bool ip = is_ip_address(host);
  bool ok = ip || SSL_set_tlsext_host_name(ssl_, host.c_str()) == 1;  // no SNI for an address
  if (ok && settings_.context->check_hostname()) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) == 1
            : SSL_set1_host(ssl_, host.c_str()) == 1;
  }
  if (!ok) {
    SSL_free(ssl_);
    ssl::detail::throw_ssl_error("invalid server_hostname");
  }
}

TLSTransport::~TLSTransport() {
  handshake_timer_.cancel();
  shutdown_timer_.cancel();
  SSL_free(ssl_);
}

// --- From the transport below --------------------------------------------------------------------

void TLSTransport::connection_made(std::shared_ptr<Transport> transport) {
  below_ = std::move(transport);
  set_write_buffer_limits();  // the socket transport's marks become the SSL defaults
  below_conn_ = dynamic_cast<ConnectionTransport*>(below_.get());
  app_connected_ = !settings_.call_connection_made;
  if (app_connected_) unconnected_app_.reset();
  handshake_timer_ = loop_->call_later(settings_.handshake_timeout, [weak = weak_from_this()] {
    auto self = weak.lock();
    if (!self || self->state_ != State::handshaking) return;
    // Aborted, as Python does: a peer that stalls may not read what is buffered for it.
    self->fail(connection_error(ECONNABORTED, "SSL handshake is taking longer than " +
                                                  seconds_text(self->settings_.handshake_timeout) +
                                                  " seconds: aborting the connection"));
  });
  process();  // a client's hello; records fed before (start_tls)
}

// The room after the unread records: one full record at first, doubling while reads fill it.
std::span<char> TLSTransport::get_buffer(std::size_t sizehint) {
  const std::size_t wanted = std::min(read_size_, sizehint);
  if (in_.back_room().size() < wanted) in_.reserve_back(wanted);
  return in_.back_room().first(std::min(in_.back_room().size(), sizehint));
}

void TLSTransport::buffer_updated(std::size_t nbytes) {
  in_.commit(nbytes);
  if (nbytes >= read_size_ && read_size_ < max_read_size) read_size_ *= 2;
  process();
}

bool TLSTransport::eof_received() {
  below_eof_ = true;
  process();
  return true;
}

void TLSTransport::connection_lost(std::exception_ptr exc) {
  handshake_timer_.cancel();
  shutdown_timer_.cancel();
  state_ = State::closed;
  std::exception_ptr error = error_ ? error_ : exc;
  settle_handshake(error ? error : connection_error(ECONNRESET, "Connection lost"));
  auto hold = shared_from_this();  // the transport below lets go of this object after the call
  if (StreamProtocol* app = app_.take(); app && app_connected_) {
    app_connected_ = false;
    try {
      app->connection_lost(error);
    } catch (...) {
      report("Exception in protocol.connection_lost()", std::current_exception());
    }
  }
  app_.owned.reset();
  unconnected_app_.reset();
}

void TLSTransport::pause_writing() {
  if (!app_.protocol || !app_connected_) return;
  try {
    app_.protocol->pause_writing();
  } catch (...) {
    report("protocol.pause_writing() failed", std::current_exception());
  }
}

void TLSTransport::resume_writing() {
  if (!app_.protocol || !app_connected_) return;
  try {
    app_.protocol->resume_writing();
  } catch (...) {
    report("protocol.resume_writing() failed", std::current_exception());
  }
}

// --- The states ----------------------------------------------------------------------------------

void TLSTransport::process() {
  switch (state_) {
    case State::handshaking:
      return do_handshake();
    case State::wrapped:
      return read_into_app();
    case State::shutting_down:
      return read_during_shutdown();
    case State::closed:
      in_.clear();
      return;
  }
}

void TLSTransport::do_handshake() {
  ERR_clear_error();
  const int result = SSL_do_handshake(ssl_);
  std::exception_ptr error;
  bool waiting = false;
  if (result != 1) {
    waiting = SSL_get_error(ssl_, result) == SSL_ERROR_WANT_READ;
    if (!waiting) error = ssl::detail::session_error(ssl_, result);
  }
  flush_records();  // our next flight, or the alert that tells the peer why
  if (waiting) {
    if (below_eof_) handshake_finished(connection_error(ECONNRESET, "Connection lost"));
    return;
  }
  handshake_finished(error);
}

void TLSTransport::handshake_finished(std::exception_ptr error) {
  handshake_timer_.cancel();
  if (error) {
    // Python reports a failed handshake only in debug mode (it is an OSError there).
    if (loop_->get_debug()) report("SSL handshake failed", error);
    state_ = State::closed;
    error_ = error;
    settle_handshake(error);
    if (below_) below_->close();  // after the alert
    return;
  }
  state_ = State::wrapped;
  if (!app_connected_ && app_.protocol) {
    app_connected_ = true;
    try {
      app_.protocol->connection_made(shared_from_this());
      unconnected_app_.reset();
    } catch (...) {
      unconnected_app_.reset();
      report("Exception in protocol.connection_made()", std::current_exception());
      fail(std::current_exception());
      return;
    }
  }
  settle_handshake(nullptr);
  if (state_ != State::wrapped) return;  // connection_made closed it
  if (!pending_.empty()) {
    const std::string waiting = pending_.take(pending_.size());
    encrypt(waiting);
    flush_records();
  }
  process();  // application data that came with the handshake's last flight
}

void TLSTransport::read_into_app() {
  deliver_records();
  if (state_ != State::wrapped) return;
  flush_records();  // what reading made OpenSSL send (a key update's answer)
  if (below_eof_ && !app_reading_paused_) {
    // The peer's EOF without close_notify: an end between records is an EOF, as Python takes
    // it; one in the middle of a record lost bytes.
    if (!in_.empty() || SSL_has_pending(ssl_))
      return fail(std::make_exception_ptr(ssl::SSLEOFError()));
    peer_finished();
  }
}

TLSTransport::Decrypted TLSTransport::decrypt(std::span<char> buffer) {
  Decrypted result;
  int last = 1;
  ERR_clear_error();
  while (result.filled < buffer.size()) {
    const int room =
        static_cast<int>(std::min<std::size_t>(buffer.size() - result.filled, INT_MAX));
    last = SSL_read(ssl_, buffer.data() + result.filled, room);
    if (last <= 0) break;
    result.filled += static_cast<std::size_t>(last);
  }
  if (last <= 0) {
    result.kind = SSL_get_error(ssl_, last);
    if (result.kind != SSL_ERROR_WANT_READ && result.kind != SSL_ERROR_ZERO_RETURN)
      result.error = ssl::detail::session_error(ssl_, last);
  }
  return result;
}

// Python's _do_read__buffered and _do_read__copied: as many records as fit into the protocol's
// buffer (a BufferedProtocol's own, or one on the stack handed over in one data_received), then
// the next buffer, while the protocol reads and records are there.
void TLSTransport::deliver_records() {
  char chunk[64 * 1024];
  while (state_ == State::wrapped && !app_reading_paused_ && (app_.plain || app_.buffered) &&
         (!in_.empty() || SSL_has_pending(ssl_))) {
    BufferedProtocol* const buffered = app_.buffered;
    std::span<char> buffer = chunk;
    if (buffered) {
      try {
        buffer = buffered->get_buffer(std::max<std::size_t>(SSL_pending(ssl_), sizeof chunk));
        if (buffer.empty()) throw RuntimeError("get_buffer() returned an empty buffer");
      } catch (...) {
        report("Fatal error: protocol.get_buffer() call failed.", std::current_exception());
        return fail(std::current_exception());
      }
    }
    const Decrypted records = decrypt(buffer);
    if (records.filled > 0) {
      try {
        if (buffered)
          buffered->buffer_updated(records.filled);
        else
          app_.plain->data_received(std::string_view(chunk, records.filled));
      } catch (...) {
        report(buffered ? "Fatal error: protocol.buffer_updated() call failed."
                        : "Fatal error: protocol.data_received() call failed.",
               std::current_exception());
        return fail(std::current_exception());
      }
    }
    if (records.error) return fail(records.error);
    if (records.kind == SSL_ERROR_ZERO_RETURN) return peer_finished();
    if (records.kind == SSL_ERROR_WANT_READ) return;
  }
}

// Python's _call_eof_received then _start_shutdown: over TLS the connection closes after the
// peer's end whatever eof_received returns.
void TLSTransport::peer_finished() {
  if (app_.protocol && app_connected_) {
    try {
      app_.protocol->eof_received();
    } catch (...) {
      report("Fatal error: protocol.eof_received() call failed.", std::current_exception());
      return fail(std::current_exception());
    }
  }
  start_shutdown();
}

void TLSTransport::start_shutdown() {
  if (state_ == State::shutting_down || state_ == State::closed) return;
  if (state_ == State::handshaking) return abort();  // as Python: no handshake to finish first
  state_ = State::shutting_down;
  shutdown_timer_ = loop_->call_later(settings_.shutdown_timeout, [weak = weak_from_this()] {
    auto self = weak.lock();
    if (!self || self->state_ != State::shutting_down) return;
    self->fail(std::make_exception_ptr(TimeoutError("SSL shutdown timed out")));
  });
  // The peer's socket is closed (plain EOF): nobody would read a close_notify, and Python's
  // _do_shutdown sends none then.
  if (below_eof_) return finish_shutdown();
  // The peer's close_notify must be read even if the application paused reading.
  if (app_reading_paused_) {
    app_reading_paused_ = false;
    below_->resume_reading();
  }
  ERR_clear_error();
  const int result = SSL_shutdown(ssl_);  // sends close_notify
  flush_records();
  if (result == 1 || below_eof_) return finish_shutdown();  // the peer's came already, or none will
  if (result < 0 && SSL_get_error(ssl_, result) != SSL_ERROR_WANT_READ) {
    ERR_clear_error();
    return finish_shutdown();
  }
  read_during_shutdown();
}

// After our close_notify: the peer's records are read and dropped until its close_notify.
void TLSTransport::read_during_shutdown() {
  char scratch[16 * 1024];
  for (;;) {
    ERR_clear_error();
    const int result = SSL_read(ssl_, scratch, sizeof scratch);
    if (result > 0) continue;
    const int kind = SSL_get_error(ssl_, result);
    ERR_clear_error();
    if (kind == SSL_ERROR_WANT_READ && !below_eof_) return;
    return finish_shutdown();
  }
}

void TLSTransport::finish_shutdown() {
  shutdown_timer_.cancel();
  state_ = State::closed;
  in_.clear();
  if (below_) below_->close();  // after close_notify is flushed
}

void TLSTransport::fail(std::exception_ptr error) noexcept {
  handshake_timer_.cancel();
  shutdown_timer_.cancel();
  if (!error_) error_ = std::move(error);
  settle_handshake(error_);
  state_ = State::closed;
  in_.clear();
  if (below_) below_->abort();
}

void TLSTransport::report(const char* message, std::exception_ptr error) noexcept {
  loop_->call_exception_handler({message, std::move(error), "TLSTransport"});
}

Future<void> TLSTransport::handshake_done() {
  if (!handshake_done_) {
    handshake_done_ = loop_->create_future<void>();
    if (handshake_over_) {
      if (handshake_error_)
        handshake_done_->set_exception(handshake_error_);
      else
        handshake_done_->set_result();
    }
  }
  return *handshake_done_;
}

void TLSTransport::settle_handshake(std::exception_ptr error) noexcept {
  if (handshake_over_) return;
  handshake_over_ = true;
  handshake_error_ = error;
  if (!handshake_done_ || handshake_done_->done()) return;  // nobody waits, or gave up
  try {
    if (error)
      handshake_done_->set_exception(std::move(error));
    else
      handshake_done_->set_result();
  } catch (...) {
  }
}

void TLSTransport::schedule_process() {
  if (process_scheduled_) return;
  process_scheduled_ = true;
  loop_->call_soon([weak = weak_from_this()] {
    if (auto self = weak.lock()) {
      self->process_scheduled_ = false;
      self->process();
    }
  });
}

// --- Writing -------------------------------------------------------------------------------------

void TLSTransport::encrypt(std::string_view data) {
  ERR_clear_error();
  while (!data.empty() && state_ == State::wrapped) {
    const int size = static_cast<int>(std::min<std::size_t>(data.size(), INT_MAX));
    const int result = SSL_write(ssl_, data.data(), size);
    if (result <= 0) return fail(ssl::detail::session_error(ssl_, result));
    data.remove_prefix(static_cast<std::size_t>(result));
  }
}

void TLSTransport::flush_records() {
  if (out_.empty() || !below_) return;
  below_->write(out_.view());
  out_.clear();
}

void TLSTransport::write(std::string_view data) {
  if (data.empty()) return;
  if (state_ == State::handshaking) {
    pending_.append(data);
    return;
  }
  if (state_ != State::wrapped || close_called_) return;  // ignored once closing, as Python
  encrypt(data);
  flush_records();
}

void TLSTransport::writelines(std::span<const std::string_view> pieces) {
  gather_.clear();
  for (std::string_view piece : pieces) gather_ += piece;
  write(gather_);
}

void TLSTransport::write_eof() { throw NotImplementedError("SSL doesn't support half-closes"); }

void TLSTransport::close() {
  if (close_called_) return;
  close_called_ = true;
  start_shutdown();
}

void TLSTransport::abort() {
  state_ = State::closed;
  handshake_timer_.cancel();
  shutdown_timer_.cancel();
  in_.clear();
  if (below_) below_->abort();
}

void TLSTransport::set_write_buffer_limits(std::optional<std::size_t> high,
                                           std::optional<std::size_t> low) {
  if (!high && !low) high = default_high_water;
  if (below_) below_->set_write_buffer_limits(high, low);
}

std::size_t TLSTransport::get_write_buffer_size() const noexcept {
  return pending_.size() + (below_ ? below_->get_write_buffer_size() : 0);
}

std::pair<std::size_t, std::size_t> TLSTransport::get_write_buffer_limits() const noexcept {
  if (!below_) return {default_high_water / 4, default_high_water};
  return below_->get_write_buffer_limits();
}

// --- Reading control and the rest ---------------------------------------------------------------

void TLSTransport::pause_reading() {
  if (app_reading_paused_ || is_closing() || !below_) return;
  app_reading_paused_ = true;
  below_->pause_reading();
}

void TLSTransport::resume_reading() {
  if (!app_reading_paused_ || is_closing() || !below_) return;
  app_reading_paused_ = false;
  below_->resume_reading();
  schedule_process();  // records decrypted or received while paused
}

void TLSTransport::set_protocol(std::shared_ptr<BaseProtocol> protocol) {
  auto stream = std::dynamic_pointer_cast<StreamProtocol>(std::move(protocol));
  if (!stream)
    throw std::invalid_argument("a stream transport needs a Protocol or BufferedProtocol");
  if (!app_.protocol) return;
  app_.set(stream);
}

void TLSTransport::orphan(const StreamProtocol* protocol) noexcept {
  if (protocol != app_.protocol) return;
  app_.clear();
  app_connected_ = false;
  try {
    close();  // as Python's StreamWriter.__del__: the buffered bytes go out, then close_notify
  } catch (...) {
    abort();  // (no memory for the shutdown's timer)
  }
}

SocketAddress TLSTransport::peer_address() const {
  return below_conn_ ? below_conn_->peer_address() : SocketAddress();
}

SocketAddress TLSTransport::local_address() const {
  return below_conn_ ? below_conn_->local_address() : SocketAddress();
}

std::any TLSTransport::get_extra_info(std::string_view name) const {
  const ssl::SSLObject object(ssl_);
  if (name == "ssl_object") return object;
  if (name == "peercert") return object.getpeercert();
  if (name == "cipher") return object.cipher();
  if (name == "compression") return std::optional<std::string>();
  if (name == "sslcontext") return settings_.context;
  if (name == "alpn_protocol") return object.selected_alpn_protocol();
  return below_ ? below_->get_extra_info(name) : std::any();
}

}  // namespace asyncio::detail
