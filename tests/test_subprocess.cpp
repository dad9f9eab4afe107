// create_subprocess_exec / create_subprocess_shell and Process with real programs: exit codes
// and signals, pipes both ways (10 MB each at once through communicate), every option
// (DEVNULL, STDOUT, an fd, cwd, env, start_new_session, pass_fds, close_fds), 200 children at
// once with no zombie and no fd left, cancellation that leaves the child running, a child that
// closes its stdin early, a missing program, a child reaped by somebody else, the watcher's
// fallback without pidfd, and a loop closed with a child still running. Zombies are looked for
// in /proc; fds are checked after every test (support/fd_leak_check.cpp). The loop's selector
// is the one ASYNCIO_SELECTOR names.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/asyncio_test.hpp"
#include "support/fds.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio::Process;
using asyncio::SubprocessOptions;
using asyncio::subprocess::DEVNULL;
using asyncio::subprocess::PIPE;
using asyncio::subprocess::STDOUT;

namespace {

/// The state letter of every child of this process that /proc lists ('Z' for a zombie).
std::vector<char> children_states() {
  std::vector<char> states;
  DIR* proc = ::opendir("/proc");
  if (!proc) return states;
  while (dirent* entry = ::readdir(proc)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    std::ifstream stat(std::string("/proc/") + entry->d_name + "/stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    const std::size_t name_end = line.rfind(')');  // the command may contain spaces
    if (name_end == std::string::npos) continue;
    std::istringstream rest(line.substr(name_end + 2));
    char state;
    int parent;
    rest >> state >> parent;
    if (parent == ::getpid()) states.push_back(state);
  }
  ::closedir(proc);
  return states;
}

std::size_t zombies() {
  const std::vector<char> states = children_states();
  return static_cast<std::size_t>(std::count(states.begin(), states.end(), 'Z'));
}

/// `size` bytes of a repeating pattern, so that a lost or reordered byte shows.
std::string pattern(std::size_t size) {
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>('a' + i % 23);
  return bytes;
}

/// The peak resident memory of this process so far, in bytes (VmHWM).
std::size_t peak_resident() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoul(line.substr(6)) * 1024;
  }
  return 0;
}

struct SubprocessTest : asyncio_test::LoopFixture {
  ~SubprocessTest() override {
    loop->close();
    EXPECT_EQ(zombies(), 0u) << "a child was left unreaped";
  }
};

TEST_F(SubprocessTest, ExitStatusAndOutputOfAProgram) {
  run([]() -> Coro<void> {
    Process child =
        co_await asyncio::create_subprocess_exec("sh", "-c", "echo out; echo err >&2; exit 3",
                                                 SubprocessOptions{.stdout = PIPE, .stderr = PIPE});
    EXPECT_GT(child.pid(), 0);
    EXPECT_FALSE(child.stdin.has_value());
    auto [out, err] = co_await child.communicate();
    EXPECT_EQ(out, "out\n");
    EXPECT_EQ(err, "err\n");
    EXPECT_EQ(child.returncode(), 3);
  }());
}

TEST_F(SubprocessTest, ArgumentsAsAVectorAndAsAPack) {
  run([]() -> Coro<void> {
    // (g++ 12 cannot put a braced list of string literals inside a co_await expression.)
    std::vector<std::string> args{"%s-%s", "a b", "c"};
    Process a = co_await asyncio::create_subprocess_exec("printf", args, {.stdout = PIPE});
    EXPECT_EQ(co_await a.stdout->read(), "a b-c");
    EXPECT_EQ(co_await a.wait(), 0);
    Process b = co_await asyncio::create_subprocess_exec("true");
    EXPECT_EQ(co_await b.wait(), 0);
    EXPECT_EQ(b.returncode(), 0);
  }());
}

TEST_F(SubprocessTest, ShellRunsAPipeline) {
  run([]() -> Coro<void> {
    Process child =
        co_await asyncio::create_subprocess_shell("echo abc | tr a-c x-z", {.stdout = PIPE});
    EXPECT_EQ(co_await child.stdout->read(), "xyz\n");
    EXPECT_EQ(co_await child.wait(), 0);
    Process missing = co_await asyncio::create_subprocess_shell("exec /nonexistent 2>/dev/null");
    EXPECT_EQ(co_await missing.wait(), 127);
  }());
}

