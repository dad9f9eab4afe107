// The exceptions of asyncio: CancelledError (deliberately not a std::exception, like Python's
// BaseException subclass) and the std::exception-derived errors the rest of the library throws,
// among them ExceptionGroup, which carries every failure of a TaskGroup.
#pragma once

#include <cstddef>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

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
  const char* what() const noexcept {
    return message_.empty() ? "CancelledError" : message_.c_str();
  }

 private:
  std::string message_;
};

/// Thrown by asyncio::run when Ctrl-C (SIGINT) interrupted the main task (Python's
/// KeyboardInterrupt). Like CancelledError it is not a std::exception. A program that lets it
/// escape main() ends through std::terminate; catch it to end as Python does (runners.hpp).
class KeyboardInterrupt {
 public:
  const char* what() const noexcept { return "KeyboardInterrupt"; }
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

/// get_nowait() on a queue with no item to give.
class QueueEmpty : public Error {
 public:
  QueueEmpty() : Error("QueueEmpty") {}
  using Error::Error;
};

/// put_nowait() on a queue with no free slot.
class QueueFull : public Error {
 public:
  QueueFull() : Error("QueueFull") {}
  using Error::Error;
};

/// put or get on a queue that was shut down (Python 3.13's asyncio.QueueShutDown).
class QueueShutDown : public Error {
 public:
  QueueShutDown() : Error("QueueShutDown") {}
  using Error::Error;
};

/// A Barrier was aborted or reset while a task waited on it, or is broken.
class BrokenBarrierError : public RuntimeError {
 public:
  BrokenBarrierError() : RuntimeError("Barrier aborted") {}
  using RuntimeError::RuntimeError;
};

/// A stream reached end of file before a read was satisfied (readexactly, readuntil).
/// partial() holds what was read; expected() is the size asked for, or -1 for readuntil.
class IncompleteReadError : public Error {
 public:
  IncompleteReadError(std::string partial, long long expected)
      : Error(std::to_string(partial.size()) + " bytes read on a total of " +
              (expected < 0 ? std::string("undefined") : std::to_string(expected)) +
              " expected bytes"),
        partial_(std::move(partial)),
        expected_(expected) {}

  const std::string& partial() const noexcept { return partial_; }
  long long expected() const noexcept { return expected_; }

 private:
  std::string partial_;
  long long expected_;
};

/// A stream's buffer reached its limit while looking for a separator (readuntil, readline).
/// consumed() is how many bytes may be consumed before the separator, as in Python.
class LimitOverrunError : public Error {
 public:
  LimitOverrunError(const std::string& message, std::size_t consumed)
      : Error(message), consumed_(consumed) {}

  std::size_t consumed() const noexcept { return consumed_; }

 private:
  std::size_t consumed_;
};

/// Several failures reported together (Python's ExceptionGroup): what a TaskGroup throws when
/// its tasks, or its body, failed. exceptions() gives each one, in the order they happened.
class ExceptionGroup : public Error {
 public:
  ExceptionGroup(const std::string& message, std::vector<std::exception_ptr> exceptions)
      : Error(message + " (" + std::to_string(exceptions.size()) +
              (exceptions.size() == 1 ? " sub-exception)" : " sub-exceptions)")),
        message_(message),
        exceptions_(std::move(exceptions)) {}

  /// The message without the count, as Python's `eg.message`.
  const std::string& message() const noexcept { return message_; }
  const std::vector<std::exception_ptr>& exceptions() const noexcept { return exceptions_; }
  std::size_t size() const noexcept { return exceptions_.size(); }

 private:
  std::string message_;
  std::vector<std::exception_ptr> exceptions_;
};

}  // namespace asyncio
