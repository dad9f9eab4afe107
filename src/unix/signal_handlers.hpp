// SignalHandlers: a loop's Unix signal handlers (Python's loop.add_signal_handler). The C
// handler the process runs for a signal does only what is safe inside a signal handler: it
// marks the signal pending and writes to the owning loop's eventfd, once until the loop has seen
// it (a storm of one signal is coalesced into one call, as Python's may be). The loop, woken by
// the eventfd, schedules the Python-level callback of each pending signal with call_soon: it
// runs as an ordinary callback, never inside the signal handler.
//
// A signal has one owner in the process (the C handler is process-wide): adding a handler for a
// signal another open loop handles raises RuntimeError. Any thread may receive the signal; the
// eventfd carries it to the loop's thread. The disposition found when a loop first handles a
// signal is put back when the handler is removed or the loop closes.
#pragma once

#include <functional>
#include <map>
#include <memory>

#include "asyncio/detail/io_watcher.hpp"
#include "asyncio/detail/owned_fd.hpp"

namespace asyncio {
class EventLoop;
}

namespace asyncio::detail {

class SignalHandlers {
 public:
  using Handler = std::shared_ptr<const std::function<void()>>;

  /// Makes the eventfd the C handler wakes the loop with, and watches it.
  explicit SignalHandlers(EventLoop& loop);
  /// Removes every handler (close() must have been called while the loop's backend was open).
  ~SignalHandlers();
  SignalHandlers(const SignalHandlers&) = delete;
  SignalHandlers& operator=(const SignalHandlers&) = delete;

  /// Installs (or replaces) the handler of `sig`. std::invalid_argument for a number out of
  /// range, SIGKILL or SIGSTOP; RuntimeError when another loop handles `sig`; std::system_error
  /// when sigaction refuses it.
  void add(int sig, Handler handler);
  /// Removes the handler of `sig` and puts the old disposition back; false if there was none.
  bool remove(int sig);
  /// std::invalid_argument for a number out of range, SIGKILL or SIGSTOP.
  static void check_signal(int sig);
  /// Whether `sig` has its default disposition (no handler installed, not ignored): what
  /// asyncio::run's Ctrl-C handling and Shards check before they take a signal over.
  static bool has_default_disposition(int sig) noexcept;
  /// Removes every handler, waits for a C handler still running on another thread to leave,
  /// and closes the eventfd.
  void close() noexcept;
  /// Whether a handled signal arrived that dispatch() has not seen (the loop's poll skips the
  /// system call when nothing else is watched and it would not wait).
  bool any_pending() const noexcept;
  /// Schedules the callback of every signal that arrived (the eventfd is readable).
  void dispatch();

 private:
  EventLoop& loop_;
  OwnedFd wakeup_;  // the eventfd; -1 once closed
  std::map<int, Handler> handlers_;
};

}  // namespace asyncio::detail
