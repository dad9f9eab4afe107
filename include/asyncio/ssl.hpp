// TLS settings and errors in the shape of Python's ssl module: SSLContext (which certificates to
// present and trust, which versions, ciphers and ALPN protocols), create_default_context, the
// errors a handshake or a session raises, and what get_extra_info reports about a TLS
// connection. The connections themselves are the usual ones given `ssl=` (ConnectionOptions,
// ServerOptions) or upgraded with start_tls (streams.hpp, connections.hpp). Built on OpenSSL 3;
// no OpenSSL type appears here but through the explicit native_handle() accessors.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "asyncio/exceptions.hpp"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX
struct ssl_st;      // OpenSSL's SSL

namespace asyncio::ssl {

/// An error from the TLS library (Python's ssl.SSLError): library() and reason() as OpenSSL
/// names them ("SSL", "WRONG_VERSION_NUMBER"); what() as Python prints it:
/// "[SSL: WRONG_VERSION_NUMBER] wrong version number".
class SSLError : public Error {
 public:
  SSLError(std::string library, std::string reason, const std::string& message)
      : Error(message), library_(std::move(library)), reason_(std::move(reason)) {}
  const std::string& library() const noexcept { return library_; }
  const std::string& reason() const noexcept { return reason_; }

 private:
  std::string library_;
  std::string reason_;
};

/// The peer's certificate failed verification (Python's ssl.SSLCertVerificationError):
/// verify_code() is OpenSSL's X509_V_ERR_* number (10: expired, 18: self-signed, 20: unknown
/// issuer, 62: host name mismatch), verify_message() its text ("certificate has expired").
class SSLCertVerificationError : public SSLError {
 public:
  SSLCertVerificationError(long verify_code, std::string verify_message, const std::string& message)
      : SSLError("SSL", "CERTIFICATE_VERIFY_FAILED", message),
        verify_code_(verify_code),
        verify_message_(std::move(verify_message)) {}
  long verify_code() const noexcept { return verify_code_; }
  const std::string& verify_message() const noexcept { return verify_message_; }

 private:
  long verify_code_;
  std::string verify_message_;
};

/// The peer's connection ended in the middle of a TLS record (Python's ssl.SSLEOFError, "EOF
/// occurred in violation of protocol"): bytes it sent were lost.
class SSLEOFError : public SSLError {
 public:
  SSLEOFError()
      : SSLError("SSL", "UNEXPECTED_EOF_WHILE_READING",
                 "[SSL: UNEXPECTED_EOF_WHILE_READING] EOF occurred in violation of "
                 "protocol") {}
};

/// Which side a default context is for (Python's ssl.Purpose): SERVER_AUTH makes a client's
/// context (it authenticates servers), CLIENT_AUTH a server's.
enum class Purpose { SERVER_AUTH, CLIENT_AUTH };

/// Python's ssl.PROTOCOL_TLS_CLIENT / PROTOCOL_TLS_SERVER.
enum class Protocol { TLS_CLIENT, TLS_SERVER };

/// Python's ssl.VerifyMode.
enum class VerifyMode { CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED };

/// Python's ssl.TLSVersion (the versions OpenSSL 3 still offers).
enum class TLSVersion { MINIMUM_SUPPORTED, TLSv1_2, TLSv1_3, MAXIMUM_SUPPORTED };

/// A certificate as Python's getpeercert() describes it: each name a list of (field, value)
/// pairs in the certificate's order ("commonName", "organizationName", ...), subjectAltName as
/// ("DNS", name) / ("IP Address", address) pairs, and the dates as Python prints them
/// ("Jan  5 09:34:43 2027 GMT").
struct PeerCertificate {
  std::vector<std::pair<std::string, std::string>> subject;
  std::vector<std::pair<std::string, std::string>> issuer;
  std::vector<std::pair<std::string, std::string>> subject_alt_name;
  std::string not_before;
  std::string not_after;
  std::string serial_number;  // in hexadecimal, as Python's
  int version = 0;            // 3 for X.509 v3
};

/// The cipher in use (Python's SSLObject.cipher() tuple): ("TLS_AES_256_GCM_SHA384",
/// "TLSv1.3", 256).
struct CipherInfo {
  std::string name;
  std::string protocol;
  int secret_bits = 0;
};

class SSLContext;

/// One connection's TLS session, as get_extra_info("ssl_object") gives it (Python's
/// SSLObject). A view: valid while the connection's transport is alive.
class SSLObject {
 public:
  explicit SSLObject(ssl_st* ssl) noexcept : ssl_(ssl) {}
  /// "TLSv1.3", "TLSv1.2"; empty before the handshake.
  std::string version() const;
  std::optional<CipherInfo> cipher() const;
  /// The ALPN protocol agreed on, if any.
  std::optional<std::string> selected_alpn_protocol() const;
  /// The name the client asked for (SNI), on either side.
  std::optional<std::string> server_name() const;
  bool server_side() const noexcept;
  /// The peer's certificate, when it sent one and it was verified (as Python's getpeercert(),
  /// which gives {} for an unverified one); binary_form: the DER bytes of any certificate it
  /// sent.
  std::optional<PeerCertificate> getpeercert() const;
  std::optional<std::string> getpeercert_binary() const;
  /// The OpenSSL SSL* itself, for what this class does not offer.
  ssl_st* native_handle() const noexcept { return ssl_; }

