// The exceptions of asyncio: CancelledError (deliberately not a std::exception, like Python's
// BaseException subclass) and the std::exception-derived errors the rest of the library throws.
#pragma once

#include <stdexcept>
#include <string>

namespace asyncio {

/// Thrown into a coroutine at its await point when its Task is cancelled.
///
/// It does not derive from std::exception, so `catch (const std::exception&)` cannot swallow a
/// cancellation by accident; catch it by name (or with `catch (...)` and rethrow).
class CancelledError {
 public:
  CancelledError() = default;
  explicit CancelledError(std::string message) : message_(std::move(message)) {}

  /// The message given to `cancel(msg)`; empty when none was given.
  const std::string& message() const noexcept { return message_; }
  const char* what() const noexcept { return message_.empty() ? "CancelledError" : message_.c_str(); }

 private:
  std::string message_;
};

/// Base of every other asyncio error, so `catch (const asyncio::Error&)` catches them all.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Misuse of a Future: asking for the result of a pending one, or completing a done one.
class InvalidStateError : public Error {
 public:
  using Error::Error;
};

/// A deadline passed (`wait_for`, `timeout`).
class TimeoutError : public Error {
 public:
  TimeoutError() : Error("TimeoutError") {}
  using Error::Error;
};

/// Misuse of the loop or of a coroutine where Python raises RuntimeError: running a running
/// loop, using a closed loop, awaiting a coroutine twice, no running loop.
class RuntimeError : public Error {
 public:
  using Error::Error;
};

}  // namespace asyncio
