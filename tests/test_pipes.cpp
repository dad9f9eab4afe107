// connect_read_pipe and connect_write_pipe on real pipes and a FIFO: reading to EOF (the read
// end is then closed), writing with flow control, write_eof() closing the write end, a reader
// that goes away giving EPIPE from drain() and never SIGPIPE, and files that are not pipes
// refused, and a closing write pipe dropping later writes. The loop's selector is the one
// ASYNCIO_SELECTOR names.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "support/asyncio_test.hpp"
#include "support/fds.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio_test::Fd;

namespace {

/// A pipe whose ends close themselves.
struct Pipe {
  Fd read_end, write_end;
  Pipe() {
    int fds[2];
    asyncio_test::check(::pipe2(fds, O_CLOEXEC), "pipe2");
    read_end = Fd(fds[0]);
    write_end = Fd(fds[1]);
  }
};

/// Whether fd is still open.
bool is_open(int fd) { return ::fcntl(fd, F_GETFD) >= 0; }

/// The errno drain() raises, 0 when it returns.
Coro<int> drain_error(asyncio::StreamWriter writer) {
  try {
    co_await writer.drain();
  } catch (const std::system_error& e) {
    co_return e.code().value();
  }
  co_return 0;
}

using PipeTest = asyncio_test::LoopFixture;

TEST_F(PipeTest, ReaderReadsLinesThenEofAndClosesItsEnd) {
  Pipe pipe;
  const int fd = pipe.read_end.release();
  run([&]() -> Coro<void> {
    asyncio::StreamReader reader = co_await asyncio::connect_read_pipe(fd);
    const std::string lines = "one\ntwo\n";
    EXPECT_EQ(::write(pipe.write_end, lines.data(), lines.size()), 8);
    EXPECT_EQ(co_await reader.readline(), "one\n");
    EXPECT_EQ(co_await reader.readline(), "two\n");
    pipe.write_end.close();
    EXPECT_EQ(co_await reader.read(), "");
    EXPECT_TRUE(reader.at_eof());
  }());
  EXPECT_FALSE(is_open(fd));
}

TEST_F(PipeTest, WriterWritesWithFlowControlAndWriteEofClosesItsEnd) {
  Pipe pipe;
  const int fd = pipe.write_end.release();
  const std::string data(1 << 20, 'x');  // far more than the pipe holds
  std::string received;
  run([&]() -> Coro<void> {
    asyncio::StreamWriter writer = co_await asyncio::connect_write_pipe(fd);
    asyncio::StreamReader reader = co_await asyncio::connect_read_pipe(pipe.read_end.release());
    writer.write(data);
    EXPECT_GT(writer.get_write_buffer_size(), 0u);  // the pipe took only part of it
    asyncio::Task<std::string> reading = asyncio::create_task(reader.read());
    co_await writer.drain();
    writer.write_eof();
    received = co_await reading;
    co_await writer.wait_closed();
  }());
  EXPECT_EQ(received.size(), data.size());
  EXPECT_TRUE(received == data);
  EXPECT_FALSE(is_open(fd));
}

TEST_F(PipeTest, AReaderThatGoesAwayGivesEpipeFromDrainNotSigpipe) {
  Pipe pipe;
  run([&]() -> Coro<void> {
    asyncio::StreamWriter writer = co_await asyncio::connect_write_pipe(pipe.write_end.release());
    pipe.read_end.close();
    writer.write(std::string(1 << 20, 'x'));
    EXPECT_EQ(co_await drain_error(writer), EPIPE);
    EXPECT_TRUE(writer.is_closing());
  }());
  sigset_t pending;
  ::sigpending(&pending);
  EXPECT_FALSE(::sigismember(&pending, SIGPIPE));
}

TEST_F(PipeTest, AnIdleWriterLearnsThatItsReaderWentAway) {
  Pipe pipe;
  run([&]() -> Coro<void> {
    asyncio::StreamWriter writer = co_await asyncio::connect_write_pipe(pipe.write_end.release());
    pipe.read_end.close();
    co_await writer.wait_closed();  // nothing was buffered: a clean close, as Python's
    EXPECT_TRUE(writer.is_closing());
    writer.write("too late");
    EXPECT_EQ(co_await drain_error(writer), EPIPE);
  }());
}

// Python's _UnixWritePipeTransport (CPython's test_write_eof_pending, test_write_close):
// write_eof() makes a write pipe closing at once, and a write once it is closing is dropped,
// neither sent nor refused.
TEST_F(PipeTest, AWritePipeClosingDropsLaterWritesAndWriteEofMakesItClosing) {
  Pipe pipe;
  const std::string data(200'000, 'x');  // more than the pipe holds: some stays buffered
  std::string received;
  run([&]() -> Coro<void> {
    asyncio::StreamWriter writer = co_await asyncio::connect_write_pipe(pipe.write_end.release());
    asyncio::StreamReader reader = co_await asyncio::connect_read_pipe(pipe.read_end.release());
    writer.write(data);
    EXPECT_GT(writer.get_write_buffer_size(), 0u);
    writer.write_eof();
    EXPECT_TRUE(writer.is_closing());
    writer.write("dropped");  // no RuntimeError, and not sent
    received = co_await reader.read();
    co_await writer.wait_closed();
  }());
  EXPECT_EQ(received.size(), data.size());
}

TEST_F(PipeTest, AWritePipeClosedWithBytesBufferedDropsLaterWrites) {
  Pipe pipe;
  const std::string data(200'000, 'x');
  std::string received;
  run([&]() -> Coro<void> {
    asyncio::StreamWriter writer = co_await asyncio::connect_write_pipe(pipe.write_end.release());
    asyncio::StreamReader reader = co_await asyncio::connect_read_pipe(pipe.read_end.release());
    writer.write(data);
    writer.close();
    writer.write("dropped");
    received = co_await reader.read();
    co_await writer.wait_closed();
  }());
  EXPECT_EQ(received.size(), data.size());
}

TEST_F(PipeTest, AFifoWorksBothWays) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("asyncio-fifo-" + std::to_string(::getpid()));
  std::filesystem::create_directory(dir);
  const std::string path = (dir / "fifo").string();
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  const int read_fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  const int write_fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(read_fd, 0);
  ASSERT_GE(write_fd, 0);
  run([&]() -> Coro<void> {
    asyncio::StreamReader reader = co_await asyncio::connect_read_pipe(read_fd);
    asyncio::StreamWriter writer = co_await asyncio::connect_write_pipe(write_fd);
    writer.write("through the fifo\n");
    EXPECT_EQ(co_await reader.readline(), "through the fifo\n");
    writer.close();
    EXPECT_EQ(co_await reader.read(), "");
  }());
  std::filesystem::remove_all(dir);
}

TEST_F(PipeTest, ACharacterDeviceIsAccepted) {
  const int fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  run([&]() -> Coro<void> {
    asyncio::StreamWriter writer = co_await asyncio::connect_write_pipe(fd);
    writer.write("into the void");
    co_await writer.drain();
    writer.close();
    co_await writer.wait_closed();
  }());
  EXPECT_FALSE(is_open(fd));
}

TEST_F(PipeTest, ATerminalWithInputWaitingStaysOpenForWriting) {
  // A pseudo-terminal: the writer has its slave end, as a program writing to its terminal.
  Fd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  ASSERT_GE(master.fd, 0);
  ASSERT_EQ(::grantpt(master.fd), 0);
  ASSERT_EQ(::unlockpt(master.fd), 0);
  const int slave = ::open(::ptsname(master.fd), O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(slave, 0);
  termios mode;
  ASSERT_EQ(::tcgetattr(slave, &mode), 0);
  mode.c_lflag &= ~static_cast<tcflag_t>(ECHO);  // the master reads only what is written
  ASSERT_EQ(::tcsetattr(slave, TCSANOW, &mode), 0);
  ASSERT_EQ(::fcntl(master.fd, F_SETFL, O_NONBLOCK), 0);
  // Someone types a line: the terminal turns readable. That is input, not its reader gone.
  ASSERT_EQ(::write(master.fd, "typed\n", 6), 6);
  pollfd typed{slave, POLLIN, 0};
  ASSERT_EQ(::poll(&typed, 1, 10'000), 1);
  Pipe polled;  // each byte through it takes a poll of the loop, which sees the terminal too
  run([&]() -> Coro<void> {
    asyncio::StreamWriter writer = co_await asyncio::connect_write_pipe(slave);
    asyncio::StreamReader reader = co_await asyncio::connect_read_pipe(polled.read_end.release());
    for (int poll = 0; poll < 2; ++poll) {
      EXPECT_EQ(::write(polled.write_end, "p", 1), 1);
      EXPECT_EQ(co_await reader.readexactly(1), "p");
    }
    EXPECT_FALSE(writer.is_closing());
    writer.write("shown");
    co_await writer.drain();
    writer.close();
    co_await writer.wait_closed();
  }());
  std::string shown(5, '\0');
  pollfd output{master.fd, POLLIN, 0};
  ASSERT_EQ(::poll(&output, 1, 10'000), 1);
  EXPECT_EQ(::read(master.fd, shown.data(), shown.size()), 5);
  EXPECT_EQ(shown, "shown");
  char left[16];
  EXPECT_EQ(::read(master.fd, left, sizeof left), -1);  // nothing else was written
}

TEST_F(PipeTest, ARegularFileIsRefusedAndLeftOpen) {
  Fd file(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
  ASSERT_GE(file.fd, 0);
  run([&]() -> Coro<void> {
    EXPECT_TRUE(
        co_await asyncio_test::throws<std::invalid_argument>(asyncio::connect_read_pipe(file.fd)));
    EXPECT_TRUE(
        co_await asyncio_test::throws<std::invalid_argument>(asyncio::connect_write_pipe(file.fd)));
  }());
  EXPECT_TRUE(is_open(file.fd));
}

}  // namespace
