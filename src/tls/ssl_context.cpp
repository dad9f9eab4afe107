// SSLContext (an SSL_CTX with Python's defaults and setters), create_default_context, and
// SSLObject's questions about one session. Python's defaults (3.10+): TLS 1.2 at least, no
// compression, the server's cipher order, and its cipher string for TLS 1.2.
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "asyncio/ssl.hpp"
#include "tls/ssl_error.hpp"

namespace asyncio::ssl {

using detail::throw_ssl_error;

namespace {

constexpr const char* default_ciphers =
    "@SECLEVEL=2:ECDH+AESGCM:ECDH+CHACHA20:ECDH+AES:DHE+AES:!aNULL:!eNULL:!aDSS:!SHA1:!AESCCM";

void check_file(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw std::system_error(errno, std::generic_category(), path);
}

int openssl_version(TLSVersion version) {
  switch (version) {
    case TLSVersion::TLSv1_2:
      return TLS1_2_VERSION;
    case TLSVersion::TLSv1_3:
      return TLS1_3_VERSION;
    default:
      return 0;  // OpenSSL's "no limit"
  }
}

/// The context an SNI callback switched a session to, kept with the session (SSL ex_data).
int switched_context_index() {
  static const int index = SSL_get_ex_new_index(
      0, nullptr, nullptr, nullptr, [](void*, void* slot, CRYPTO_EX_DATA*, int, long, void*) {
        delete static_cast<std::shared_ptr<SSLContext>*>(slot);
      });
  return index;
}

std::string name_entry_text(ASN1_STRING* value) {
  unsigned char* utf8 = nullptr;
  const int n = ASN1_STRING_to_UTF8(&utf8, value);
  if (n < 0) return {};
  std::string text(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(n));
  OPENSSL_free(utf8);
  return text;
}

std::vector<std::pair<std::string, std::string>> name_fields(const X509_NAME* name) {
  std::vector<std::pair<std::string, std::string>> fields;
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, i);
    char field[128];
    OBJ_obj2txt(field, sizeof field, X509_NAME_ENTRY_get_object(entry), 0);
    fields.emplace_back(field, name_entry_text(X509_NAME_ENTRY_get_data(entry)));
  }
  return fields;
}

std::string time_text(const ASN1_TIME* time) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (!bio) return {};
  ASN1_TIME_print(bio, time);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string text(data, static_cast<std::size_t>(n > 0 ? n : 0));
  BIO_free(bio);
  return text;
}

std::string ip_text(const ASN1_OCTET_STRING* ip) {
  const unsigned char* bytes = ASN1_STRING_get0_data(ip);
  char text[64] = {};
  if (ASN1_STRING_length(ip) == 4) {
    std::snprintf(text, sizeof text, "%d.%d.%d.%d", bytes[0], bytes[1], bytes[2], bytes[3]);
  } else if (ASN1_STRING_length(ip) == 16) {  // Python prints each of the 8 groups in full
    std::size_t at = 0;
    for (int i = 0; i < 16; i += 2)
      at += std::snprintf(text + at, sizeof text - at, i ? ":%X" : "%X",
                          bytes[i] << 8 | bytes[i + 1]);
  }
  return text;
}

PeerCertificate describe(X509* cert) {
  PeerCertificate result;
  result.subject = name_fields(X509_get_subject_name(cert));
  result.issuer = name_fields(X509_get_issuer_name(cert));
  result.not_before = time_text(X509_get0_notBefore(cert));
  result.not_after = time_text(X509_get0_notAfter(cert));
  result.version = static_cast<int>(X509_get_version(cert)) + 1;
  if (BIGNUM* serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr)) {
    if (char* hex = BN_bn2hex(serial)) {
      result.serial_number = hex;
      OPENSSL_free(hex);
    }
    BN_free(serial);
  }
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    switch (name->type) {
      case GEN_DNS:
        result.subject_alt_name.emplace_back("DNS", name_entry_text(name->d.dNSName));
        break;
      case GEN_IPADD:
        result.subject_alt_name.emplace_back("IP Address", ip_text(name->d.iPAddress));
        break;
      case GEN_EMAIL:
        result.subject_alt_name.emplace_back("email", name_entry_text(name->d.rfc822Name));
        break;
      case GEN_URI:
        result.subject_alt_name.emplace_back("URI",
                                             name_entry_text(name->d.uniformResourceIdentifier));
        break;
      default:
        break;
    }
  }
  GENERAL_NAMES_free(names);
  return result;
}

}  // namespace

