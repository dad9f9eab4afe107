// TLSTransport: TLS over another stream transport, as CPython's sslproto.py does it. To the
// transport below it is a BufferedProtocol that takes the peer's records; to the application
// it is the Transport the application's protocol (or streams) write to. OpenSSL never touches
// the socket: its BIO reads records from this object's input buffer and writes records to its
// output buffer, which goes to the transport below with one write per operation. So TLS works
// over every backend, and over any transport (start_tls on a live connection).
//
// States (CPython's SSLProtocolState):
//   handshaking    the handshake runs; the application's writes wait in pending_. The
//                  handshake timeout aborts it. It ends in `wrapped`, or in `closed` with an
//                  error (the alert, if any, is flushed and the connection closed).
//   wrapped        records in, the application's bytes out, and the other way round.
//   shutting_down  close() or the peer's EOF: close_notify is sent; the peer's bytes are read
//                  and dropped until its close_notify or its EOF, or the shutdown timeout.
//   closed         the transport below is closing or closed; nothing more is read or written.
// The application hears connection_made after the handshake (unless start_tls: it is connected
// already), and connection_lost once, after the transport below lost its connection.
//
// Lifetime. The transport below holds this object as its protocol until its connection is lost;
// this object holds the application's protocol until it has told it connection_lost (but a
// StreamReaderProtocol, as the stream transport does, once its connection_made has run: its
// reader and writer hold it then).
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "asyncio/detail/byte_buffer.hpp"
#include "asyncio/detail/connection_transport.hpp"
#include "asyncio/detail/stream_protocol_slot.hpp"
#include "asyncio/future.hpp"
#include "asyncio/handle.hpp"
#include "asyncio/ssl.hpp"

struct bio_st;