TEST_F(SubprocessTest, KillThenWaitGivesMinusTheSignal) {
  run([]() -> Coro<void> {
    Process child = co_await asyncio::create_subprocess_exec("sleep", "60");
    EXPECT_FALSE(child.returncode().has_value());
    child.kill();
    EXPECT_EQ(co_await child.wait(), -SIGKILL);
    Process other = co_await asyncio::create_subprocess_exec("sleep", "60");
    other.terminate();
    EXPECT_EQ(co_await other.wait(), -SIGTERM);
    // Reaped: its pid may name another process by now.
    int error = 0;
    try {
      other.send_signal(SIGTERM);
    } catch (const std::system_error& e) {
      error = e.code().value();
    }
    EXPECT_EQ(error, ESRCH);
  }());
}

// Python 3.12: wait() once the exit is known returns it at once, though a grandchild still
// holds the stdout pipe; a signal to a child known to have exited is skipped silently, and
// raises ProcessLookupError (ESRCH) only once its pipes are closed too.
TEST_F(SubprocessTest, AnExitAlreadyKnownIsWaitedForAtOnceWhileAGrandchildHoldsThePipe) {
  run([]() -> Coro<void> {
    // The grandchild keeps stdout open until it reads a line from the stdin pipe (kept as fd 3:
    // a background job's own stdin is /dev/null).
    Process child = co_await asyncio::create_subprocess_shell(
        "exec 3<&0; (read line <&3; echo late) & echo hi", {.stdin = PIPE, .stdout = PIPE});
    co_await asyncio_test::wait_until([&] { return child.returncode().has_value(); }, 10s,
                                      "the shell's exit");
    EXPECT_EQ(co_await asyncio::wait_for(child.wait(), 10s), 0);  // the pipe is still open
    EXPECT_NO_THROW(child.send_signal(SIGTERM));                  // exited: not signalled
    child.stdin->write("go\n");
    child.stdin->close();
    EXPECT_EQ(co_await child.stdout->read(), "hi\nlate\n");
    EXPECT_EQ(co_await child.wait(), 0);
    // The pipe's close reaches the process from the loop, as Python's connection_lost does.
    int error = 0;
    co_await asyncio_test::wait_until(
        [&] {
          try {
            child.kill();
          } catch (const std::system_error& e) {
            error = e.code().value();
          }
          return error != 0;
        },
        10s, "ProcessLookupError once the pipes are closed");
    EXPECT_EQ(error, ESRCH);
  }());
}

TEST_F(SubprocessTest, CommunicateAfterWriteEofDropsTheInputAsPythonsDoes) {
  run([]() -> Coro<void> {
    Process cat =
        co_await asyncio::create_subprocess_exec("cat", {}, {.stdin = PIPE, .stdout = PIPE});
    cat.stdin->write_eof();
    auto [out, err] = co_await cat.communicate("dropped");
    EXPECT_EQ(out, "");
    EXPECT_EQ(co_await cat.wait(), 0);
  }());
}

TEST_F(SubprocessTest, AMissingProgramRaisesTheChildsErrnoAndLeavesNothing) {
  run([]() -> Coro<void> {
    int error = 0;
    try {
      co_await asyncio::create_subprocess_exec("/nonexistent/program", {},
                                               {.stdin = PIPE, .stdout = PIPE, .stderr = PIPE});
    } catch (const std::system_error& e) {
      error = e.code().value();
    }
    EXPECT_EQ(error, ENOENT);
    error = 0;
    try {
      co_await asyncio::create_subprocess_exec("/dev/null");  // not executable
    } catch (const std::system_error& e) {
      error = e.code().value();
    }
    EXPECT_EQ(error, EACCES);
  }());
  EXPECT_TRUE(children_states().empty());
}