// --- SSLContext ----------------------------------------------------------------------------------

/// The callbacks OpenSSL calls with the context as their argument.
struct ContextAccess {
  static int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen,
                         const unsigned char* in, unsigned int inlen, void* arg) {
    const std::string& ours = static_cast<SSLContext*>(arg)->alpn_wire_;
    unsigned char* chosen = nullptr;
    if (SSL_select_next_proto(&chosen, outlen, reinterpret_cast<const unsigned char*>(ours.data()),
                              static_cast<unsigned>(ours.size()), in,
                              inlen) != OPENSSL_NPN_NEGOTIATED)
      return SSL_TLSEXT_ERR_NOACK;
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
  }

  static int server_name(SSL* ssl, int*, void* arg) {
    auto* context = static_cast<SSLContext*>(arg);
    if (!context->sni_callback_) return SSL_TLSEXT_ERR_OK;
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    try {
      SSLObject object(ssl);
      std::shared_ptr<SSLContext> other = context->sni_callback_(object, name ? name : "");
      if (other && other.get() != context) {
        SSL_set_SSL_CTX(ssl, other->ctx_);
        // The session keeps the context it switched to alive.
        auto* slot = static_cast<std::shared_ptr<SSLContext>*>(
            SSL_get_ex_data(ssl, switched_context_index()));
        if (slot) {
          *slot = std::move(other);
        } else {
          SSL_set_ex_data(ssl, switched_context_index(),
                          new std::shared_ptr<SSLContext>(std::move(other)));
        }
      }
      return SSL_TLSEXT_ERR_OK;
    } catch (...) {
      return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
  }
};

std::shared_ptr<SSLContext> SSLContext::create(Protocol protocol) {
  return std::shared_ptr<SSLContext>(new SSLContext(protocol));
}

SSLContext::SSLContext(Protocol protocol)
    : ctx_(SSL_CTX_new(protocol == Protocol::TLS_SERVER ? TLS_server_method()
                                                        : TLS_client_method())),
      server_(protocol == Protocol::TLS_SERVER),
      verify_mode_(server_ ? VerifyMode::CERT_NONE : VerifyMode::CERT_REQUIRED),
      check_hostname_(!server_) {
  if (!ctx_) throw_ssl_error("SSL_CTX_new failed");
  // Python's options: OpenSSL's bug workarounds (but empty fragments), no compression, the
  // server's cipher order; and no renegotiation (TLS 1.3 has none; Python refuses a client's).
  SSL_CTX_set_options(ctx_, (SSL_OP_ALL & ~SSL_OP_DONT_INSERT_EMPTY_FRAGMENTS) |
                                SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(ctx_, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_AUTO_RETRY);
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  if (SSL_CTX_set_cipher_list(ctx_, default_ciphers) != 1) {
    SSL_CTX_free(ctx_);
    throw_ssl_error("No cipher can be selected.");
  }
  SSL_CTX_set_verify(ctx_, server_ ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, nullptr);
  if (server_) {
    SSL_CTX_set_tlsext_servername_callback(ctx_, &ContextAccess::server_name);
    SSL_CTX_set_tlsext_servername_arg(ctx_, this);
  }
}

SSLContext::~SSLContext() { SSL_CTX_free(ctx_); }

void SSLContext::load_cert_chain(const std::string& certfile, const std::string& keyfile,
                                 std::optional<std::string> password) {
  check_file(certfile);
  const std::string& key = keyfile.empty() ? certfile : keyfile;
  check_file(key);
  // The password callback reads it from here, for this call only.
  SSL_CTX_set_default_passwd_cb_userdata(ctx_, password ? password->data() : nullptr);
  SSL_CTX_set_default_passwd_cb(ctx_, [](char* buf, int size, int, void* userdata) -> int {
    if (!userdata) return -1;
    const std::size_t n = std::strlen(static_cast<const char*>(userdata));
    if (n > static_cast<std::size_t>(size)) return -1;
    std::memcpy(buf, userdata, n);
    return static_cast<int>(n);
  });
  const bool ok = SSL_CTX_use_certificate_chain_file(ctx_, certfile.c_str()) == 1 &&
                  SSL_CTX_use_PrivateKey_file(ctx_, key.c_str(), SSL_FILETYPE_PEM) == 1 &&
                  SSL_CTX_check_private_key(ctx_) == 1;
  SSL_CTX_set_default_passwd_cb(ctx_, nullptr);
  SSL_CTX_set_default_passwd_cb_userdata(ctx_, nullptr);
  if (!ok) throw_ssl_error("[SSL] PEM lib");
}

void SSLContext::load_verify_locations(const std::string& cafile, const std::string& capath,
                                       std::string_view cadata) {
  if (cafile.empty() && capath.empty() && cadata.empty())
    throw std::invalid_argument("cafile, capath and cadata cannot be all omitted");
  if (!cafile.empty()) check_file(cafile);
  if (!capath.empty()) check_file(capath);
  if ((!cafile.empty() || !capath.empty()) &&
      SSL_CTX_load_verify_locations(ctx_, cafile.empty() ? nullptr : cafile.c_str(),
                                    capath.empty() ? nullptr : capath.c_str()) != 1) {
    throw_ssl_error("[X509] no certificate or crl found");
  }
  if (!cadata.empty()) {
    BIO* bio = BIO_new_mem_buf(cadata.data(), static_cast<int>(cadata.size()));
    if (!bio) throw_ssl_error("out of memory");
    X509_STORE* store = SSL_CTX_get_cert_store(ctx_);
    int loaded = 0;
    while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
      X509_STORE_add_cert(store, cert);  // a duplicate is not an error
      X509_free(cert);
      ++loaded;
    }
    BIO_free(bio);
    if (loaded == 0)
      throw_ssl_error("[X509: NO_CERTIFICATE_OR_CRL_FOUND] no certificate or crl found");
    ERR_clear_error();  // the end of the data reads as an error
  }
}

