// asyncio-ps and asyncio-pstree: print the tasks of a running program, as Python's
// `python -m asyncio ps PID` and `pstree PID` do. The program must have inspection enabled
// (EventLoop::enable_inspection, or ASYNCIO_INSPECT=1 in its environment); each of its
// inspected loops is asked in turn through its socket. One program, two names: run as
// asyncio-pstree (or with --tree) it prints the tree.
//
//   asyncio-ps PID            every task: id, name, state, idle time, stack, awaiters
//   asyncio-pstree PID        the tasks as a tree of who awaits whom
//   asyncio-ps --tasks PID    every task with its full call graph
//   asyncio-ps --stats PID    the loops' counters, in Prometheus' text format
//   asyncio-ps --socket PATH  ask one socket (a loop's inspection_path())
#include <glob.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr int timeout_ms = 30'000;  // per read: a loop answers a slice each iteration

int usage(const char* name) {
  std::fprintf(stderr,
               "usage: %s [--tree | --tasks | --stats] PID\n"
               "       %s [--tree | --tasks | --stats] --socket PATH\n",
               name, name);
  return 2;
}

std::string socket_directory() {
  if (const char* dir = std::getenv("ASYNCIO_INSPECT_DIR"); dir && *dir) return dir;
  return "/tmp/asyncio-" + std::to_string(geteuid());
}

/// Sends `command` to the socket at `path` and copies the answer to stdout.
bool ask(const std::string& path, const std::string& command) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) {
    std::fprintf(stderr, "asyncio-ps: socket path too long: %s\n", path.c_str());
    return false;
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    std::fprintf(stderr, "asyncio-ps: %s: %s\n", path.c_str(), std::strerror(errno));
    if (fd >= 0) ::close(fd);
    return false;
  }
  const std::string line = command + "\n";
  bool ok = ::send(fd, line.data(), line.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(line.size());
  char buffer[65536];
  while (ok) {
    pollfd ready{fd, POLLIN, 0};
    const int n = ::poll(&ready, 1, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::fprintf(stderr, "asyncio-ps: %s: no answer within %d s\n", path.c_str(),
                   timeout_ms / 1000);
      ok = false;
      break;
    }
    const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      std::fprintf(stderr, "asyncio-ps: %s: %s\n", path.c_str(), std::strerror(errno));
      ok = false;
    }
    if (got <= 0) break;
    std::fwrite(buffer, 1, static_cast<std::size_t>(got), stdout);
  }
  ::close(fd);
  std::fflush(stdout);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view self = argv[0];
  std::string command = self.ends_with("pstree") ? "pstree" : "ps";
  std::string socket;
  std::string pid;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--tree") {
      command = "pstree";
    } else if (arg == "--tasks") {
      command = "tasks";
    } else if (arg == "--stats") {
      command = "stats";
    } else if (arg == "--socket" && i + 1 < argc) {
      socket = argv[++i];
    } else if (!arg.empty() && arg.find_first_not_of("0123456789") == std::string_view::npos) {
      pid = arg;
    } else {
      return usage(argv[0]);
    }
  }
  if (!socket.empty()) return ask(socket, command) ? 0 : 1;
  if (pid.empty()) return usage(argv[0]);

  const std::string pattern = socket_directory() + "/" + pid + ".*.sock";
  glob_t found{};
  std::vector<std::string> paths;
  if (::glob(pattern.c_str(), 0, nullptr, &found) == 0) {
    for (std::size_t i = 0; i < found.gl_pathc; ++i) paths.emplace_back(found.gl_pathv[i]);
  }
  ::globfree(&found);
  if (paths.empty()) {
    std::fprintf(stderr,
                 "asyncio-ps: process %s has no inspection socket in %s (is inspection on? "
                 "EventLoop::enable_inspection(), or ASYNCIO_INSPECT=1 in its environment)\n",
                 pid.c_str(), socket_directory().c_str());
    return 1;
  }
  bool ok = true;
  for (const std::string& path : paths) ok = ask(path, command) && ok;
  return ok ? 0 : 1;
}