TEST_F(SubprocessTest, TwoHundredChildrenAtOnceAllReapedWithTheirExitCodes) {
  constexpr int count = 200;
  std::vector<int> codes;
  run([&]() -> Coro<void> {
    std::vector<asyncio::Task<int>> runs;
    for (int i = 0; i < count; ++i) {
      runs.push_back(asyncio::create_task([](int code) -> Coro<int> {
        Process child = co_await asyncio::create_subprocess_exec(
            "sh", "-c", "exit " + std::to_string(code), SubprocessOptions{.stdout = DEVNULL});
        co_return co_await child.wait();
      }(i % 256)));
    }
    codes = co_await asyncio::gather(std::move(runs));
  }());
  ASSERT_EQ(codes.size(), static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) EXPECT_EQ(codes[i], i % 256);
  EXPECT_TRUE(children_states().empty());
}

TEST_F(SubprocessTest, CommunicateMovesTenMegabytesEachWayAtOnce) {
  const std::string input = pattern(10 << 20);
  const std::size_t peak_before = peak_resident();
  std::pair<std::string, std::string> output;
  run([&]() -> Coro<void> {
    Process child = co_await asyncio::create_subprocess_exec(
        ASYNCIO_TEST_CHILD, "echo-both",
        SubprocessOptions{.stdin = PIPE, .stdout = PIPE, .stderr = PIPE});
    output = co_await child.communicate(input);
    EXPECT_EQ(child.returncode(), 0);
  }());
  EXPECT_EQ(output.first.size(), input.size());
  EXPECT_EQ(output.second.size(), input.size());
  EXPECT_TRUE(output.first == input);
  EXPECT_TRUE(output.second == input);
  if (!asyncio_test::sanitized) {
    // The input, a copy in the write buffer, and two outputs (which grow by doubling): about
    // six times the data at most, not a multiple of it per chunk.
    EXPECT_LT(peak_resident() - peak_before, 8 * input.size());
  }
}

TEST_F(SubprocessTest, CancellingWaitOrCommunicateLeavesTheChildRunningAndReapedLater) {
  run([]() -> Coro<void> {
    Process child = co_await asyncio::create_subprocess_exec(
        "sleep", "60", SubprocessOptions{.stdin = PIPE, .stdout = PIPE});
    asyncio::Task<int> waiting = asyncio::create_task(child.wait());
    co_await asyncio::sleep(10ms);
    waiting.cancel();
    EXPECT_TRUE(co_await asyncio_test::throws<asyncio::CancelledError>(waiting));
    auto communicating = asyncio::create_task(child.communicate());
    co_await asyncio::sleep(10ms);
    communicating.cancel();
    EXPECT_TRUE(co_await asyncio_test::throws<asyncio::CancelledError>(communicating));
    EXPECT_FALSE(child.returncode().has_value());
    EXPECT_EQ(::kill(child.pid(), 0), 0);  // still running
    child.kill();
    EXPECT_EQ(co_await child.wait(), -SIGKILL);
  }());
}

TEST_F(SubprocessTest, ADroppedProcessIsStillReaped) {
  run([]() -> Coro<void> {
    pid_t pid;
    {
      Process child = co_await asyncio::create_subprocess_exec("true");
      pid = child.pid();
    }
    co_await asyncio_test::wait_until([&] { return ::kill(pid, 0) != 0; }, 10s,
                                      "the dropped child to be reaped");
  }());
}

TEST_F(SubprocessTest, AChildThatClosesItsStdinEarlyGivesEpipeFromDrain) {
  run([]() -> Coro<void> {
    Process child = co_await asyncio::create_subprocess_exec(
        ASYNCIO_TEST_CHILD, "close-stdin", SubprocessOptions{.stdin = PIPE, .stdout = PIPE});
    EXPECT_EQ(co_await child.stdout->readline(), "closed\n");
    child.stdin->write(std::string(1 << 20, 'x'));
    int error = 0;
    try {
      co_await child.stdin->drain();
    } catch (const std::system_error& e) {
      error = e.code().value();
    }
    EXPECT_EQ(error, EPIPE);
    child.kill();
    EXPECT_EQ(co_await child.wait(), -SIGKILL);
  }());
  sigset_t pending;
  ::sigpending(&pending);
  EXPECT_FALSE(::sigismember(&pending, SIGPIPE));
}

