// Test helpers: a loop whose exception-handler reports are recorded, counters for checking
// what ran and in which order, and small coroutines and outcome checks the tests share.
#pragma once

#include <asyncio/asyncio.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
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
        [this](asyncio::EventLoop&, const asyncio::ExceptionContext& context) { reports.push_back(context); });
  }

  /// Runs `coro` on the loop to completion and gives its value.
  template <class T>
  T run(asyncio::Coro<T> coro) {
    return loop->run_until_complete(std::move(coro));
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

}  // namespace asyncio_test