namespace asyncio::detail {

/// What a TLS layer is made with (the ssl= keyword arguments).
struct TLSSettings {
  std::shared_ptr<ssl::SSLContext> context;
  bool server_side = false;
  std::string server_hostname;  // SNI and the name checked; "" for neither
  std::chrono::milliseconds handshake_timeout{60'000};
  std::chrono::milliseconds shutdown_timeout{30'000};
  bool call_connection_made = true;  // false for start_tls: the protocol is connected already
};

class TLSTransport final : public ConnectionTransport,
                           public BufferedProtocol,
                           public std::enable_shared_from_this<TLSTransport> {
 public:
  /// A TLS layer for `app`, to become a stream transport's protocol (its connection_made starts
  /// the handshake). SSLError when OpenSSL cannot make the session; std::invalid_argument when
  /// the context checks host names and `server_hostname` is empty on a client.
  static std::shared_ptr<TLSTransport> create(EventLoop& loop, TLSSettings settings,
                                              std::shared_ptr<StreamProtocol> app);
  ~TLSTransport() override;
  TLSTransport(const TLSTransport&) = delete;
  /// The write buffer's high-water mark unless set_write_buffer_limits says otherwise (the low
  /// one is a quarter of it): Python's FLOW_CONTROL_HIGH_WATER_SSL_WRITE.
  static constexpr std::size_t default_high_water = 512 * 1024;
  TLSTransport& operator=(const TLSTransport&) = delete;

  /// Done when the handshake is: with nothing, or with the error that ended it. Made when first
  /// asked for (a server's connections have nobody waiting, and no unretrieved error to report).
  Future<void> handshake_done();
  /// Records that arrived before this layer was put on the connection (start_tls).
  void feed_records(std::string_view bytes) { in_.append(bytes); }

  // --- To the application: ConnectionTransport --------------------------------------------------
  EventLoop& loop() const noexcept override { return *loop_; }
  int fd() const noexcept override { return below_conn_ ? below_conn_->fd() : -1; }
  bool is_pipe() const noexcept override { return false; }
  SocketAddress peer_address() const override;
  SocketAddress local_address() const override;
  void orphan(const StreamProtocol* protocol) noexcept override;
  /// "ssl_object" (ssl::SSLObject), "peercert" (std::optional<ssl::PeerCertificate>), "cipher"
  /// (std::optional<ssl::CipherInfo>), "compression" (std::optional<std::string>, always
  /// empty), "sslcontext" (std::shared_ptr<ssl::SSLContext>), "alpn_protocol"
  /// (std::optional<std::string>); anything else as the transport below answers it.
  std::any get_extra_info(std::string_view name) const override;
  bool is_closing() const noexcept override {
    return state_ == State::shutting_down || state_ == State::closed || close_called_;
  }
  void close() override;
  std::shared_ptr<BaseProtocol> get_protocol() const noexcept override { return app_.get(); }
  void set_protocol(std::shared_ptr<BaseProtocol> protocol) override;
  bool is_reading() const noexcept override { return !app_reading_paused_ && !is_closing(); }
  void pause_reading() override;
  void resume_reading() override;
  void write(std::string_view data) override;
  void writelines(std::span<const std::string_view> pieces) override;
  /// NotImplementedError: TLS has no half-close (as Python).
  void write_eof() override;
  bool can_write_eof() const noexcept override { return false; }
  void abort() override;
  void set_write_buffer_limits(std::optional<std::size_t> high = std::nullopt,
                               std::optional<std::size_t> low = std::nullopt) override;
  /// The bytes waiting for the handshake plus the transport below's buffer.
  std::size_t get_write_buffer_size() const noexcept override;
  std::pair<std::size_t, std::size_t> get_write_buffer_limits() const noexcept override;

  // --- From the transport below: BufferedProtocol -----------------------------------------------
  void connection_made(std::shared_ptr<Transport> transport) override;
  std::span<char> get_buffer(std::size_t sizehint) override;
  void buffer_updated(std::size_t nbytes) override;
  /// The peer's EOF (without close_notify, or after it). Returns true: this layer closes the
  /// transport below itself.
  bool eof_received() override;
  void connection_lost(std::exception_ptr exc) override;
  void pause_writing() override;
  void resume_writing() override;

 private:
  enum class State { handshaking, wrapped, shutting_down, closed };
  struct Bio;  // the BIO between OpenSSL and in_ / out_
  TLSTransport(EventLoop& loop, TLSSettings settings);

  /// Runs what the state calls for on the bytes in in_.
  void process();
  void do_handshake();
  void handshake_finished(std::exception_ptr error);
  /// Decrypts into the application's protocol while it reads, then sees to the peer's EOF.
  void read_into_app();
  void deliver_records();
  /// What SSL_read gave into a buffer: the bytes, and how the last call ended (SSL_ERROR_NONE:
  /// the buffer is full; WANT_READ: no whole record left; ZERO_RETURN: close_notify; any other:
  /// `error` says what).
  struct Decrypted {
    std::size_t filled = 0;
    int kind = 0;
    std::exception_ptr error;
  };
  Decrypted decrypt(std::span<char> buffer);
  /// The peer will send no more (close_notify, or EOF between records).
  void peer_finished();
  void start_shutdown();
  void read_during_shutdown();
  void finish_shutdown();
  void encrypt(std::string_view data);
  /// Hands the records OpenSSL wrote to the transport below.
  void flush_records();
  /// Ends the connection with `error` (abort below; connection_lost gets it).
  void fail(std::exception_ptr error) noexcept;
  void report(const char* message, std::exception_ptr error) noexcept;
  void schedule_process();
  /// The handshake is over, with `error` or none: handshake_done()'s future says so.
  void settle_handshake(std::exception_ptr error) noexcept;

  EventLoop* loop_;
  TLSSettings settings_;
  struct ssl_st* ssl_;
  StreamProtocolSlot app_;  // cleared once told connection_lost
  // The application's protocol until its connection_made: a server's StreamReaderProtocol
  // has no other owner before its handler task starts.
  std::shared_ptr<StreamProtocol> unconnected_app_;
  std::shared_ptr<Transport> below_;           // from connection_made
  ConnectionTransport* below_conn_ = nullptr;  // below_ as a transport of this library, or null
  ByteBuffer in_;                              // the peer's records not read by OpenSSL yet
  ByteBuffer out_;                             // records for the peer not handed below yet
  ByteBuffer pending_;  // the application's bytes written during the handshake
  std::string gather_;  // writelines' pieces joined into one record
  std::optional<Future<void>> handshake_done_;  // made by handshake_done()
  std::exception_ptr handshake_error_;          // what ended the handshake, or null
  TimerHandle handshake_timer_;
  TimerHandle shutdown_timer_;
  std::exception_ptr error_;           // what ended the connection, for connection_lost
  std::size_t read_size_ = 17 * 1024;  // get_buffer's offer: one full record, doubling
  State state_ = State::handshaking;
  bool app_connected_ = false;       // connection_made told (or start_tls), connection_lost not yet
  bool close_called_ = false;        // the application called close()
  bool app_reading_paused_ = false;  // pause_reading() without resume_reading()
  bool below_eof_ = false;           // the peer's EOF arrived below
  bool process_scheduled_ = false;
  bool handshake_over_ = false;  // handshake_finished ran (or the connection was lost first)
};

}  // namespace asyncio::detail