TEST_F(SubprocessTest, CommunicateIgnoresAChildThatClosedItsStdin) {
  run([]() -> Coro<void> {
    Process child = co_await asyncio::create_subprocess_shell("exec 0<&-; echo done",
                                                              {.stdin = PIPE, .stdout = PIPE});
    auto [out, err] = co_await child.communicate(std::string(1 << 20, 'x'));
    EXPECT_EQ(out, "done\n");
    EXPECT_EQ(child.returncode(), 0);
  }());
}

TEST_F(SubprocessTest, DevnullStdoutIntoStderrAndAnFdOfOurs) {
  asyncio_test::Fd file(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));  // readable, not empty
  run([&]() -> Coro<void> {
    Process quiet = co_await asyncio::create_subprocess_exec(
        "cat", SubprocessOptions{.stdin = DEVNULL, .stdout = PIPE});
    EXPECT_EQ(co_await quiet.stdout->read(), "");
    EXPECT_EQ(co_await quiet.wait(), 0);

    Process merged = co_await asyncio::create_subprocess_shell("echo one; echo two >&2",
                                                               {.stdout = PIPE, .stderr = STDOUT});
    auto [out, err] = co_await merged.communicate();
    EXPECT_EQ(out, "one\ntwo\n");
    EXPECT_EQ(err, "");

    Process counter = co_await asyncio::create_subprocess_exec(
        "wc", "-c", SubprocessOptions{.stdin = file.fd, .stdout = PIPE});
    const std::string count = co_await counter.stdout->read();
    EXPECT_EQ(std::stoul(count), std::filesystem::file_size("/proc/self/exe"));
    EXPECT_EQ(co_await counter.wait(), 0);
  }());
}

TEST_F(SubprocessTest, CwdEnvAndANewSession) {
  run([]() -> Coro<void> {
    Process pwd = co_await asyncio::create_subprocess_exec(
        "pwd", SubprocessOptions{.stdout = PIPE, .cwd = "/"});
    EXPECT_EQ(co_await pwd.stdout->read(), "/\n");
    co_await pwd.wait();

    const std::map<std::string, std::string> only{{"ONLY", "this"}};
    Process env = co_await asyncio::create_subprocess_exec(
        "/usr/bin/env", SubprocessOptions{.stdout = PIPE, .env = &only});
    EXPECT_EQ(co_await env.stdout->read(), "ONLY=this\n");
    co_await env.wait();

    Process session = co_await asyncio::create_subprocess_exec(
        ASYNCIO_TEST_CHILD, "session",
        SubprocessOptions{.stdout = PIPE, .start_new_session = true});
    std::istringstream ids(co_await session.stdout->read());
    int pid = 0, sid = 0;
    ids >> pid >> sid;
    EXPECT_EQ(pid, session.pid());
    EXPECT_EQ(sid, session.pid());
    co_await session.wait();
  }());
}

TEST_F(SubprocessTest, PassFdsKeepsThoseAndCloseFdsTheOthers) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);  // inheritable, as a user's may be
  asyncio_test::Fd read_end(fds[0]), write_end(fds[1]);
  const std::string write_to_it = "echo hi >&" + std::to_string(write_end.fd);
  const int passed_fds[] = {write_end.fd};
  run([&]() -> Coro<void> {
    Process passed = co_await asyncio::create_subprocess_shell(
        write_to_it, {.stderr = DEVNULL, .pass_fds = passed_fds});
    EXPECT_EQ(co_await passed.wait(), 0);
    std::string got(3, '\0');
    EXPECT_EQ(::read(read_end.fd, got.data(), 3), 3);
    EXPECT_EQ(got, "hi\n");

    Process closed = co_await asyncio::create_subprocess_shell(write_to_it, {.stderr = DEVNULL});
    EXPECT_NE(co_await closed.wait(), 0);  // closed in the child: "bad file descriptor"

    Process inherited = co_await asyncio::create_subprocess_shell(
        write_to_it, {.stderr = DEVNULL, .close_fds = false});
    EXPECT_EQ(co_await inherited.wait(), 0);
  }());
}

