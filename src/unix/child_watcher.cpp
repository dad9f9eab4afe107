// ChildWatcher: pidfd watches, the waitpid fallback on a timer, and the kill-and-reap at close
// (see the header's notes).
#include "unix/child_watcher.hpp"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <string>
#include <system_error>

#include "asyncio/detail/io_watcher.hpp"
#include "asyncio/detail/syscall.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/subprocess.hpp"

namespace asyncio::detail {

namespace {

std::atomic<bool> pidfd_enabled{true};

constexpr Clock::duration longest_poll = std::chrono::milliseconds(100);

/// A pidfd for `pid`, or -1 where the kernel has none to give (or tests turned them off).
int open_pidfd(pid_t pid) noexcept {
#ifdef SYS_pidfd_open
  if (!pidfd_enabled.load(std::memory_order_relaxed)) return -1;
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  return -1;
#endif
}

}  // namespace

int returncode_of(int status) noexcept {
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return status;
}

void ChildWatcher::Child::on_event(IoWatcher* watcher, Event event) {
  auto& child = *static_cast<Child*>(watcher);
  if (event == Event::removed) {  // somebody took the pidfd's watch away: poll instead
    child.installed = false;
    child.owner.poll_later(child);
    return;
  }
  child.owner.reap(child.pid);
}

void set_pidfd_enabled(bool enabled) noexcept { pidfd_enabled = enabled; }

ChildWatcher::~ChildWatcher() { close(); }

void ChildWatcher::watch(pid_t pid, OnExit on_exit) {
  auto child = std::make_unique<Child>(*this, pid, std::move(on_exit));
  Child& watched = *child;
  children_.emplace(pid, std::move(child));
  watched.pidfd = open_pidfd(pid);
  if (watched.pidfd >= 0) {
    try {
      loop_.io_backend().add_watcher(watched.pidfd, IoBackend::reader, &watched, false);
      watched.installed = true;
      return;
    } catch (...) {  // a selector that cannot take it: poll
    }
  }
  poll_later(watched);
}

void ChildWatcher::poll_later(Child& child) {
  const pid_t pid = child.pid;
  child.poll_timer = loop_.call_later(child.poll_delay, [this, pid] { reap(pid); });
  child.poll_delay = std::min(child.poll_delay * 2, longest_poll);
}

void ChildWatcher::reap(pid_t pid) {
  const auto found = children_.find(pid);
  if (found == children_.end()) return;
  int status = 0;
  const pid_t reaped = retry_on_eintr([&] { return ::waitpid(pid, &status, WNOHANG); });
  if (reaped == pid) return finish(pid, returncode_of(status));
  if (reaped < 0 && errno == ECHILD) {
    loop_.call_exception_handler(
        {"Unknown child process pid " + std::to_string(pid) + ", will report returncode 255",
         nullptr,
         {}});
    return finish(pid, 255);
  }
  // Still running (a pidfd stays readable only once it has exited; a poll came too early).
  if (!found->second->installed) poll_later(*found->second);
}

void ChildWatcher::finish(pid_t pid, int returncode) noexcept {
  const auto found = children_.find(pid);
  std::unique_ptr<Child> child = std::move(found->second);
  children_.erase(found);
  if (child->installed) loop_.io_backend().detach_watcher(child->pidfd, IoBackend::reader);
  if (child->pidfd >= 0) loop_.io_backend().close_fd(child->pidfd);
  child->poll_timer.cancel();
  child->on_exit(returncode);
}

void ChildWatcher::close() noexcept {
  while (!children_.empty()) {
    const pid_t pid = children_.begin()->first;
    ::kill(pid, SIGKILL);
    int status = 0;
    const pid_t reaped = retry_on_eintr([&] { return ::waitpid(pid, &status, 0); });
    finish(pid, reaped == pid ? returncode_of(status) : 255);
  }
}

void signal_child(pid_t pid, int sig, bool reaped, bool finished) {
  if (reaped) {
    if (finished) throw std::system_error(ESRCH, std::generic_category(), "kill");
    return;
  }
  if (::kill(pid, sig) != 0) throw_errno(errno, "kill");
}

}  // namespace asyncio::detail