 private:
  ssl_st* ssl_;
};

/// Settings shared by many TLS connections (Python's ssl.SSLContext). Create it with
/// create_default_context() or SSLContext::create(), set it up, then hand it (as a
/// std::shared_ptr) to connections and servers; connections keep it alive. Setting it up while
/// connections use it is allowed for what OpenSSL reads at handshake time only.
class SSLContext : public std::enable_shared_from_this<SSLContext> {
 public:
  /// Python's SSLContext(protocol): a client context verifies the server's certificate
  /// (CERT_REQUIRED) and host name, a server context asks for no client certificate
  /// (CERT_NONE). Neither trusts any CA until told (load_verify_locations,
  /// set_default_verify_paths). TLS 1.2 is the minimum version.
  static std::shared_ptr<SSLContext> create(Protocol protocol);
  ~SSLContext();
  SSLContext(const SSLContext&) = delete;
  SSLContext& operator=(const SSLContext&) = delete;

  /// Python's load_cert_chain: the certificate (and its chain) in PEM at `certfile`, and its
  /// private key (in `certfile` too when `keyfile` is empty), decrypted with `password` if
  /// needed. SSLError when a file cannot be read or the key does not match.
  void load_cert_chain(const std::string& certfile, const std::string& keyfile = {},
                       std::optional<std::string> password = std::nullopt);
  /// Python's load_verify_locations: CA certificates to trust, from a PEM file, a directory
  /// prepared with `openssl rehash`, and/or PEM text. std::invalid_argument when all are empty.
  void load_verify_locations(const std::string& cafile = {}, const std::string& capath = {},
                             std::string_view cadata = {});
  /// Trusts the system's CA store (OpenSSL's default paths; Debian's ca-certificates).
  void set_default_verify_paths();
  /// Python's load_default_certs: the system store (for either purpose).
  void load_default_certs() { set_default_verify_paths(); }

  VerifyMode verify_mode() const noexcept { return verify_mode_; }
  /// std::invalid_argument for CERT_NONE while check_hostname is on (Python's ValueError).
  void set_verify_mode(VerifyMode mode);
  bool check_hostname() const noexcept { return check_hostname_; }
  /// Turning it on turns CERT_NONE into CERT_REQUIRED, as Python does.
  void set_check_hostname(bool check);

  TLSVersion minimum_version() const noexcept { return minimum_version_; }
  TLSVersion maximum_version() const noexcept { return maximum_version_; }
  void set_minimum_version(TLSVersion version);
  void set_maximum_version(TLSVersion version);
  /// The TLS 1.2 cipher list, in OpenSSL's syntax; SSLError("No cipher can be selected.") when
  /// it selects none.
  void set_ciphers(const std::string& ciphers);
  /// TLS 1.3's cipher suites (OpenSSL's SSL_CTX_set_ciphersuites; Python has no setter).
  void set_ciphersuites(const std::string& suites);
  /// ALPN protocols in order of preference ("h2", "http/1.1"): a client offers them, a server
  /// picks the first of its own that the client offers (no protocol when none matches).
  void set_alpn_protocols(const std::vector<std::string>& protocols);
  /// Diffie-Hellman parameters for the DHE ciphers, from a PEM file (Python's load_dh_params).
  void load_dh_params(const std::string& dhfile);

  /// A server's SNI callback (Python's sni_callback), called during the handshake with the
  /// connection's SSLObject and the name the client asked for (empty when it sent none). It
  /// may return another context to continue the handshake with (its certificate is then
  /// used), or null to keep this one. An exception it throws fails the handshake.
  /// std::invalid_argument on a client's context (Python's ValueError).
  using SNICallback =
      std::function<std::shared_ptr<SSLContext>(SSLObject& ssl_object, std::string_view name)>;
  void set_sni_callback(SNICallback callback);

  /// The OpenSSL SSL_CTX*, for what this class does not offer.
  ssl_ctx_st* native_handle() const noexcept { return ctx_; }
  bool is_server() const noexcept { return server_; }

 private:
  explicit SSLContext(Protocol protocol);
  friend struct ContextAccess;

  ssl_ctx_st* ctx_;
  bool server_;
  VerifyMode verify_mode_;
  bool check_hostname_;
  TLSVersion minimum_version_ = TLSVersion::TLSv1_2;
  TLSVersion maximum_version_ = TLSVersion::MAXIMUM_SUPPORTED;
  std::string alpn_wire_;  // the ALPN list in its wire format (length-prefixed names)
  SNICallback sni_callback_;
};

/// Python's ssl.create_default_context(purpose, cafile, capath, cadata): for SERVER_AUTH (a
/// client) CERT_REQUIRED with host names checked, trusting the given CAs or else the system
/// store; for CLIENT_AUTH (a server) CERT_NONE, trusting the given CAs (for clients'
/// certificates, once verify_mode asks for them).
std::shared_ptr<SSLContext> create_default_context(Purpose purpose = Purpose::SERVER_AUTH,
                                                   const std::string& cafile = {},
                                                   const std::string& capath = {},
                                                   std::string_view cadata = {});

}  // namespace asyncio::ssl
