// ChildWatcher: a loop's watch over the child processes it started, reaping each as it exits
// and reporting its return code (Python's PidfdChildWatcher, with its fallback).
//
// Each child is watched through a pidfd (pidfd_open, Linux 5.3), which the selector reports
// readable once the child has exited; the child is then reaped with waitpid(pid) (its pid cannot
// be reused before that). Where pidfd_open is missing (ENOSYS, or refused by a seccomp filter),
// waitpid(pid, WNOHANG) is tried on a timer instead, 1 ms after the start and then at doubling
// intervals up to 100 ms. A child somebody else reaped (waitpid gives ECHILD) is reported with
// return code 255 and a warning through the exception handler, as Python does.
//
// No child outlives the watch as a zombie: when the loop closes, each child still running is
// sent SIGKILL and reaped (Python's subprocess transports kill theirs when collected).
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>

#include "asyncio/detail/io_watcher.hpp"
#include "asyncio/handle.hpp"

namespace asyncio {
class EventLoop;
}

namespace asyncio::detail {

class ChildWatcher {
 public:
  /// Called once with the child's return code: its exit status, or minus the signal that
  /// killed it.
  using OnExit = std::function<void(int returncode)>;

  explicit ChildWatcher(EventLoop& loop) noexcept : loop_(loop) {}
  ~ChildWatcher();
  ChildWatcher(const ChildWatcher&) = delete;
  ChildWatcher& operator=(const ChildWatcher&) = delete;

  /// Watches `pid`, a child of this process that nobody watches yet.
  void watch(pid_t pid, OnExit on_exit);
  /// Kills and reaps every child still running, reporting each.
  void close() noexcept;

 private:
  /// One watched child: its pidfd's reader (installed with the backend) or its polling timer.
  struct Child : IoWatcher {
    Child(ChildWatcher& owner, pid_t pid, OnExit on_exit) noexcept
        : IoWatcher(&on_event), owner(owner), pid(pid), on_exit(std::move(on_exit)) {}
    static void on_event(IoWatcher* watcher, Event event);

    ChildWatcher& owner;
    pid_t pid;
    OnExit on_exit;
    int pidfd = -1;
    bool installed = false;  // the pidfd's watch is in the backend
    TimerHandle poll_timer;
    Clock::duration poll_delay = std::chrono::milliseconds(1);  // until the next poll
  };

  void reap(pid_t pid);
  void poll_later(Child& child);
  void finish(pid_t pid, int returncode) noexcept;

  EventLoop& loop_;
  std::map<pid_t, std::unique_ptr<Child>> children_;
};

/// The return code Python gives a wait status: the exit status, or -signal.
int returncode_of(int status) noexcept;

/// Process.send_signal and SubprocessTransport.send_signal: sends `sig` to a child not reaped
/// yet. A reaped child's pid may belong to another process by then: nothing is sent, silently
/// while its pipes are open (`finished` false; Python's Popen skips a dead child), else
/// std::system_error(ESRCH) (Python's ProcessLookupError once connection_lost has run).
void signal_child(pid_t pid, int sig, bool reaped, bool finished);

}  // namespace asyncio::detail