TEST_F(SubprocessTest, TheFallbackWatcherWithoutPidfdReapsToo) {
  asyncio::detail::set_pidfd_enabled(false);
  run([]() -> Coro<void> {
    Process quick = co_await asyncio::create_subprocess_exec("true");
    Process killed = co_await asyncio::create_subprocess_exec("sleep", "60");
    killed.kill();
    EXPECT_EQ(co_await quick.wait(), 0);
    EXPECT_EQ(co_await killed.wait(), -SIGKILL);
  }());
  asyncio::detail::set_pidfd_enabled(true);
}

TEST_F(SubprocessTest, AChildReapedBySomebodyElseReports255) {
  run([&]() -> Coro<void> {
    Process child = co_await asyncio::create_subprocess_exec("true");
    int status;
    EXPECT_EQ(::waitpid(child.pid(), &status, 0), child.pid());  // taken from under the loop
    EXPECT_EQ(co_await child.wait(), 255);
  }());
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_NE(reports[0].message.find("will report returncode 255"), std::string::npos);
}

TEST_F(SubprocessTest, ClosingTheLoopKillsAndReapsAChildStillRunning) {
  pid_t pid = 0;
  run([&]() -> Coro<void> {
    Process child = co_await asyncio::create_subprocess_exec("sleep", "60");
    pid = child.pid();
  }());
  ASSERT_EQ(::kill(pid, 0), 0);
  loop->close();
  EXPECT_NE(::kill(pid, 0), 0);  // gone, not a zombie
  EXPECT_TRUE(children_states().empty());
}

TEST_F(SubprocessTest, AMissingWorkingDirectoryIsNamedInTheError) {
  run([]() -> Coro<void> {
    std::string what;
    try {
      co_await asyncio::create_subprocess_exec("true",
                                               SubprocessOptions{.cwd = "/nonexistent/dir"});
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code().value(), ENOENT);
      what = e.what();
    }
    EXPECT_NE(what.find("/nonexistent/dir"), std::string::npos) << what;
  }());
  EXPECT_TRUE(children_states().empty());
}

TEST_F(SubprocessTest, ACreationCancelledBeforeItRanStartsNothing) {
  // CPython's test_cancel_make_subprocess_transport_exec.
  run([]() -> Coro<void> {
    auto creating = asyncio::create_task(asyncio::create_subprocess_exec("sleep", "60"));
    creating.cancel();
    EXPECT_TRUE(co_await asyncio_test::throws<asyncio::CancelledError>(creating));
  }());
  EXPECT_TRUE(children_states().empty());
}

TEST_F(SubprocessTest, ALoopOnAnotherThreadRunsChildren) {
  // CPython's test_create_subprocess_with_pidfd: asyncio.run in a thread.
  std::pair<std::string, std::string> output;
  int returncode = -1;
  std::thread thread([&] {
    asyncio::run([&]() -> Coro<int> {
      Process child = co_await asyncio::create_subprocess_exec(
          "cat", SubprocessOptions{.stdin = PIPE, .stdout = PIPE});
      output = co_await child.communicate("some data");
      returncode = *child.returncode();
      co_return 0;
    }());
  });
  thread.join();
  EXPECT_EQ(output.first, "some data");
  EXPECT_EQ(returncode, 0);
}

TEST_F(SubprocessTest, BadStdioValuesAreRefused) {
  run([]() -> Coro<void> {
    EXPECT_TRUE(co_await asyncio_test::throws<std::invalid_argument>(
        asyncio::create_subprocess_exec("true", SubprocessOptions{.stdout = STDOUT})));
    EXPECT_TRUE(co_await asyncio_test::throws<std::invalid_argument>(
        asyncio::create_subprocess_exec("true", SubprocessOptions{.stdin = -7})));
  }());
}

}  // namespace
