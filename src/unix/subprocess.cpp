// create_subprocess_exec / create_subprocess_shell and Process: the child is started with
// posix_spawn, its pipes become stream transports, and the loop's ChildWatcher reaps it.
#include "asyncio/subprocess.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <set>
#include <system_error>

#include "asyncio/detail/owned_fd.hpp"
#include "asyncio/detail/syscall.hpp"
#include "asyncio/detail/wait_queue.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/tasks.hpp"
#include "unix/child_watcher.hpp"

extern char** environ;

namespace asyncio {

namespace detail {

/// One child: its pid, its stdout and stderr pipes, and once the ChildWatcher has reaped it,
/// its return code. Shared by the Process handles and by the watcher's exit callback.
class ProcessState {
 public:
  explicit ProcessState(pid_t pid) noexcept : pid_(pid) {}

  /// The read pipes wait() waits to reach EOF (each is closed at EOF).
  std::vector<std::shared_ptr<StreamReaderProtocol>> read_pipes;

  pid_t pid() const noexcept { return pid_; }
  const std::optional<int>& returncode() const noexcept { return returncode_; }
  void exited(int returncode) noexcept {
    returncode_ = returncode;
    exit_waiters_.wake_all();
  }
  WakeAwaiter wait_for_exit() noexcept {
    return WakeAwaiter(exit_waiters_, returncode_.has_value());
  }

 private:
  pid_t pid_;
  std::optional<int> returncode_;  // set once reaped
  WaitQueue exit_waiters_{"Process"};
};

}  // namespace detail

namespace {

using detail::OwnedFd;
using detail::throw_errno;

/// posix_spawn_file_actions_t and posix_spawnattr_t, destroyed however the spawn ends.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attributes);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;

  void check(int error, const char* what) {
    if (error != 0) throw_errno(error, what);
  }
  void dup2(int from, int to) {
    check(posix_spawn_file_actions_adddup2(&actions, from, to), "posix_spawn_file_actions_adddup2");
  }
};

/// Our end and the child's end of one standard stream.
struct StdioEnds {
  OwnedFd ours;    // the parent's end of a pipe, else -1
  OwnedFd held;    // an fd we opened for the child (its pipe end, /dev/null), closed after spawn
  int child = -1;  // what the child gets as the stream: dup2'ed onto it; -1: inherited
};

/// Sets up the child's stream `target` (0, 1 or 2) as `how` says.
StdioEnds stdio_ends(const std::optional<int>& how, int target) {
  StdioEnds ends;
  if (!how) return ends;
  if (*how == subprocess::PIPE) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno(errno, "pipe2");
    const bool child_reads = target == 0;
    ends.ours = OwnedFd(child_reads ? fds[1] : fds[0]);
    ends.held = OwnedFd(child_reads ? fds[0] : fds[1]);
    if (::fcntl(ends.ours.get(), F_SETFL, O_NONBLOCK) != 0) throw_errno(errno, "fcntl");
    ends.child = ends.held.get();
  } else if (*how == subprocess::DEVNULL) {
    ends.held = OwnedFd(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (ends.held.get() < 0) throw_errno(errno, "open /dev/null");
    ends.child = ends.held.get();
  } else if (*how == subprocess::STDOUT) {
    if (target != 2) throw std::invalid_argument("STDOUT can only be used for stderr");
    ends.child = 1;
  } else if (*how >= 0) {
    // An fd of ours below 3 that is not its own target would be overwritten by an earlier
    // dup2 of the spawn: give the child a copy above 2 instead.
    if (*how < 3 && *how != target) {
      ends.held = OwnedFd(::fcntl(*how, F_DUPFD_CLOEXEC, 3));
      if (ends.held.get() < 0) throw_errno(errno, "fcntl");
      ends.child = ends.held.get();
    } else {
      ends.child = *how;
    }
  } else {
    throw std::invalid_argument("invalid value for stdin, stdout or stderr: " +
                                std::to_string(*how));
  }
  return ends;
}

/// What a spawn needs, copied out of the call's arguments (SubprocessOptions only points at
/// the caller's strings), for the coroutine that spawns when awaited.
struct SpawnRequest {
  SpawnRequest(std::string file, std::vector<std::string> argv, bool search_path,
               const SubprocessOptions& given)
      : file(std::move(file)),
        argv(std::move(argv)),
        search_path(search_path),
        stdio{given.stdin, given.stdout, given.stderr},
        limit(given.limit),
        pass_fds(given.pass_fds.begin(), given.pass_fds.end()),
        start_new_session(given.start_new_session),
        close_fds(given.close_fds) {
    if (given.cwd) cwd = given.cwd;
    if (given.env) {
      env.emplace();
      for (const auto& [name, value] : *given.env) env->push_back(name + "=" + value);
    }
  }