void SSLContext::set_default_verify_paths() {
  if (SSL_CTX_set_default_verify_paths(ctx_) != 1) throw_ssl_error("set_default_verify_paths");
}

void SSLContext::set_verify_mode(VerifyMode mode) {
  if (mode == VerifyMode::CERT_NONE && check_hostname_)
    throw std::invalid_argument(
        "Cannot set verify_mode to CERT_NONE when check_hostname is enabled.");
  verify_mode_ = mode;
  int flags = SSL_VERIFY_NONE;
  if (mode == VerifyMode::CERT_OPTIONAL) flags = SSL_VERIFY_PEER;
  if (mode == VerifyMode::CERT_REQUIRED) flags = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(ctx_, flags, nullptr);
}

void SSLContext::set_check_hostname(bool check) {
  if (check && verify_mode_ == VerifyMode::CERT_NONE) set_verify_mode(VerifyMode::CERT_REQUIRED);
  check_hostname_ = check;
}

void SSLContext::set_minimum_version(TLSVersion version) {
  if (SSL_CTX_set_min_proto_version(ctx_, openssl_version(version)) != 1)
    throw_ssl_error("Unsupported protocol version");
  minimum_version_ = version;
}

void SSLContext::set_maximum_version(TLSVersion version) {
  if (SSL_CTX_set_max_proto_version(ctx_, openssl_version(version)) != 1)
    throw_ssl_error("Unsupported protocol version");
  maximum_version_ = version;
}

void SSLContext::set_ciphers(const std::string& ciphers) {
  if (SSL_CTX_set_cipher_list(ctx_, ciphers.c_str()) != 1) {
    ERR_clear_error();
    throw SSLError("SSL", "NO_CIPHER_MATCH", "No cipher can be selected.");
  }
}

void SSLContext::set_ciphersuites(const std::string& suites) {
  if (SSL_CTX_set_ciphersuites(ctx_, suites.c_str()) != 1) {
    ERR_clear_error();
    throw SSLError("SSL", "NO_CIPHER_MATCH", "No cipher can be selected.");
  }
}

