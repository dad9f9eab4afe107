// create_subprocess_exec / create_subprocess_shell and Process: the child is started by
// spawn_child (spawn.hpp), its pipes become stream transports, and the loop's ChildWatcher
// reaps it.
#include "asyncio/subprocess.hpp"

#include <signal.h>

#include <cerrno>
#include <system_error>

#include "asyncio/detail/owned_fd.hpp"
#include "asyncio/detail/stream_transport.hpp"
#include "asyncio/detail/syscall.hpp"
#include "asyncio/detail/wait_queue.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/tasks.hpp"
#include "unix/child_watcher.hpp"
#include "unix/spawn.hpp"

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
  /// Exited, and every read pipe closed (Python's transport has called connection_lost).
  bool finished() const noexcept {
    return returncode_ &&
           std::ranges::all_of(read_pipes, [](const auto& p) { return p->is_lost(); });
  }
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
using detail::SpawnRequest;

Process spawn(SpawnRequest& request) {
  EventLoop& loop = get_running_loop();
  detail::SpawnedChild child = detail::spawn_child(request);
  auto state = std::make_shared<detail::ProcessState>(child.pid);
  loop.child_watcher().watch(child.pid, [state](int returncode) { state->exited(returncode); });

  using Kind = detail::StreamTransport::Kind;
  auto transport = [&](OwnedFd& end, Kind kind) {
    auto protocol = std::make_shared<StreamReaderProtocol>(request.limit);
    detail::StreamTransport::open(loop, std::move(end), kind, protocol);
    return protocol;
  };
  std::optional<StreamWriter> in;
  std::optional<StreamReader> out, err;
  if (child.pipes[0].get() >= 0) in.emplace(transport(child.pipes[0], Kind::write_pipe));
  if (child.pipes[1].get() >= 0)
    out.emplace(state->read_pipes.emplace_back(transport(child.pipes[1], Kind::read_pipe)));
  if (child.pipes[2].get() >= 0)
    err.emplace(state->read_pipes.emplace_back(transport(child.pipes[2], Kind::read_pipe)));
  return Process(std::move(state), std::move(in), std::move(out), std::move(err));
}

Coro<void> feed_stdin(StreamWriter writer, std::optional<std::string> input) {
  try {
    if (input && !writer.is_closing()) {
      try {
        writer.write(*input);
      } catch (const RuntimeError&) {
        // stdin's write_eof() came first: Python's closing pipe drops the input silently.
      }
    }
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
  // Python 3.12's _wait: an exit already known is returned at once; a wait begun before it
  // waits for the pipes to close too (a grandchild holding one open keeps it waiting).
  if (state->returncode()) co_return *state->returncode();
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
  detail::signal_child(state_->pid(), sig, state_->returncode().has_value(), state_->finished());
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
