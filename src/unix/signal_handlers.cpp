// SignalHandlers: the process-wide table of handled signals, the C handler, and the loop side
// (see the header's notes).
#include "unix/signal_handlers.hpp"

#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "asyncio/detail/syscall.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/exceptions.hpp"

namespace asyncio::detail {

namespace {

/// One signal's entry in the process-wide table.
struct Slot {
  // Read by the C handler (lock-free atomics are safe there).
  std::atomic<int> wakeup_fd{-1};    // the owning loop's eventfd; -1 when no loop handles it
  std::atomic<bool> pending{false};  // arrived, not yet seen by the owning loop
  // Guarded by table_mutex.
  SignalHandlers* owner = nullptr;
  struct sigaction previous {};  // the disposition to put back
};

Slot slots[NSIG];
std::mutex table_mutex;
// C handlers running right now, on any thread: close() waits for none before closing its eventfd.
std::atomic<int> handlers_running{0};

extern "C" void on_signal(int sig) {
  handlers_running.fetch_add(1);
  const int saved_errno = errno;
  Slot& slot = slots[sig];
  if (!slot.pending.exchange(true)) {  // the first since the loop last looked: wake it
    const int fd = slot.wakeup_fd.load();
    const std::uint64_t one = 1;
    if (fd >= 0) {
      const ssize_t n = ::write(fd, &one, sizeof one);  // full only if 2^64 - 1 went unread
      (void)n;
    }
  }
  errno = saved_errno;
  handlers_running.fetch_sub(1);
}

}  // namespace

void SignalHandlers::check_signal(int sig) {
  if (sig < 1 || sig >= NSIG) {
    throw std::invalid_argument("sig " + std::to_string(sig) + " out of range(1, " +
                                std::to_string(NSIG) + ")");
  }
}

bool SignalHandlers::has_default_disposition(int sig) noexcept {
  struct sigaction current {};
  return ::sigaction(sig, nullptr, &current) == 0 && current.sa_handler == SIG_DFL;
}

SignalHandlers::SignalHandlers(EventLoop& loop)
    : loop_(loop), wakeup_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (wakeup_.get() < 0) throw_errno(errno, "eventfd");
  loop_.add_reader(wakeup_.get(), [this] { dispatch(); });
}

SignalHandlers::~SignalHandlers() { close(); }

void SignalHandlers::add(int sig, Handler handler) {
  check_signal(sig);
  {
    std::lock_guard lock(table_mutex);
    Slot& slot = slots[sig];
    if (slot.owner != this) {
      if (slot.owner) {
        throw RuntimeError("signal " + std::to_string(sig) +
                           " is already handled by another event loop");
      }
      struct sigaction action {};
      action.sa_handler = &on_signal;
      sigemptyset(&action.sa_mask);
      action.sa_flags = SA_RESTART | SA_ONSTACK;
      slot.pending = false;
      slot.wakeup_fd = wakeup_.get();
      if (::sigaction(sig, &action, &slot.previous) != 0) {
        const int error = errno;
        slot.wakeup_fd = -1;
        if (error == EINVAL)  // SIGKILL, SIGSTOP, the C library's own: Python's RuntimeError
          throw RuntimeError("sig " + std::to_string(sig) + " cannot be caught");
        throw_errno(error, "sigaction");
      }
      slot.owner = this;
    }
  }
  handlers_[sig] = std::move(handler);
}

bool SignalHandlers::remove(int sig) {
  check_signal(sig);
  if (handlers_.erase(sig) == 0) return false;
  std::lock_guard lock(table_mutex);
  Slot& slot = slots[sig];
  ::sigaction(sig, &slot.previous, nullptr);
  slot.wakeup_fd = -1;
  slot.pending = false;
  slot.owner = nullptr;
  return true;
}

void SignalHandlers::close() noexcept {
  if (wakeup_.get() < 0) return;
  while (!handlers_.empty()) remove(handlers_.begin()->first);
  // A C handler that read the eventfd's number before remove() cleared it may still write.
  while (handlers_running.load() != 0) std::this_thread::yield();
  loop_.remove_reader(wakeup_.get());
  loop_.io_backend().close_fd(wakeup_.release());
}

bool SignalHandlers::any_pending() const noexcept {
  for (const auto& entry : handlers_) {
    if (slots[entry.first].pending.load(std::memory_order_relaxed)) return true;
  }
  return false;
}

// The eventfd is read before the flags are cleared: a signal arriving in between writes to it
// again (its flag was clear), so none is missed; at worst the loop wakes once for nothing.
void SignalHandlers::dispatch() {
  std::uint64_t count;
  [[maybe_unused]] const ssize_t n =
      retry_on_eintr([&] { return ::read(wakeup_.get(), &count, sizeof count); });
  for (const auto& entry : handlers_) {
    const int sig = entry.first;
    const Handler& handler = entry.second;
    if (!slots[sig].pending.exchange(false)) continue;
    loop_.call_soon([this, sig, handler] {
      // Removed or replaced since it arrived: Python cancels the scheduled handle.
      const auto it = handlers_.find(sig);
      if (it != handlers_.end() && it->second == handler) (*handler)();
    });
  }
}

}  // namespace asyncio::detail
