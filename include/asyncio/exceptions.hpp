// The exceptions of asyncio: CancelledError (deliberately not a std::exception, like Python's
// BaseException subclass) and the std::exception-derived errors the rest of the library throws,
// among them ExceptionGroup, which carries every failure of a TaskGroup.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <typeinfo>
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

/// Thrown at the co_yield where a generator is suspended by Generator::close() and
/// AsyncGenerator::aclose() (Python's GeneratorExit), so that the code that handles it, and
/// the destructors of the generator's locals, run. Like CancelledError it is not a
/// std::exception, so `catch (const std::exception&)` in the generator does not swallow it;
/// a generator that catches it must finish (return, or throw), not yield.
class GeneratorExit {
 public:
  const char* what() const noexcept { return "GeneratorExit"; }
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

/// Python's NotImplementedError: an operation this object does not offer (write_eof over
/// TLS: "SSL doesn't support half-closes").
class NotImplementedError : public RuntimeError {
 public:
  using RuntimeError::RuntimeError;
};

/// Python's SendfileNotAvailableError: sendfile(2) cannot send this file over this socket (the
/// file is not a regular one, say); sock_sendfile and sendfile then fall back to reading and
/// sending, unless told not to.
class SendfileNotAvailableError : public RuntimeError {
 public:
  using RuntimeError::RuntimeError;
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

/// Whether `error` holds an E (or something derived from E).
template <class E>
bool holds(const std::exception_ptr& error) noexcept {
  if (!error) return false;
#if defined(__GLIBCXX__)
  // libstdc++ tells the exact type without a rethrow (which costs an unwind): the common case,
  // as a CancelledError is nearly always exactly that. A type derived from E takes the rethrow.
  if (const std::type_info* type = error.__cxa_exception_type(); type && *type == typeid(E))
    return true;
#endif
  try {
    std::rethrow_exception(error);
  } catch (const E&) {
    return true;
  } catch (...) {
    return false;
  }
}

/// Several failures reported together (Python's ExceptionGroup): what a TaskGroup throws when
/// its tasks, or its body, failed. exceptions() gives each one, in the order they happened;
/// one may itself be an ExceptionGroup (nested groups). subgroup() and split() pick leaves by
/// type or by a condition, as Python's do; except_star() below is `except*`.
class ExceptionGroup : public Error {
 public:
  /// Decides whether an exception (a leaf, or a nested group) is picked.
  using Condition = std::function<bool(const std::exception_ptr&)>;
  /// Python's split(): what matched, and the rest; each none when empty.
  using Split = std::pair<std::optional<ExceptionGroup>, std::optional<ExceptionGroup>>;

  ExceptionGroup(const std::string& message, std::vector<std::exception_ptr> exceptions)
      : Error(message + " (" + std::to_string(exceptions.size()) +
              (exceptions.size() == 1 ? " sub-exception)" : " sub-exceptions)")),
        message_(message),
        exceptions_(std::move(exceptions)) {}

  /// The message without the count, as Python's `eg.message`.
  const std::string& message() const noexcept { return message_; }
  const std::vector<std::exception_ptr>& exceptions() const noexcept { return exceptions_; }
  std::size_t size() const noexcept { return exceptions_.size(); }

  /// Python's eg.split(condition): the condition is asked of this group first (all of it
  /// matches when it holds), then of each exception; a nested group is split the same way, and
  /// keeps its place and message in both parts.
  Split split(const Condition& condition) const;
  /// split() by type: the exceptions that are E's.
  template <class E>
  Split split() const {
    return split([](const std::exception_ptr& error) { return holds<E>(error); });
  }
  /// Python's eg.subgroup(condition): split()'s first part.
  std::optional<ExceptionGroup> subgroup(const Condition& condition) const {
    return split(condition).first;
  }
  template <class E>
  std::optional<ExceptionGroup> subgroup() const {
    return split<E>().first;
  }

  /// Python's eg.derive(exceptions): a group with this one's message.
  ExceptionGroup derive(std::vector<std::exception_ptr> exceptions) const {
    return ExceptionGroup(message_, std::move(exceptions));
  }

 private:
  /// split() once the condition did not hold for this group itself.
  Split split_exceptions(const Condition& condition) const;

  std::string message_;
  std::vector<std::exception_ptr> exceptions_;
};

/// Python's `except* E as group:` clause, for use in a `catch (...)`: calls handler(group) with
/// the part of `error` that is E's, as an ExceptionGroup (a lone exception is first wrapped in
/// one, as Python does), and returns what is left: null when everything was handled, for the
/// next clause or to rethrow. An exception the handler throws propagates, as from an except*
/// clause.
///
///     catch (...) {
///       std::exception_ptr rest = std::current_exception();
///       rest = asyncio::except_star<std::system_error>(rest, [](const asyncio::ExceptionGroup& g)
///       {...}); rest = asyncio::except_star<asyncio::TimeoutError>(rest, [](const
///       asyncio::ExceptionGroup& g) {...}); if (rest) std::rethrow_exception(rest);
///     }
template <class E, class Handler>
std::exception_ptr except_star(std::exception_ptr error, Handler&& handler) {
  if (!error) return nullptr;
  const bool grouped = holds<ExceptionGroup>(error);
  ExceptionGroup group = [&] {
    if (!grouped) return ExceptionGroup("", {error});
    try {
      std::rethrow_exception(error);
    } catch (const ExceptionGroup& caught) {
      return caught;
    }
  }();
  auto [match, rest] = group.split<E>();
  if (!match) return error;
  std::forward<Handler>(handler)(static_cast<const ExceptionGroup&>(*match));
  if (!rest) return nullptr;
  return std::make_exception_ptr(std::move(*rest));
}

}  // namespace asyncio
