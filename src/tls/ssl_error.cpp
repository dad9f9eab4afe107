// OpenSSL errors as asyncio::ssl exceptions. Python prints an SSLError as
// "[LIB: REASON] reason text"; the library part is OpenSSL's short name for the library that
// raised it, the reason its mnemonic (which OpenSSL 3 does not export, so it is made from the
// reason text: "wrong version number" -> WRONG_VERSION_NUMBER, which matches the mnemonic for
// the errors a TLS session meets).
#include "tls/ssl_error.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <cctype>
#include <string>

#include "asyncio/ssl.hpp"

namespace asyncio::ssl::detail {

namespace {

std::string library_name(unsigned long code) {
  switch (ERR_GET_LIB(code)) {
    case ERR_LIB_SSL:
      return "SSL";
    case ERR_LIB_X509:
      return "X509";
    case ERR_LIB_PEM:
      return "PEM";
    case ERR_LIB_SYS:
      return "SYS";
    case ERR_LIB_EVP:
      return "EVP";
    case ERR_LIB_ASN1:
      return "ASN1";
    default: {
      const char* name = ERR_lib_error_string(code);
      return name ? name : "SSL";
    }
  }
}

std::string mnemonic(const std::string& reason) {
  std::string result;
  for (char c : reason)
    result += (c == ' ' || c == '-')
                  ? '_'
                  : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return result;
}

/// The earliest error in the queue, which names the cause (the later ones name the callers).
SSLError error_from_queue(const char* fallback) {
  const unsigned long code = ERR_peek_error();
  ERR_clear_error();
  if (code == 0) return SSLError("SSL", "", fallback);
  const char* text = ERR_reason_error_string(code);
  const std::string reason = text ? text : "unknown error";
  const std::string library = library_name(code);
  return SSLError(library, mnemonic(reason),
                  "[" + library + ": " + mnemonic(reason) + "] " + reason);
}

}  // namespace

void throw_ssl_error(const char* fallback) { throw error_from_queue(fallback); }

std::exception_ptr session_error(ssl_st* ssl, int ret) noexcept {
  try {
    const int kind = SSL_get_error(ssl, ret);
    const unsigned long code = ERR_peek_error();
    if (kind == SSL_ERROR_SSL && ERR_GET_LIB(code) == ERR_LIB_SSL &&
        ERR_GET_REASON(code) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
      ERR_clear_error();
      const long result = SSL_get_verify_result(ssl);
      std::string message;
      if (result == X509_V_ERR_HOSTNAME_MISMATCH || result == X509_V_ERR_IP_ADDRESS_MISMATCH) {
        const X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
        const char* host = X509_VERIFY_PARAM_get0_host(const_cast<X509_VERIFY_PARAM*>(param), 0);
        const char* ip = nullptr;
        std::string ip_text;
        if (result == X509_V_ERR_IP_ADDRESS_MISMATCH) {
          if (char* asc = X509_VERIFY_PARAM_get1_ip_asc(const_cast<X509_VERIFY_PARAM*>(param))) {
            ip_text = asc;
            OPENSSL_free(asc);
            ip = ip_text.c_str();
          }
        }
        message = result == X509_V_ERR_HOSTNAME_MISMATCH
                      ? "Hostname mismatch, certificate is not valid for '" +
                            std::string(host ? host : "") + "'."
                      : "IP address mismatch, certificate is not valid for '" +
                            std::string(ip ? ip : "") + "'.";
      } else {
        message = X509_verify_cert_error_string(result);
      }
      return std::make_exception_ptr(SSLCertVerificationError(
          result, message,
          "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: " + message));
    }
    if (kind == SSL_ERROR_SYSCALL || (kind == SSL_ERROR_SSL && ERR_GET_LIB(code) == ERR_LIB_SSL &&
                                      ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
      ERR_clear_error();
      return std::make_exception_ptr(SSLEOFError());
    }
    return std::make_exception_ptr(error_from_queue("[SSL] unknown error"));
  } catch (...) {
    return std::current_exception();
  }
}

}  // namespace asyncio::ssl::detail