  std::string file;
  std::vector<std::string> argv;
  bool search_path;  // posix_spawnp: look `file` up in PATH
  std::optional<int> stdio[3];
  std::size_t limit;
  std::optional<std::string> cwd;
  std::optional<std::vector<std::string>> env;  // "NAME=value" entries
  std::set<int> pass_fds;
  bool start_new_session;
  bool close_fds;
};

Process spawn(SpawnRequest& request) {
  EventLoop& loop = get_running_loop();
  loop.check_open();
  StdioEnds ends[3] = {stdio_ends(request.stdio[0], 0), stdio_ends(request.stdio[1], 1),
                       stdio_ends(request.stdio[2], 2)};

  SpawnSetup setup;
  for (int target = 0; target < 3; ++target) {
    if (ends[target].child >= 0) setup.dup2(ends[target].child, target);
  }
  if (request.cwd) {
    // posix_spawn reports a failed chdir as it reports a failed exec; name the directory.
    struct stat status;
    if (::stat(request.cwd->c_str(), &status) != 0) throw_errno(errno, *request.cwd);
    if (!S_ISDIR(status.st_mode)) throw_errno(ENOTDIR, *request.cwd);
    setup.check(posix_spawn_file_actions_addchdir_np(&setup.actions, request.cwd->c_str()),
                "posix_spawn_file_actions_addchdir_np");
  }
  // pass_fds: kept at their numbers, made inheritable (a dup2 onto itself clears
  // close-on-exec); close_fds closes the gaps between them and everything above.
  int next_to_close = 3;
  for (const int fd : request.pass_fds) {
    if (fd < 3) continue;
    if (request.close_fds) {
      for (; next_to_close < fd; ++next_to_close) {
        setup.check(posix_spawn_file_actions_addclose(&setup.actions, next_to_close),
                    "posix_spawn_file_actions_addclose");
      }
    }
    setup.dup2(fd, fd);
    next_to_close = fd + 1;
  }
  if (request.close_fds) {
    setup.check(posix_spawn_file_actions_addclosefrom_np(&setup.actions, next_to_close),
                "posix_spawn_file_actions_addclosefrom_np");
  }

  // The child starts with no signal blocked, and with SIGPIPE and SIGXFSZ at their defaults
  // even where we ignore them (Python's restore_signals).
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (request.start_new_session) flags |= POSIX_SPAWN_SETSID;
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGXFSZ);
  setup.check(posix_spawnattr_setflags(&setup.attributes, flags), "posix_spawnattr_setflags");
  setup.check(posix_spawnattr_setsigmask(&setup.attributes, &none), "posix_spawnattr_setsigmask");
  setup.check(posix_spawnattr_setsigdefault(&setup.attributes, &defaults),
              "posix_spawnattr_setsigdefault");

  std::vector<char*> args;
  for (std::string& arg : request.argv) args.push_back(arg.data());
  args.push_back(nullptr);
  std::vector<char*> env;
  if (request.env) {
    for (std::string& entry : *request.env) env.push_back(entry.data());
    env.push_back(nullptr);
  }
  char** envp = request.env ? env.data() : environ;

  pid_t pid;
  const int error = request.search_path ? posix_spawnp(&pid, request.file.c_str(), &setup.actions,
                                                       &setup.attributes, args.data(), envp)
                                        : posix_spawn(&pid, request.file.c_str(), &setup.actions,
                                                      &setup.attributes, args.data(), envp);
  // glibc reports a failed exec here, with the child already reaped.
  if (error != 0) throw_errno(error, request.file);

