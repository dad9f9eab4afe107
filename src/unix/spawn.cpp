// spawn_child: posix_spawn with the file actions and attributes a SpawnRequest asks for (see
// spawn.hpp).
#include "unix/spawn.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>

#include "asyncio/detail/syscall.hpp"
#include "asyncio/event_loop.hpp"

extern char** environ;

namespace asyncio::detail {

namespace {

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

}  // namespace

/// Starts the child as `request` says: its pid and our ends of the pipes asked for.
SpawnedChild spawn_child(SpawnRequest& request) {
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
  return {pid, {std::move(ends[0].ours), std::move(ends[1].ours), std::move(ends[2].ours)}};
}

}  // namespace asyncio::detail
