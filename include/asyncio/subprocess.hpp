// Python's asyncio subprocesses: create_subprocess_exec / create_subprocess_shell, and Process
// with its pipes as streams (asyncio.subprocess). Linux only: the child is started with
// posix_spawn (glibc's is a vfork-style clone: the loop never waits for a fork to copy its
// memory) and its exit is watched through a pidfd (src/unix/child_watcher.hpp).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "asyncio/coro.hpp"
#include "asyncio/detail/loop_bound.hpp"
#include "asyncio/streams.hpp"

namespace asyncio {

namespace subprocess {
/// Values for SubprocessOptions' stdin, stdout and stderr besides an fd (Python's constants,
/// with Python's values): a new pipe to the child, the child's stdout (stderr only), /dev/null.
inline constexpr int PIPE = -1;
inline constexpr int STDOUT = -2;
inline constexpr int DEVNULL = -3;
}  // namespace subprocess

/// The keyword arguments of Python's create_subprocess_exec, in its order, for designated
/// initializers: `{.stdout = asyncio::subprocess::PIPE, .cwd = "/tmp"}`.
///
/// Every member is a value or a pointer that create_subprocess_exec/shell reads (and copies)
/// when called, so the options may be a temporary inside a co_await expression: g++ 12
/// destroys an aggregate temporary there twice, which only a trivially destructible one
/// survives (hence pointers, not std::string and std::map members).
struct SubprocessOptions {
  /// Each: unset to inherit ours (Python's None), subprocess::PIPE, subprocess::DEVNULL,
  /// subprocess::STDOUT (stderr only), or an open fd of ours (dup'ed; it stays ours).
  std::optional<int> stdin{};
  std::optional<int> stdout{};
  std::optional<int> stderr{};
  /// The buffer limit of the stdout and stderr readers.
  std::size_t limit = DEFAULT_LIMIT;
  /// The child's working directory; null: ours.
  const char* cwd = nullptr;
  /// The child's whole environment, names to values; null: ours.
  const std::map<std::string, std::string>* env = nullptr;
  /// setsid() in the child: a new session and process group.
  bool start_new_session = false;
  /// Fds the child keeps, at the same numbers (close_fds closes all the others above 2).
  std::span<const int> pass_fds{};
  /// Close every fd above 2 in the child except pass_fds (the library's own fds are
  /// close-on-exec in any case).
  bool close_fds = true;
};
static_assert(std::is_trivially_destructible_v<SubprocessOptions>);

namespace detail {
class ProcessState;
/// Whether child processes are watched through a pidfd (the default, where the kernel has
/// them) or by the fallback that polls waitpid; tests turn pidfds off to exercise it.
void set_pidfd_enabled(bool enabled) noexcept;
}  // namespace detail

/// A child process (Python's asyncio.subprocess.Process). A cheap handle: copies refer to the
/// same process. The loop reaps the child when it exits, whether or not anyone waits; a child
/// still running when the loop closes is killed (SIGKILL) and reaped.
class Process : detail::LoopBound {
 public:
  /// The pipes asked for with subprocess::PIPE (Python's proc.stdin, .stdout, .stderr).
  std::optional<StreamWriter> stdin;
  std::optional<StreamReader> stdout;
  std::optional<StreamReader> stderr;

  Process(std::shared_ptr<detail::ProcessState> state, std::optional<StreamWriter> in,
          std::optional<StreamReader> out, std::optional<StreamReader> err) noexcept;

  int pid() const noexcept;
  /// Unset while the child runs; then its exit status, or -N when signal N killed it.
  std::optional<int> returncode() const noexcept;

  /// Waits for the child to exit and for its stdout and stderr pipes to reach EOF (as
  /// Python's); returns returncode(), at once when the exit is already known. A child that
  /// fills a pipe nobody reads never exits: use communicate(). Cancelling the wait leaves the
  /// child running (and still reaped later).
  Coro<int> wait();
  /// Writes `input` to stdin (if given) and closes it, reads stdout and stderr to EOF, all at
  /// once, then waits for the child; returns what was read (empty for a stream not piped). A
  /// child that closed its stdin early is not an error. Cancelling it leaves the child running.
  Coro<std::pair<std::string, std::string>> communicate(
      std::optional<std::string> input = std::nullopt);

  /// Sends `sig` to the child. Once it has been reaped (its pid may belong to another process
  /// by then) nothing is sent: silently while its pipes are open, as Python's Popen skips a
  /// dead child, then std::system_error(ESRCH) (Python's ProcessLookupError).
  void send_signal(int sig);
  /// send_signal(SIGTERM).
  void terminate();
  /// send_signal(SIGKILL).
  void kill();

 private:
  std::shared_ptr<detail::ProcessState> state_;
};

/// Starts `program` (looked up in our PATH when it has no '/') with arguments `args` (argv[0]
/// is `program`) when awaited: Python's create_subprocess_exec. What `options` points at is
/// copied now. A program that cannot be run (missing, not executable) raises
/// std::system_error with the child's errno (ENOENT: Python's FileNotFoundError) and no
/// process is left behind.
Coro<Process> create_subprocess_exec(std::string program, std::vector<std::string> args = {},
                                     SubprocessOptions options = {});

namespace detail {
inline void add_exec_argument(std::vector<std::string>& args, SubprocessOptions&,
                              std::string_view arg) {
  args.emplace_back(arg);
}
inline void add_exec_argument(std::vector<std::string>&, SubprocessOptions& options,
                              SubprocessOptions given) {
  options = std::move(given);
}
}  // namespace detail

/// Python's spelling: create_subprocess_exec("ls", "-l", "/tmp"), with the options, if any,
/// last: create_subprocess_exec("ls", "-l", SubprocessOptions{.stdout = subprocess::PIPE}).
template <class... Args>
  requires(sizeof...(Args) > 0 &&
           ((std::is_convertible_v<Args, std::string_view> ||
             std::is_same_v<std::remove_cvref_t<Args>, SubprocessOptions>)&&...))
Coro<Process> create_subprocess_exec(std::string program, Args&&... args) {
  std::vector<std::string> arguments;
  SubprocessOptions options;
  (detail::add_exec_argument(arguments, options, std::forward<Args>(args)), ...);
  return create_subprocess_exec(std::move(program), std::move(arguments), std::move(options));
}

/// Runs `cmd` with /bin/sh -c when awaited: Python's create_subprocess_shell. The caller quotes
/// what needs quoting. A shell that cannot find the command exits with 127.
Coro<Process> create_subprocess_shell(std::string cmd, SubprocessOptions options = {});

}  // namespace asyncio
