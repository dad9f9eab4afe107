// WriteFlow: a transport's write-buffer marks and Python's write flow control (CPython's
// _FlowControlMixin on the transport side): the protocol's pause_writing is called once the
// buffer passes the high-water mark, and resume_writing once it falls back to the low-water
// mark, alternately. Shared by the stream and the datagram transport.
#pragma once

#include <cstddef>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "asyncio/protocols.hpp"

namespace asyncio::detail {

class WriteFlow {
 public:
  static constexpr std::size_t default_high_water = 64 * 1024;
  static constexpr std::size_t default_low_water = 16 * 1024;

  /// Python's set_write_buffer_limits(high, low): with neither, the defaults; with one, the
  /// other is a quarter or four times it. std::invalid_argument unless high >= low.
  void set_limits(std::optional<std::size_t> high, std::optional<std::size_t> low) {
    const std::size_t high_mark = high ? *high : low ? 4 * *low : default_high_water;
    const std::size_t low_mark = low ? *low : high_mark / 4;
    if (low_mark > high_mark) {
      throw std::invalid_argument("high (" + std::to_string(high_mark) + ") must be >= low (" +
                                  std::to_string(low_mark) + ") must be >= 0");
    }
    high_ = high_mark;
    low_ = low_mark;
  }
  /// (low, high), in Python's order.
  std::pair<std::size_t, std::size_t> limits() const noexcept { return {low_, high_}; }

  /// The buffer holds `size` bytes now: pause_writing when it passed the high-water mark, or
  /// resume_writing when it fell to the low-water mark, if the protocol is not told already.
  /// What the protocol throws goes to `report(message, exception)`.
  template <class Report>
  void maybe_pause(std::size_t size, BaseProtocol* protocol, Report&& report) noexcept {
    if (paused_ || size <= high_) return;
    paused_ = true;
    call(protocol, &BaseProtocol::pause_writing, "protocol.pause_writing() failed", report);
  }
  template <class Report>
  void maybe_resume(std::size_t size, BaseProtocol* protocol, Report&& report) noexcept {
    if (!paused_ || size > low_) return;
    paused_ = false;
    call(protocol, &BaseProtocol::resume_writing, "protocol.resume_writing() failed", report);
  }

 private:
  template <class Report>
  static void call(BaseProtocol* protocol, void (BaseProtocol::*callback)(), const char* message,
                   Report& report) noexcept {
    if (!protocol) return;
    try {
      (protocol->*callback)();
    } catch (...) {
      report(message, std::current_exception());
    }
  }

  std::size_t high_ = default_high_water;
  std::size_t low_ = default_low_water;
  bool paused_ = false;  // pause_writing was called, not yet resume_writing
};

}  // namespace asyncio::detail
