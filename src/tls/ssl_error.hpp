// OpenSSL's error queue turned into the ssl errors of asyncio/ssl.hpp, with Python's wording.
#pragma once

#include <exception>

struct ssl_st;

namespace asyncio::ssl::detail {

/// The error at the front of this thread's OpenSSL error queue as an SSLError (clearing the
/// queue); `fallback` is the message when the queue is empty.
[[noreturn]] void throw_ssl_error(const char* fallback);

/// What a failed SSL_do_handshake / SSL_read / SSL_write / SSL_shutdown on `ssl` that returned
/// `ret` means: SSLCertVerificationError for a certificate that failed verification (with the
/// verify result and Python's message), SSLEOFError for an unexpected end, SSLError otherwise.
/// Clears the queue.
std::exception_ptr session_error(ssl_st* ssl, int ret) noexcept;

}  // namespace asyncio::ssl::detail