  auto state = std::make_shared<detail::ProcessState>(pid);
  loop.child_watcher().watch(pid, [state](int returncode) { state->exited(returncode); });

  using Kind = detail::StreamTransport::Kind;
  auto transport = [&](StdioEnds& end, Kind kind) {
    auto protocol = std::make_shared<StreamReaderProtocol>(request.limit);
    detail::StreamTransport::open(loop, std::move(end.ours), kind, protocol);
    return protocol;
  };
  std::optional<StreamWriter> in;
  std::optional<StreamReader> out, err;
  if (ends[0].ours.get() >= 0) in.emplace(transport(ends[0], Kind::write_pipe));
  if (ends[1].ours.get() >= 0)
    out.emplace(state->read_pipes.emplace_back(transport(ends[1], Kind::read_pipe)));
  if (ends[2].ours.get() >= 0)
    err.emplace(state->read_pipes.emplace_back(transport(ends[2], Kind::read_pipe)));
  return Process(std::move(state), std::move(in), std::move(out), std::move(err));
}

Coro<void> feed_stdin(StreamWriter writer, std::optional<std::string> input) {
  try {
    if (input) writer.write(*input);
    co_await writer.drain();
  } catch (const std::system_error& error) {
    // As Python's communicate(): a child that closed its stdin early is not an error.
    if (error.code().value() != EPIPE && error.code().value() != ECONNRESET) throw;
  }
  writer.close();
}

Coro<std::string> read_all(std::optional<StreamReader> reader) {
  if (!reader) co_return std::string();
  co_return co_await reader->read();
}

Coro<void> nothing() { co_return; }

Coro<Process> spawn_when_awaited(SpawnRequest request) { co_return spawn(request); }

Coro<int> wait_for(std::shared_ptr<detail::ProcessState> state) {
  co_await state->wait_for_exit();
  for (const std::shared_ptr<StreamReaderProtocol>& pipe : state->read_pipes)
    co_await pipe->wait_for_close();
  co_return *state->returncode();
}

Coro<std::pair<std::string, std::string>> communicate_with(Process process,
                                                           std::optional<std::string> input) {
  Coro<void> feed = process.stdin ? feed_stdin(*process.stdin, std::move(input)) : nothing();
  auto results =
      co_await gather(std::move(feed), read_all(process.stdout), read_all(process.stderr));
  co_await process.wait();
  co_return std::pair(std::move(std::get<1>(results)), std::move(std::get<2>(results)));
}

}  // namespace

Process::Process(std::shared_ptr<detail::ProcessState> state, std::optional<StreamWriter> in,
                 std::optional<StreamReader> out, std::optional<StreamReader> err) noexcept
    : stdin(std::move(in)),
      stdout(std::move(out)),
      stderr(std::move(err)),
      state_(std::move(state)) {}

int Process::pid() const noexcept { return state_->pid(); }

std::optional<int> Process::returncode() const noexcept { return state_->returncode(); }

// Each coroutine holds what it needs, so it may outlive the handle it was called on.
Coro<int> Process::wait() { return wait_for(state_); }

Coro<std::pair<std::string, std::string>> Process::communicate(std::optional<std::string> input) {
  return communicate_with(*this, std::move(input));
}

void Process::send_signal(int sig) {
  if (state_->returncode()) throw std::system_error(ESRCH, std::generic_category(), "kill");
  if (::kill(state_->pid(), sig) != 0) throw_errno(errno, "kill");
}

void Process::terminate() { send_signal(SIGTERM); }

void Process::kill() { send_signal(SIGKILL); }

Coro<Process> create_subprocess_exec(std::string program, std::vector<std::string> args,
                                     SubprocessOptions options) {
  args.insert(args.begin(), program);
  return spawn_when_awaited(SpawnRequest(std::move(program), std::move(args), true, options));
}

Coro<Process> create_subprocess_shell(std::string cmd, SubprocessOptions options) {
  return spawn_when_awaited(
      SpawnRequest("/bin/sh", {"/bin/sh", "-c", std::move(cmd)}, false, options));
}

}  // namespace asyncio
