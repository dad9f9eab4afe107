// Test helpers: whether the build is sanitized or optimised, a loop whose exception-handler
// reports are recorded and whose runs have a limit, small coroutines and outcome checks the
// tests share, and wait_until, the one way a test waits for a condition.
#pragma once

#include <gtest/gtest.h>
#include <asyncio/asyncio.hpp>

#include <chrono>
#include <memory>
#include <source_location>
#include <stdexcept>
#include <string>
#include <vector>

namespace asyncio_test {

/// Whether this program is built with AddressSanitizer or ThreadSanitizer (bigger frames, and
/// slower), or without optimisation: tests that build very deep or very large structures scale
/// down then.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool sanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool sanitized = true;
#else
inline constexpr bool sanitized = false;
#endif
#else
inline constexpr bool sanitized = false;
#endif
#ifdef __OPTIMIZE__
inline constexpr bool optimized = true;
#else
inline constexpr bool optimized = false;
#endif

/// A fresh loop that records what reaches its exception handler.
struct LoopFixture : ::testing::Test {
  std::vector<asyncio::ExceptionContext> reports;  // declared first: the loop reports into it
  std::unique_ptr<asyncio::EventLoop> loop = asyncio::new_event_loop();

  LoopFixture() { record_reports(); }

  /// Makes `loop`'s exception handler record into `reports` (for a fixture that replaces it).
  void record_reports() {
    loop->set_exception_handler(
        [this](asyncio::EventLoop&, const asyncio::ExceptionContext& context) {
          reports.push_back(context);
        });
  }

  /// How long run() lets the loop run: far more than any test needs on a loaded machine, so a
  /// run that reaches it has hung.
  static constexpr std::chrono::seconds run_limit{60};

  /// Runs the loop until `coro` (or `future`) is done and gives its value. When run_limit passes
  /// first, fails the test at the caller's line and stops the loop, so that run_until_complete
  /// throws instead of hanging. (Its timer is the only one due so late: a loop that waits on
  /// nothing else still sleeps in its selector.)
  template <class T>
  T run(asyncio::Coro<T> coro, std::source_location where = std::source_location::current()) {
    const Limit limit = limit_run(where);
    return loop->run_until_complete(std::move(coro));
  }
  template <class T>
  T run(asyncio::Future<T> future, std::source_location where = std::source_location::current()) {
    const Limit limit = limit_run(where);
    return loop->run_until_complete(std::move(future));
  }

  /// How many reports carry `message`.
  std::size_t reported(const std::string& message) const {
    std::size_t n = 0;
    for (const auto& r : reports) n += r.message == message;
    return n;
  }

  /// Runs the loop for `n` iterations: call_soon(stop) n times in a row.
  void run_iterations(int n) {
    for (int i = 0; i < n; ++i) {
      loop->call_soon([this] { loop->stop(); });
      loop->run_forever();
    }
  }

 private:
  /// run()'s timer, cancelled when the run ends.
  struct Limit {
    asyncio::TimerHandle timer;
    ~Limit() { timer.cancel(); }
  };
  Limit limit_run(std::source_location where) {
    if (loop->is_closed()) return {};  // run_until_complete refuses to run
    return {loop->call_later(run_limit, [this, where] {
      ADD_FAILURE_AT(where.file_name(), static_cast<int>(where.line()))
          << "gave up after " << run_limit.count()
          << " s waiting for this run of the loop to finish";
      loop->stop();
    })};
  }
};

/// What an exception_ptr holds, as text.
inline std::string what(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const asyncio::CancelledError& e) {
    return std::string("CancelledError:") + e.message();
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "?";
  }
}

/// How a finished task or future ended, as text: "" for a value, "cancelled", or what() of
/// its exception.
inline std::string outcome(asyncio::FutureBase done) {
  if (done.cancelled()) return "cancelled";
  std::exception_ptr error = done.exception();
  return error ? what(error) : "";
}

/// Sleeps `delay`, then gives `value`.
inline asyncio::Coro<int> after(std::chrono::milliseconds delay, int value) {
  co_await asyncio::sleep(delay);
  co_return value;
}

/// Sleeps `delay`, then throws std::runtime_error(what).
inline asyncio::Coro<int> fail_after(std::chrono::milliseconds delay, const char* what) {
  co_await asyncio::sleep(delay);
  throw std::runtime_error(what);
}

/// Awaits `coro`; true when it throws an E. (GoogleTest's macros must not contain co_await.)
template <class E, class T>
asyncio::Coro<bool> throws(asyncio::Coro<T> coro) {
  try {
    co_await std::move(coro);
  } catch (const E&) {
    co_return true;
  }
  co_return false;
}

/// Awaits `future`; true when it throws an E.
template <class E, class T>
asyncio::Coro<bool> throws(asyncio::Future<T> future) {
  try {
    co_await future;
  } catch (const E&) {
    co_return true;
  }
  co_return false;
}

/// What wait_until throws when it gives up, after recording the test's failure: it ends the
/// test's coroutine, which would otherwise go on from a state it never reached.
struct GaveUp : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Waits on the running loop, checking every millisecond, until `done()` holds. When `limit`
/// passes first, fails the test at the caller's line, saying it was waiting for `what`, and
/// throws GaveUp. The limit only turns a hang into a failure: it is seconds, far more than the
/// wait takes on a loaded machine, never a measure of how fast something should happen.
template <class Predicate>
asyncio::Coro<void> wait_until(Predicate done, std::chrono::milliseconds limit, const char* what,
                               std::source_location where = std::source_location::current()) {
  asyncio::EventLoop& loop = asyncio::get_running_loop();
  const asyncio::TimePoint deadline = loop.time() + limit;
  while (!done()) {
    if (loop.time() >= deadline) {
      ADD_FAILURE_AT(where.file_name(), static_cast<int>(where.line()))
          << "gave up after " << limit.count() << " ms waiting for " << what;
      throw GaveUp(std::string("gave up waiting for ") + what);
    }
    co_await asyncio::sleep(std::chrono::milliseconds(1));
  }
}

}  // namespace asyncio_test