void SSLContext::set_alpn_protocols(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const std::string& protocol : protocols) {
    if (protocol.empty() || protocol.size() > 255)
      throw std::invalid_argument("ALPN protocols must be 1 to 255 in length");
    wire += static_cast<char>(protocol.size());
    wire += protocol;
  }
  alpn_wire_ = std::move(wire);
  if (server_) {
    SSL_CTX_set_alpn_select_cb(ctx_, alpn_wire_.empty() ? nullptr : &ContextAccess::select_alpn,
                               this);
  } else if (SSL_CTX_set_alpn_protos(ctx_,
                                     reinterpret_cast<const unsigned char*>(alpn_wire_.data()),
                                     static_cast<unsigned>(alpn_wire_.size())) != 0) {
    throw_ssl_error("set_alpn_protocols");
  }
}

void SSLContext::load_dh_params(const std::string& dhfile) {
  check_file(dhfile);
  BIO* bio = BIO_new_file(dhfile.c_str(), "r");
  if (!bio) throw_ssl_error("load_dh_params");
  EVP_PKEY* params = PEM_read_bio_Parameters(bio, nullptr);
  BIO_free(bio);
  if (!params) throw_ssl_error("[PEM] no DH parameters found");
  if (SSL_CTX_set0_tmp_dh_pkey(ctx_, params) != 1) {  // takes `params` on success
    EVP_PKEY_free(params);
    throw_ssl_error("load_dh_params");
  }
}

void SSLContext::set_sni_callback(SNICallback callback) {
  if (!server_) throw std::invalid_argument("sni_callback cannot be set on TLS_CLIENT context");
  sni_callback_ = std::move(callback);
}

std::shared_ptr<SSLContext> create_default_context(Purpose purpose, const std::string& cafile,
                                                   const std::string& capath,
                                                   std::string_view cadata) {
  auto context = SSLContext::create(purpose == Purpose::SERVER_AUTH ? Protocol::TLS_CLIENT
                                                                    : Protocol::TLS_SERVER);
  // Python 3.13's VERIFY_X509_STRICT and VERIFY_X509_PARTIAL_CHAIN: certificates must follow
  // RFC 5280, and a trusted intermediate is an anchor.
  X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(context->native_handle()),
                              X509_V_FLAG_X509_STRICT | X509_V_FLAG_PARTIAL_CHAIN);
  if (!cafile.empty() || !capath.empty() || !cadata.empty()) {
    context->load_verify_locations(cafile, capath, cadata);
  } else if (purpose == Purpose::SERVER_AUTH) {
    context->load_default_certs();
  }
  return context;
}

// --- SSLObject -----------------------------------------------------------------------------------

std::string SSLObject::version() const {
  if (!SSL_is_init_finished(ssl_)) return {};
  return SSL_get_version(ssl_);
}

std::optional<CipherInfo> SSLObject::cipher() const {
  const SSL_CIPHER* current = SSL_get_current_cipher(ssl_);
  if (!current) return std::nullopt;
  return CipherInfo{SSL_CIPHER_get_name(current), SSL_CIPHER_get_version(current),
                    SSL_CIPHER_get_bits(current, nullptr)};
}

std::optional<std::string> SSLObject::selected_alpn_protocol() const {
  const unsigned char* data = nullptr;
  unsigned int size = 0;
  SSL_get0_alpn_selected(ssl_, &data, &size);
  if (!data || size == 0) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(data), size);
}

std::optional<std::string> SSLObject::server_name() const {
  const char* name = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
  if (!name) return std::nullopt;
  return std::string(name);
}

bool SSLObject::server_side() const noexcept { return SSL_is_server(ssl_) == 1; }

std::optional<PeerCertificate> SSLObject::getpeercert() const {
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (!cert || SSL_get_verify_result(ssl_) != X509_V_OK ||
      (SSL_get_verify_mode(ssl_) & SSL_VERIFY_PEER) == 0) {
    return std::nullopt;
  }
  return describe(cert);
}

std::optional<std::string> SSLObject::getpeercert_binary() const {
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (!cert) return std::nullopt;
  unsigned char* der = nullptr;
  const int n = i2d_X509(cert, &der);
  if (n < 0) return std::nullopt;
  std::string bytes(reinterpret_cast<char*>(der), static_cast<std::size_t>(n));
  OPENSSL_free(der);
  return bytes;
}

}  // namespace asyncio::ssl
