// Inspection (inspection.hpp): the socket only its user can reach, its answers to good and bad
// clients, a dump of 100,000 tasks streamed without holding the loop, and the asyncio-ps and
// asyncio-pstree tools against a live child process (examples/stuck.cpp).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "asyncio/inspection.hpp"
#include "support/asyncio_test.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;

namespace {

/// A private directory for the test's sockets (ASYNCIO_INSPECT_DIR), removed afterwards.
struct InspectionTest : asyncio_test::LoopFixture {
  std::string dir;
  InspectionTest() {
    char name[] = "/tmp/asyncio-inspect-test-XXXXXX";
    dir = ::mkdtemp(name);
    ::setenv("ASYNCIO_INSPECT_DIR", dir.c_str(), 1);
  }
  ~InspectionTest() override {
    loop->close();
    ::unsetenv("ASYNCIO_INSPECT_DIR");
    ::rmdir(dir.c_str());
  }
};

int connect_to(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// Sends `request` and reads until the server closes (at most 60 s); on a plain thread.
std::string ask(const std::string& path, const std::string& request) {
  const int fd = connect_to(path);
  if (fd < 0) return "connect failed";
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string reply;
  char buffer[65536];
  for (;;) {
    pollfd ready{fd, POLLIN, 0};
    if (::poll(&ready, 1, 60'000) <= 0) break;
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    reply.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return reply;
}

/// Runs the loop until `request` to the inspection socket is answered (the client is a thread).
template <class Fixture>
std::string ask_loop(Fixture& test, const std::string& request) {
  std::string reply;
  auto done = test.loop->template create_future<void>();
  std::thread client([&] {
    reply = ask(test.loop->inspection_path(), request);
    test.loop->call_soon_threadsafe([done]() mutable { done.set_result(); });
  });
  test.run(done);
  client.join();
  return reply;
}

Coro<void> wait_on(asyncio::Event& event) { co_await event.wait(); }
Coro<void> finish(std::vector<asyncio::Task<void>>& tasks) { co_await asyncio::gather(tasks); }

TEST_F(InspectionTest, TheSocketIsOnlyItsUsers) {
  loop->enable_inspection({.path = {}, .dump_signal = 0});
  const std::string path = loop->inspection_path();
  EXPECT_EQ(path, dir + "/" + std::to_string(::getpid()) + "." +
                      path.substr(path.rfind('.', path.size() - 6) + 1));
  struct stat info {};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_TRUE(S_ISSOCK(info.st_mode));
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(dir.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0700u);
  if (::geteuid() == 0) {  // another user cannot connect
    const pid_t child = ::fork();
    if (child == 0) {
      if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
      const int fd = connect_to(path);
      ::_exit(fd < 0 && errno == EACCES ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  loop->disable_inspection();
  EXPECT_NE(::access(path.c_str(), F_OK), 0);  // removed
  EXPECT_EQ(loop->inspection_path(), "");
}

TEST_F(InspectionTest, ADirectoryOthersMayUseIsRefused) {
  ASSERT_EQ(::chmod(dir.c_str(), 0777), 0);
  try {
    loop->enable_inspection({.path = {}, .dump_signal = 0});
    ADD_FAILURE() << "no error";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EACCES);
  }
  ::chmod(dir.c_str(), 0700);
}

TEST_F(InspectionTest, AnswersPsPstreeTasksAndStats) {
  loop->enable_inspection({.path = {}, .dump_signal = 0});
  asyncio::Event go;
  auto task = loop->create_task(wait_on(go), "sleeper");
  run(asyncio::sleep(0s, 0));
  const std::string table = ask_loop(*this, "ps\n");
  EXPECT_NE(table.find("sleeper"), std::string::npos) << table;
  EXPECT_NE(table.find("wait_on"), std::string::npos) << table;
  EXPECT_NE(table.find("pending"), std::string::npos) << table;
  const std::string tree = ask_loop(*this, "pstree\r\n");
  EXPECT_NE(tree.find("(T) sleeper\n"), std::string::npos) << tree;
  const std::string tasks = ask_loop(*this, "tasks\n");
  EXPECT_NE(tasks.find("* Task(name='sleeper'"), std::string::npos) << tasks;
  EXPECT_NE(tasks.find("last step "), std::string::npos) << tasks;  // inspection times steps
  const std::string stats = ask_loop(*this, "stats\n");
  EXPECT_NE(stats.find("\nasyncio_loop_tasks 1\n"), std::string::npos) << stats;
  go.set();
  run(std::move(task));
}

TEST_F(InspectionTest, GarbageAndClientsThatLeaveLoseNothing) {
  loop->enable_inspection({.path = {}, .dump_signal = 0});
  EXPECT_EQ(ask_loop(*this, std::string("\x01\xff junk\n", 8)),
            "error: unknown command '?? junk' (ps, pstree, tasks, stats)\n");
  EXPECT_EQ(ask_loop(*this, std::string(200, 'x')), "error: command too long\n");
  // Clients that connect and leave: before a command, and in the middle of a long answer.
  asyncio::Event go;
  std::vector<asyncio::Task<void>> tasks;
  for (int i = 0; i < 20000; ++i) tasks.push_back(loop->create_task(wait_on(go)));
  auto done = loop->create_future<void>();
  std::thread clients([&] {
    ::close(connect_to(loop->inspection_path()));
    const int fd = connect_to(loop->inspection_path());
    ::send(fd, "tasks\n", 6, MSG_NOSIGNAL);
    char buffer[100];
    ::recv(fd, buffer, sizeof buffer, MSG_WAITALL);
    ::close(fd);
    loop->call_soon_threadsafe([done]() mutable { done.set_result(); });
  });
  run(done);
  clients.join();
  run(asyncio::sleep(10ms, 0));  // the server notices both
  // Still answering.
  EXPECT_NE(ask_loop(*this, "stats\n").find("asyncio_loop_tasks 20000"), std::string::npos);
  go.set();
  run(finish(tasks));
}

/// Measures the longest gap between its steps while the dump streams.
Coro<void> ticker(bool& stop, asyncio::Clock::duration& longest) {
  auto last = asyncio::Clock::now();
  while (!stop) {
    co_await asyncio::sleep(0s);
    const auto now = asyncio::Clock::now();
    longest = std::max(longest, now - last);
    last = now;
  }
}

TEST_F(InspectionTest, HundredThousandTasksStreamInSlices) {
  loop->enable_inspection({.path = {}, .dump_signal = 0});
  asyncio::Event go;
  std::vector<asyncio::Task<void>> tasks;
  constexpr int count = 100'000;
  for (int i = 0; i < count; ++i) tasks.push_back(loop->create_task(wait_on(go)));
  run(asyncio::sleep(0s, 0));
  bool stop = false;
  asyncio::Clock::duration longest{};
  auto tick = loop->create_task(ticker(stop, longest));
  std::string reply;
  auto done = loop->create_future<void>();
  const auto start = asyncio::Clock::now();
  std::thread client([&] {
    reply = ask(loop->inspection_path(), "ps\n");
    loop->call_soon_threadsafe([done]() mutable { done.set_result(); });
  });
  run(done);
  client.join();
  const auto took = asyncio::Clock::now() - start;
  stop = true;
  run(std::move(tick));
  std::size_t lines = 0;
  for (char c : reply) lines += c == '\n';
  EXPECT_EQ(lines, count + 1u + 2u);  // the header, the column names, and the ticker
  // A slice is 256 tasks: far below a frame of 10 ms here, and bounded under the sanitizers.
  std::printf("[ measured ] dump of %d tasks: %.0f ms in all, longest loop pause %.2f ms\n", count,
              std::chrono::duration<double, std::milli>(took).count(),
              std::chrono::duration<double, std::milli>(longest).count());
  EXPECT_LT(longest, 250ms);
  go.set();
  run(finish(tasks));
}

TEST_F(InspectionTest, EnvironmentVariableEnablesItOnNewLoops) {
  ::setenv("ASYNCIO_INSPECT", "1", 1);
  auto other = asyncio::new_event_loop();
  ::unsetenv("ASYNCIO_INSPECT");
  EXPECT_NE(other->inspection_path(), "");
  other->close();
  auto plain = asyncio::new_event_loop();
  EXPECT_EQ(plain->inspection_path(), "");
  plain->close();
}

#ifdef ASYNCIO_STUCK_EXAMPLE
/// Runs a command and gives its standard output.
std::string output_of(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return out;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  ::pclose(pipe);
  return out;
}

TEST_F(InspectionTest, ToolsShowALiveChildProcess) {
  int out[2], err[2];
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(err, O_CLOEXEC), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::execl(ASYNCIO_STUCK_EXAMPLE, ASYNCIO_STUCK_EXAMPLE, "--serve", "60", nullptr);
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  std::string line;  // "pid N ready: ..."
  char c;
  pollfd ready{out[0], POLLIN, 0};
  while (::poll(&ready, 1, 30'000) > 0 && ::read(out[0], &c, 1) == 1 && c != '\n') line += c;
  ASSERT_EQ(line.rfind("pid " + std::to_string(child) + " ready", 0), 0u) << line;
  const std::string pid = std::to_string(child);

  const std::string table = output_of(std::string(ASYNCIO_PS_TOOL) + " " + pid);
  for (const char* name : {"fetcher", "guard", "supervisor", "worker-1", "worker-2"})
    EXPECT_NE(table.find(name), std::string::npos) << name << "\n" << table;
  EXPECT_NE(table.find("fetch stuck.cpp:20 -> asyncio::wait_for tasks.hpp"), std::string::npos)
      << table;
  EXPECT_NE(table.find("take stuck.cpp:18  [awaited by fetcher]"), std::string::npos) << table;

  const std::string tree = output_of(std::string(ASYNCIO_PS_TOOL) + " --tree " + pid);
  const std::size_t fetcher = tree.find("(T) fetcher\n");
  const std::size_t fetch_both = tree.find("fetch_both stuck.cpp:24", fetcher);
  const std::size_t child_task = tree.find("(T) Task-", fetch_both);
  const std::size_t take = tree.find("take stuck.cpp:18", child_task);
  EXPECT_TRUE(fetcher != std::string::npos && fetch_both != std::string::npos &&
              child_task != std::string::npos && take != std::string::npos)
      << tree;
  const std::size_t supervisor = tree.find("(T) supervisor\n");
  EXPECT_NE(tree.find("asyncio::TaskGroup::exit", supervisor), std::string::npos) << tree;
  EXPECT_NE(tree.find("(T) worker-1", supervisor), std::string::npos) << tree;

  // SIGUSR1: the whole dump on its stderr.
  ASSERT_EQ(::kill(child, SIGUSR1), 0);
  std::string dump;
  char buffer[4096];
  pollfd errors{err[0], POLLIN, 0};
  while (dump.find("--- Task 'worker-2'") == std::string::npos && ::poll(&errors, 1, 30'000) > 0) {
    const ssize_t n = ::read(err[0], buffer, sizeof buffer);
    if (n <= 0) break;
    dump.append(buffer, static_cast<std::size_t>(n));
  }
  EXPECT_NE(dump.find("--- Task 'worker-2'"), std::string::npos) << dump;
  EXPECT_NE(dump.find("in async wait_for_go(asyncio::Event&)"), std::string::npos) << dump;

  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ::close(out[0]);
  ::close(err[0]);
  // Its socket is left behind (it was killed); a new process with its pid replaces it.
  const std::string left = dir + "/" + pid + ".0.sock";
  ::unlink(left.c_str());
  EXPECT_NE(
      output_of(std::string(ASYNCIO_PS_TOOL) + " " + pid + " 2>&1").find("no inspection socket"),
      std::string::npos);
}
#endif

}  // namespace
