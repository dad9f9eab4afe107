// Starting a child process with posix_spawn (glibc's is a vfork-style clone: the loop never
// waits for a fork to copy its memory): what the child's standard streams become, its
// directory, environment, inherited fds, session and signal state. create_subprocess_exec /
// _shell (subprocess.cpp) and subprocess_exec / _shell (subprocess_transport.cpp) share it.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "asyncio/detail/owned_fd.hpp"
#include "asyncio/subprocess.hpp"

namespace asyncio::detail {

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

/// A started child: its pid, and our ends of the pipes asked for (-1 for the others).
struct SpawnedChild {
  pid_t pid;
  OwnedFd pipes[3];
};

/// Starts the child as `request` says (argv's strings are handed to posix_spawn). RuntimeError
/// on a closed loop; std::system_error when the spawn fails (a missing program: ENOENT).
SpawnedChild spawn_child(SpawnRequest& request);

}  // namespace asyncio::detail
