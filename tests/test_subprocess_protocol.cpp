// loop.subprocess_exec / subprocess_shell with a SubprocessProtocol, against real children: the
// callback order (connection_made first, pipe data, each pipe's end, process_exited,
// connection_lost last), stdin through get_pipe_transport(0), signals, close() killing a child
// that still runs, inherited streams, a missing program, and closing the loop with a child
// running.
#include <signal.h>

#include <algorithm>
#include <string>
#include <vector>

#include "support/asyncio_test.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;

namespace {

using SubprocessProtocolTest = asyncio_test::LoopFixture;

/// Records the callbacks: m(ade) 1/2 (data on fd 1, 2) 0/L/E (pipe 0, 1, 2 lost) x (exited)
/// l(ost); and what came on each pipe.
struct ChildRecorder : asyncio::SubprocessProtocol {
  std::string events;
  std::string out, err;
  std::shared_ptr<asyncio::SubprocessTransport> transport;
  std::optional<int> returncode_at_exit;

  void connection_made(std::shared_ptr<asyncio::SubprocessTransport> t) override {
    events += 'm';
    transport = std::move(t);
  }
  void pipe_data_received(int fd, std::string_view data) override {
    if (events.empty() || events.back() != static_cast<char>('0' + fd))
      events += static_cast<char>('0' + fd);
    (fd == 1 ? out : err) += data;
  }
  void pipe_connection_lost(int fd, std::exception_ptr) override { events += "0LE"[fd]; }
  void process_exited() override {
    events += 'x';
    returncode_at_exit = transport->get_returncode();
  }
  void connection_lost(std::exception_ptr) override { events += 'l'; }
  bool lost() const { return events.find('l') != std::string::npos; }
};

TEST_F(SubprocessProtocolTest, ShellOutputPipesExitThenConnectionLost) {
  run([&]() -> Coro<void> {
    auto [transport, child] = co_await asyncio::subprocess_shell(
        [] { return std::make_shared<ChildRecorder>(); }, "printf out; printf err >&2; exit 3");
    EXPECT_EQ(child->events.substr(0, 1), "m");
    EXPECT_GT(transport->get_pid(), 0);
    EXPECT_FALSE(transport->get_returncode().has_value());
    EXPECT_NE(transport->get_pipe_transport(0), nullptr);
    if (auto stdin_pipe = transport->get_pipe_transport(0)) stdin_pipe->close();  // nothing to say
    co_await asyncio_test::wait_until([&] { return child->lost(); }, 10s, "connection_lost");
    EXPECT_EQ(child->out, "out");
    EXPECT_EQ(child->err, "err");
    EXPECT_EQ(transport->get_returncode(), 3);
    EXPECT_EQ(child->returncode_at_exit, 3);
    // Every pipe's end and the exit come once each, before connection_lost, which is last.
    for (char c : std::string("0LEx"))
      EXPECT_EQ(std::count(child->events.begin(), child->events.end(), c), 1) << c;
    EXPECT_EQ(child->events.back(), 'l');
    EXPECT_EQ(std::count(child->events.begin(), child->events.end(), 'l'), 1);
    // Only close() makes it closing (CPython 3.13's test_proc_exited); close() after the end is
    // harmless.
    EXPECT_FALSE(transport->is_closing());
    EXPECT_THROW(transport->send_signal(SIGTERM), std::system_error);  // ESRCH once exited
    transport->close();
    EXPECT_TRUE(transport->is_closing());
  }());
}

TEST_F(SubprocessProtocolTest, ExecFeedsStdinThroughItsPipeTransport) {
  // A variable: g++ 12 cannot take a braced list of string literals in a coroutine lambda.
  const std::vector<std::string> upper_case = {"a-z", "A-Z"};
  run([&]() -> Coro<void> {
    auto [transport, child] = co_await asyncio::subprocess_exec(
        [] { return std::make_shared<ChildRecorder>(); }, "tr", upper_case);
    auto stdin_pipe = transport->get_pipe_transport(0);
    stdin_pipe->write("hello from a protocol\n");
    stdin_pipe->write_eof();
    co_await asyncio_test::wait_until([&] { return child->lost(); }, 10s, "connection_lost");
    EXPECT_EQ(child->out, "HELLO FROM A PROTOCOL\n");
    EXPECT_EQ(transport->get_returncode(), 0);
  }());
}

TEST_F(SubprocessProtocolTest, TerminateAndCloseKillTheChild) {
  const std::vector<std::string> half_a_minute = {"30"};
  run([&]() -> Coro<void> {
    auto [transport, child] = co_await asyncio::subprocess_exec(
        [] { return std::make_shared<ChildRecorder>(); }, "sleep", half_a_minute);
    transport->terminate();
    co_await asyncio_test::wait_until([&] { return child->lost(); }, 10s, "connection_lost");
    EXPECT_EQ(transport->get_returncode(), -SIGTERM);

    auto [second, other] = co_await asyncio::subprocess_exec(
        [] { return std::make_shared<ChildRecorder>(); }, "sleep", half_a_minute);
    second->close();  // closes the pipes and kills the child, as Python's close()
    EXPECT_TRUE(second->is_closing());
    co_await asyncio_test::wait_until([&] { return other->lost(); }, 10s, "connection_lost");
    EXPECT_EQ(second->get_returncode(), -SIGKILL);
  }());
}

TEST_F(SubprocessProtocolTest, InheritedStreamsHaveNoPipeTransport) {
  const std::vector<std::string> words = {"one pipe"};
  run([&]() -> Coro<void> {
    asyncio::SubprocessOptions only_stdout{.stdout = asyncio::subprocess::PIPE};
    auto [transport, child] = co_await asyncio::subprocess_exec(
        [] { return std::make_shared<ChildRecorder>(); }, "echo", words, only_stdout);
    EXPECT_EQ(transport->get_pipe_transport(0), nullptr);
    EXPECT_NE(transport->get_pipe_transport(1), nullptr);
    EXPECT_EQ(transport->get_pipe_transport(2), nullptr);
    co_await asyncio_test::wait_until([&] { return child->lost(); }, 10s, "connection_lost");
    EXPECT_EQ(child->out, "one pipe\n");
    EXPECT_EQ(child->events.find('0'), std::string::npos);
  }());
}

TEST_F(SubprocessProtocolTest, MissingProgramRaisesWithoutCallingTheProtocol) {
  run([&]() -> Coro<void> {
    std::shared_ptr<ChildRecorder> made;
    try {
      co_await asyncio::subprocess_exec([&] { return made = std::make_shared<ChildRecorder>(); },
                                        "no-such-program-here");
      ADD_FAILURE() << "a missing program started";
    } catch (const std::system_error& error) {
      EXPECT_EQ(error.code().value(), ENOENT);
    }
    if (made) {
      EXPECT_EQ(made->events, "");
    }
  }());
}

TEST_F(SubprocessProtocolTest, ClosingTheLoopKillsTheChildAndEndsTheTransport) {
  std::shared_ptr<ChildRecorder> left;
  const std::vector<std::string> half_a_minute = {"30"};
  run([&]() -> Coro<void> {
    auto [transport, child] = co_await asyncio::subprocess_exec(
        [] { return std::make_shared<ChildRecorder>(); }, "sleep", half_a_minute);
    left = child;
  }());
  EXPECT_FALSE(left->lost());
  loop->close();
  EXPECT_TRUE(left->lost());
  EXPECT_EQ(left->events.back(), 'l');
  EXPECT_NE(left->events.find('x'), std::string::npos);
  left->transport.reset();
}

}  // namespace
