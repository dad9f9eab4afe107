// StreamReader and StreamWriter on real sockets: the read functions and their errors, flow
// control in both directions, and peers that stop reading, half-close or vanish, with the
// loop's polls counted to show it never spins; readers fed by hand (feed_data, feed_eof,
// set_exception), alone and on a connection; and open_stream closing its fd when it throws.
// The loop's selector is the one ASYNCIO_SELECTOR names (CI runs the suite once per backend).
#include <sys/socket.h>

#include <algorithm>
#include <filesystem>
#include <vector>

#include "asyncio/detail/stream_transport.hpp"
#include "support/asyncio_test.hpp"
#include "support/counting_selector.hpp"
#include "support/fds.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio::StreamReader;
using asyncio::StreamWriter;
using asyncio_test::SocketPair;

namespace {

constexpr std::size_t KiB = 1024;

/// `size` bytes of a repeating pattern, so that a lost or reordered byte shows.
std::string pattern(std::size_t size) {
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>('a' + i % 23);
  return bytes;
}

struct StreamTest : asyncio_test::CountingLoopFixture {
  SocketPair pair;  // pair.a becomes our stream (open()); pair.b is the peer

  /// Our end as a stream (from inside the running loop).
  asyncio::StreamPair open(std::size_t limit = asyncio::DEFAULT_LIMIT) {
    return asyncio::open_stream(pair.a.release(), limit);
  }

  /// Sends `data` from the peer, whole (small amounts: it must fit the socket's buffer).
  void peer_send(std::string_view data) {
    ASSERT_EQ(::send(pair.b, data.data(), data.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(data.size()));
  }
  /// Everything the peer can read now, without waiting.
  std::string peer_receive() {
    std::string all;
    char buffer[65536];
    ssize_t n;
    while ((n = ::recv(pair.b, buffer, sizeof buffer, 0)) > 0)
      all.append(buffer, static_cast<std::size_t>(n));
    return all;
  }
  /// The peer reads until it has `size` bytes (or EOF), through the loop.
  Coro<std::string> peer_read(std::size_t size) {
    std::string all;
    while (all.size() < size) {
      std::string chunk = co_await loop->sock_recv(pair.b, 256 * KiB);
      if (chunk.empty()) break;
      all += chunk;
    }
    co_return all;
  }
  /// How many fds this process has open.
  static std::size_t open_fd_count() {
    const std::filesystem::directory_iterator fds("/proc/self/fd");
    return static_cast<std::size_t>(std::distance(begin(fds), end(fds)));
  }
  /// Shrinks the kernel's buffers of both ends, so that a peer that does not read pushes back
  /// after a few KiB.
  void small_socket_buffers() {
    const int size = 16 * KiB;
    for (int fd : {pair.a.fd, pair.b.fd}) {
      ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    }
  }
};

// --- Reading ----------------------------------------------------------------------------------

TEST_F(StreamTest, ReadGivesWhatIsBufferedUpToN) {
  peer_send("hello world");
  auto parts = run([&]() -> Coro<std::vector<std::string>> {
    auto [reader, writer] = open();
    std::vector<std::string> got;
    got.push_back(co_await reader.read(5));
    got.push_back(co_await reader.read(0));
    got.push_back(co_await reader.read(100));
    co_return got;
  }());
  EXPECT_EQ(parts, (std::vector<std::string>{"hello", "", " world"}));
}

TEST_F(StreamTest, ReadWaitsForDataAndEmptyMeansEof) {
  auto parts = run([&]() -> Coro<std::vector<std::string>> {
    auto [reader, writer] = open();
    loop->call_soon([this] { peer_send("late"); });
    std::vector<std::string> got;
    got.push_back(co_await reader.read(100));  // waits: nothing was sent yet
    loop->call_soon([this] { ::shutdown(pair.b, SHUT_WR); });
    got.push_back(co_await reader.read(100));
    got.push_back(co_await reader.read(100));
    EXPECT_TRUE(reader.at_eof());
    co_return got;
  }());
  EXPECT_EQ(parts, (std::vector<std::string>{"late", "", ""}));
}

TEST_F(StreamTest, ReadWithoutSizeReadsToEof) {
  const std::string sent = pattern(300 * KiB);  // more than the limit: read in several blocks
  auto got = run([&]() -> Coro<std::string> {
    auto [reader, writer] = open();
    auto sender_body = [&]() -> Coro<void> {
      co_await loop->sock_sendall(pair.b, sent);
      ::shutdown(pair.b, SHUT_WR);
    };  // named: it must outlive its task
    auto sender = asyncio::create_task(sender_body());
    std::string all = co_await reader.read();
    co_await sender;
    co_return all;
  }());
  EXPECT_EQ(got, sent);
}

TEST_F(StreamTest, ReadlineSplitsLinesAndEndsWithThePartialLastLine) {
  peer_send("one\ntwo\n\nthree");
  ::shutdown(pair.b, SHUT_WR);
  auto lines = run([&]() -> Coro<std::vector<std::string>> {
    auto [reader, writer] = open();
    std::vector<std::string> got;
    for (int i = 0; i < 6; ++i) got.push_back(co_await reader.readline());
    co_return got;
  }());
  EXPECT_EQ(lines, (std::vector<std::string>{"one\n", "two\n", "\n", "three", "", ""}));
}

TEST_F(StreamTest, ReaduntilFindsSeparatorsSplitAcrossReads) {
  auto parts = run([&]() -> Coro<std::vector<std::string>> {
    auto [reader, writer] = open();
    loop->call_soon([this] { peer_send("GET / HTTP/1.1\r\nHost: x\r"); });
    loop->call_later(1ms, [this] { peer_send("\n\r\nbody"); });
    std::vector<std::string> got;
    got.push_back(co_await reader.readuntil("\r\n\r\n"));
    got.push_back(co_await reader.read(4));
    co_return got;
  }());
  EXPECT_EQ(parts, (std::vector<std::string>{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "body"}));
}

TEST_F(StreamTest, ReaduntilAtEofRaisesIncompleteReadWithThePartialData) {
  peer_send("no separator");
  ::shutdown(pair.b, SHUT_WR);
  run([&]() -> Coro<void> {
    auto [reader, writer] = open();
    try {
      co_await reader.readuntil("\r\n");
      ADD_FAILURE() << "readuntil returned";
    } catch (const asyncio::IncompleteReadError& error) {
      EXPECT_EQ(error.partial(), "no separator");
      EXPECT_EQ(error.expected(), -1);
    }
    EXPECT_TRUE(reader.at_eof());
  }());
}

TEST_F(StreamTest, ReaduntilPastTheLimitRaisesAndKeepsTheData) {
  peer_send(std::string(40, 'x'));
  run([&]() -> Coro<void> {
    auto [reader, writer] = open(16);
    try {
      co_await reader.readuntil(";");
      ADD_FAILURE() << "readuntil returned";
    } catch (const asyncio::LimitOverrunError& error) {
      EXPECT_EQ(error.consumed(), 40u);
    }
    EXPECT_EQ(reader.buffered(), 40u);
    {
      const auto got = co_await reader.read(100);
      EXPECT_EQ(got, std::string(40, 'x'));
    }
    // A separator found beyond the limit is refused too.
    peer_send(std::string(20, 'y') + ";");
    try {
      co_await reader.readuntil(";");
      ADD_FAILURE() << "readuntil returned";
    } catch (const asyncio::LimitOverrunError& error) {
      EXPECT_EQ(error.consumed(), 20u);
    }
    {
      const bool threw = co_await asyncio_test::throws<std::invalid_argument>(reader.readuntil(""));
      EXPECT_TRUE(threw) << "reader.readuntil(\"\")";
    }
  }());
}

TEST_F(StreamTest, ReadexactlyWaitsForAllBytesOrRaisesIncompleteRead) {
  run([&]() -> Coro<void> {
    auto [reader, writer] = open();
    loop->call_soon([this] { peer_send("abc"); });
    loop->call_later(1ms, [this] { peer_send("defgh"); });
    {
      const auto got = co_await reader.readexactly(6);
      EXPECT_EQ(got, "abcdef");
    }
    {
      const auto got = co_await reader.readexactly(0);
      EXPECT_EQ(got, "");
    }
    // test_readexactly_zero_or_less: ValueError, and the buffer stays.
    EXPECT_THROW(co_await reader.readexactly(-1), std::invalid_argument);
    ::shutdown(pair.b, SHUT_WR);
    try {
      co_await reader.readexactly(5);
      ADD_FAILURE() << "readexactly returned";
    } catch (const asyncio::IncompleteReadError& error) {
      EXPECT_EQ(error.partial(), "gh");
      EXPECT_EQ(error.expected(), 5);
      EXPECT_STREQ(error.what(), "2 bytes read on a total of 5 expected bytes");
    }
  }());
}

// Reading pauses at twice the limit, but a reader asking for more than that still gets it.
TEST_F(StreamTest, ReadexactlyBeyondTwiceTheLimitResumesReading) {
  const std::string sent = pattern(1024 * KiB);
  auto got = run([&]() -> Coro<std::string> {
    auto [reader, writer] = open(4 * KiB);
    auto sender = asyncio::create_task(loop->sock_sendall(pair.b, sent));
    std::string data = co_await reader.readexactly(sent.size());
    co_await sender;
    co_return data;
  }());
  EXPECT_TRUE(got == sent);
}

// A reader that does not read: the buffer stops at twice the limit plus one read (64 KiB) and
// the sender is held back by the socket, until the reader reads again.
TEST_F(StreamTest, ReadingPausesAtTwiceTheLimit) {
  small_socket_buffers();
  const std::size_t limit = 16 * KiB;
  const std::string sent = pattern(2048 * KiB);
  run([&]() -> Coro<void> {
    auto [reader, writer] = open(limit);
    auto sender = asyncio::create_task(loop->sock_sendall(pair.b, sent));
    std::size_t most = 0;
    co_await asyncio_test::wait_until([&] { return reader.buffered() > 2 * limit; }, 10s,
                                      "the reader to buffer more than twice its limit");
    for (int i = 0; i < 2000; ++i) {  // 2000 more iterations, with polls among them: no growth
      most = std::max(most, reader.buffered());
      co_await asyncio::sleep(0s);
    }
    EXPECT_GT(most, 2 * limit);
    EXPECT_LE(most, 2 * limit + 64 * KiB);
    EXPECT_FALSE(sender.done());
    std::string all;
    while (all.size() < sent.size()) all += co_await reader.read(64 * KiB);
    co_await sender;
    EXPECT_TRUE(all == sent);
  }());
}

// 10 MB without a newline: readline raises LimitOverrunError again and again, dropping what it
// scanned, while the buffer stays near the limit; the line after it is read intact.
TEST_F(StreamTest, ReadlineOfTenMegabytesWithoutNewlineStaysBounded) {
  small_socket_buffers();
  const std::size_t limit = asyncio::DEFAULT_LIMIT;
  const std::string flood = std::string(10 * 1024 * KiB, 'z') + "\nnext line\n";
  run([&]() -> Coro<void> {
    auto [reader, writer] = open(limit);
    auto sender = asyncio::create_task(loop->sock_sendall(pair.b, flood));
    std::size_t overruns = 0, most = 0;
    std::string line;
    for (;;) {
      most = std::max(most, reader.buffered());
      try {
        line = co_await reader.readline();
      } catch (const asyncio::LimitOverrunError&) {
        ++overruns;
        continue;
      }
      if (line.empty() || line != std::string(line.size() - 1, 'z') + "\n")
        break;  // not the long line's tail
    }
    co_await sender;
    EXPECT_EQ(line, "next line\n");
    EXPECT_GE(overruns, 10 * 1024 * KiB / (2 * limit + 64 * KiB));
    EXPECT_LE(most, 2 * limit + 64 * KiB);
  }());
}

TEST_F(StreamTest, TwoTasksWaitingForDataIsRuntimeError) {
  run([&]() -> Coro<void> {
    auto [reader, writer] = open();
    auto first = asyncio::create_task(reader.read(10));
    co_await asyncio::sleep(0s);  // first is now waiting
    {
      const bool threw = co_await asyncio_test::throws<asyncio::RuntimeError>(reader.readline());
      EXPECT_TRUE(threw) << "reader.readline()";
    }
    peer_send("x");
    {
      const auto got = co_await first;
      EXPECT_EQ(got, "x");
    }
  }());
}

TEST_F(StreamTest, CancelledReadLosesNoData) {
  run([&]() -> Coro<void> {
    auto [reader, writer] = open();
    auto waiting = asyncio::create_task(reader.readexactly(4));
    co_await asyncio::sleep(0s);
    peer_send("ab");
    co_await asyncio_test::wait_until([&] { return reader.buffered() >= 2; }, 10s,
                                      "the reader to buffer \"ab\"");
    waiting.cancel();
    try {
      co_await waiting;
    } catch (const asyncio::CancelledError&) {
    }
    EXPECT_TRUE(waiting.cancelled());
    peer_send("cd");
    {
      const auto got = co_await reader.readexactly(4);
      EXPECT_EQ(got, "abcd");
    }
  }());
}

// --- Readers fed by hand ---------------------------------------------------------------------

/// The exception the tests fail readers with.
struct Boom : std::runtime_error {
  Boom() : std::runtime_error("boom") {}
};

/// Resumes the running task `n` times through the ready queue.
Coro<void> yield_times(int n) {
  for (int i = 0; i < n; ++i) co_await asyncio::sleep(0s);
}

TEST_F(StreamTest, FedReaderReadsWhatWasFed) {
  StreamReader reader(8);  // made and fed with no loop running
  EXPECT_EQ(reader.limit(), 8u);
  reader.feed_data("hello ");
  reader.feed_data("");
  reader.feed_data("world");
  EXPECT_EQ(reader.buffered(), 11u);
  auto parts = run([&]() -> Coro<std::vector<std::string>> {
    std::vector<std::string> got;
    got.push_back(co_await reader.read(5));
    got.push_back(co_await reader.readexactly(3));
    reader.feed_eof();
    got.push_back(co_await reader.read());
    got.push_back(co_await reader.read(10));
    co_return got;
  }());
  EXPECT_EQ(parts, (std::vector<std::string>{"hello", " wo", "rld", ""}));
  EXPECT_TRUE(reader.at_eof());
  EXPECT_THROW(StreamReader(0), std::invalid_argument);
}

// Python's `async for line in reader` (CPython's test_streams.py test___aiter__ and friends).
TEST_F(StreamTest, AReaderIteratesItsLinesUntilEof) {
  StreamReader reader;
  reader.feed_data("line1\nline2\nlast without newline");
  reader.feed_eof();
  auto lines = run([&]() -> Coro<std::vector<std::string>> {
    std::vector<std::string> got;
    while (auto line = co_await reader.anext()) got.push_back(std::move(*line));
    co_return got;
  }());
  EXPECT_EQ(lines, (std::vector<std::string>{"line1\n", "line2\n", "last without newline"}));
}

// Python 3.13's readuntil with a tuple of separators (CPython's test_readuntil_multiple_*).
TEST_F(StreamTest, ReaduntilWithSeveralSeparatorsTakesTheShortestChunk) {
  StreamReader reader(8);
  reader.feed_data("abc\r\ndef\nghi|abcdxyz");
  auto parts = run([&]() -> Coro<std::vector<std::string>> {
    const std::vector<std::string> line_ends{"\r\n", "\n", "|"};
    const std::vector<std::string> overlapping{"abcd", "bc"};
    std::vector<std::string> got;
    got.push_back(co_await reader.readuntil(line_ends));
    got.push_back(co_await reader.readuntil(line_ends));
    got.push_back(co_await reader.readuntil(line_ends));
    got.push_back(co_await reader.readuntil(overlapping));  // "bc" ends first
    const std::vector<std::string> no_separator, an_empty_one{"x", ""};
    const bool none =
        co_await asyncio_test::throws<std::invalid_argument>(reader.readuntil(no_separator));
    const bool empty =
        co_await asyncio_test::throws<std::invalid_argument>(reader.readuntil(an_empty_one));
    EXPECT_TRUE(none && empty);
    reader.feed_eof();
    try {
      co_await reader.readuntil(line_ends);
      ADD_FAILURE() << "no IncompleteReadError at EOF";
    } catch (const asyncio::IncompleteReadError& error) {
      got.push_back(error.partial());
    }
    co_return got;
  }());
  EXPECT_EQ(parts, (std::vector<std::string>{"abc\r\n", "def\n", "ghi|", "abc", "dxyz"}));
}

TEST_F(StreamTest, ReaduntilWithSeveralSeparatorsStopsAtTheLimit) {
  StreamReader reader(8);
  reader.feed_data("0123456789abcdefghij");
  run([&]() -> Coro<void> {
    const std::vector<std::string> separators{"\n", "XYZ"};
    const bool overrun =
        co_await asyncio_test::throws<asyncio::LimitOverrunError>(reader.readuntil(separators));
    EXPECT_TRUE(overrun);
    EXPECT_EQ(reader.buffered(), 20u);  // the data stays buffered, as with one separator
  }());
}

// Python's read(0) gives b"" at once; it used to wait for data (found by the fuzzer).
TEST_F(StreamTest, ReadOfZeroDoesNotWaitForData) {
  run([&]() -> Coro<void> {
    StreamReader reader;
    auto reading = asyncio::create_task(reader.read(0));
    co_await asyncio::sleep(0s);
    EXPECT_TRUE(reading.done());
    if (!reading.done()) reading.cancel();  // so that the test ends either way
    const bool cancelled =
        co_await asyncio_test::throws<asyncio::CancelledError>(std::move(reading));
    EXPECT_FALSE(cancelled);
    reader.set_exception(std::make_exception_ptr(Boom()));
    const bool threw = co_await asyncio_test::throws<Boom>(reader.read(0));
    EXPECT_TRUE(threw) << "read(0) of a failed reader";
  }());
}

TEST_F(StreamTest, FedReaderWaitsUntilFed) {
  run([&]() -> Coro<void> {
    StreamReader reader;
    auto reading = asyncio::create_task(reader.read(100));
    co_await yield_times(3);
    EXPECT_FALSE(reading.done());
    reader.feed_data("abc");
    reader.feed_data("de");  // before the reader runs: it gets both
    {
      const auto got = co_await reading;
      EXPECT_EQ(got, "abcde");
    }
  }());
}

// Each read function waits across several feeds for what completes it.
TEST_F(StreamTest, FedReaderReadsAcrossFeeds) {
  auto parts = run([&]() -> Coro<std::vector<std::string>> {
    StreamReader reader;
    auto reading_body = [&]() -> Coro<std::vector<std::string>> {
      std::vector<std::string> got;
      got.push_back(co_await reader.readline());
      got.push_back(co_await reader.readuntil("\r\n"));
      got.push_back(co_await reader.readexactly(5));
      got.push_back(co_await reader.read());
      co_return got;
    };  // named: it must outlive its task
    auto reading = asyncio::create_task(reading_body());
    for (std::string_view piece :
         {"fir", "st ", "line", "\nGET /", "\r", "\n12", "3", "45", "tail"}) {
      co_await asyncio::sleep(0s);
      EXPECT_FALSE(reading.done()) << "before " << piece;
      reader.feed_data(piece);
    }
    reader.feed_eof();
    co_return co_await reading;
  }());
  EXPECT_EQ(parts, (std::vector<std::string>{"first line\n", "GET /\r\n", "12345", "tail"}));
}

TEST_F(StreamTest, FeedEofEndsEveryRead) {
  run([&]() -> Coro<void> {
    StreamReader reader;
    reader.feed_data("ab");
    auto reading = asyncio::create_task(reader.readexactly(3));
    co_await asyncio::sleep(0s);
    reader.feed_eof();
    try {
      co_await reading;
      ADD_FAILURE() << "readexactly returned";
    } catch (const asyncio::IncompleteReadError& error) {
      EXPECT_EQ(error.partial(), "ab");
      EXPECT_EQ(error.expected(), 3);
    }
    EXPECT_TRUE(reader.at_eof());
    {
      const auto got = co_await reader.readline();
      EXPECT_EQ(got, "");
    }
    {
      const auto got = co_await reader.read();
      EXPECT_EQ(got, "");
    }
    {
      const bool threw =
          co_await asyncio_test::throws<asyncio::IncompleteReadError>(reader.readuntil(";"));
      EXPECT_TRUE(threw) << "reader.readuntil(\";\")";
    }
  }());
}

// Python asserts `not self._eof` first, so even empty data is refused after EOF.
TEST_F(StreamTest, FeedDataAfterFeedEofIsRuntimeError) {
  StreamReader reader;
  reader.feed_data("kept");
  reader.feed_eof();
  reader.feed_eof();  // again: nothing changes
  for (std::string_view data : {"more", ""}) {
    try {
      reader.feed_data(data);
      ADD_FAILURE() << "feed_data(\"" << data << "\") after feed_eof";
    } catch (const asyncio::RuntimeError& error) {
      EXPECT_STREQ(error.what(), "feed_data after feed_eof");
    }
  }
  EXPECT_EQ(reader.buffered(), 4u);
  EXPECT_FALSE(reader.at_eof());
}

// set_exception wakes the waiting reader with the error; every later read raises it, whatever
// is buffered, and at_eof() is unaffected.
TEST_F(StreamTest, SetExceptionWakesTheWaitingReaderAndFailsLaterReads) {
  run([&]() -> Coro<void> {
    StreamReader reader;
    reader.feed_data("abc");
    auto reading = asyncio::create_task(reader.readexactly(10));
    co_await asyncio::sleep(0s);
    EXPECT_FALSE(reading.done());
    const std::exception_ptr boom = std::make_exception_ptr(Boom());
    reader.set_exception(boom);
    EXPECT_EQ(reader.exception(), boom);
    {
      const bool threw = co_await asyncio_test::throws<Boom>(std::move(reading));
      EXPECT_TRUE(threw) << "the waiting readexactly";
    }
    reader.feed_data("d");  // allowed, as in Python
    EXPECT_EQ(reader.buffered(), 4u);
    for (auto* read :
         {+[](StreamReader r) { return r.read(); }, +[](StreamReader r) { return r.read(1); },
          +[](StreamReader r) { return r.readline(); },
          +[](StreamReader r) { return r.readexactly(1); },
          +[](StreamReader r) { return r.readuntil("c"); }}) {
      const bool threw = co_await asyncio_test::throws<Boom>(read(reader));
      EXPECT_TRUE(threw);
    }
    EXPECT_FALSE(reader.at_eof());
    EXPECT_EQ(reader.buffered(), 4u);
  }());
}

// On a connection, fed bytes join those read from the socket; past twice the limit reading from
// the socket pauses until the reader consumes; feed_eof stops reading.
TEST_F(StreamTest, ConnectionReaderCanBeFedByHand) {
  run([&]() -> Coro<void> {
    auto [reader, writer] = open(16);
    reader.feed_data("fed\n");
    peer_send("net\n");
    {
      const auto got = co_await reader.readline();
      EXPECT_EQ(got, "fed\n");
    }
    {
      const auto got = co_await reader.readline();
      EXPECT_EQ(got, "net\n");
    }
    reader.feed_data(std::string(40, 'f'));  // more than 2 * 16
    peer_send("held back");
    co_await yield_times(3 * asyncio::EventLoop::poll_interval);  // the loop polls at least twice
    EXPECT_EQ(reader.buffered(), 40u);                            // but does not read the socket
    {
      const auto got = co_await reader.read(40);
      EXPECT_EQ(got, std::string(40, 'f'));
    }
    {
      const auto got = co_await reader.read(100);
      EXPECT_EQ(got, "held back");
    }
    reader.feed_eof();
    peer_send("never read");
    {
      const auto got = co_await reader.read();
      EXPECT_EQ(got, "");
    }
    EXPECT_THROW(reader.feed_data("x"), asyncio::RuntimeError);
  }());
}

// set_exception on a connection's reader: reads and drain() raise it, as in Python; a clean
// close afterwards keeps it.
TEST_F(StreamTest, ConnectionReaderSetExceptionFailsReadsAndDrain) {
  run([&]() -> Coro<void> {
    auto [reader, writer] = open();
    auto reading = asyncio::create_task(reader.read(10));
    co_await asyncio::sleep(0s);
    reader.set_exception(std::make_exception_ptr(Boom()));
    {
      const bool threw = co_await asyncio_test::throws<Boom>(std::move(reading));
      EXPECT_TRUE(threw) << "the waiting read";
    }
    {
      const bool threw = co_await asyncio_test::throws<Boom>(writer.drain());
      EXPECT_TRUE(threw) << "writer.drain()";
    }
    writer.abort();
    EXPECT_NE(reader.exception(), nullptr);
  }());
}

// --- Opening ----------------------------------------------------------------------------------

// open_stream owns its fd from the start: a limit of 0, or no running loop, closes it.
TEST_F(StreamTest, OpenStreamThatThrowsClosesItsFd) {
  const std::size_t before = open_fd_count();
  run([&]() -> Coro<void> {
    EXPECT_THROW(asyncio::open_stream(pair.a.release(), 0), std::invalid_argument);
    co_return;
  }());
  EXPECT_EQ(open_fd_count(), before - 1);
  EXPECT_THROW(asyncio::open_stream(pair.b.release()), asyncio::RuntimeError);  // no running loop
  EXPECT_EQ(open_fd_count(), before - 2);
}

// --- Writing ----------------------------------------------------------------------------------

TEST_F(StreamTest, WriteSendsAtOnceWhenTheSocketTakesIt) {
  run([&]() -> Coro<void> {
    auto [reader, writer] = open();
    writer.write("abc");
    writer.writelines({"de", "", "f"});
    writer.writelines(std::vector<std::string>{"g", "h"});
    EXPECT_EQ(writer.get_write_buffer_size(), 0u);
    EXPECT_EQ(peer_receive(), "abcdefgh");  // before any await
    co_await writer.drain();
  }());
}

// The peer stops reading: with drain() after each write, the buffer never holds more than the
// high-water mark plus one chunk, drain() blocks, and resumes once the peer reads; nothing is
// lost or reordered. For each write API.
class WriteApiTest : public StreamTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(WriteApiTest, BufferStaysBoundedAndDrainBlocksUntilThePeerReads) {
  small_socket_buffers();
  const std::string api = GetParam();
  const std::size_t chunk = 24 * KiB, chunks = 64;
  const std::string sent = pattern(chunk * chunks);
  run([&]() -> Coro<void> {
    auto [reader, writer] = open();
    std::size_t written = 0, most = 0;
    auto writing_body = [&]() -> Coro<void> {
      for (std::size_t i = 0; i < chunks; ++i) {
        const std::string_view piece = std::string_view(sent).substr(i * chunk, chunk);
        if (api == "write") {
          writer.write(piece);
        } else {
          writer.writelines({piece.substr(0, 1000), piece.substr(1000)});
        }
        ++written;
        most = std::max(most, writer.get_write_buffer_size());
        co_await writer.drain();
      }
    };  // named: it must outlive its task
    auto writing = asyncio::create_task(writing_body());
    for (int i = 0; i < 2000; ++i) co_await asyncio::sleep(0s);
    EXPECT_FALSE(writing.done());
    EXPECT_LT(written, chunks);
    EXPECT_GT(writer.get_write_buffer_size(), asyncio::detail::StreamTransport::default_low_water);
    const std::string received = co_await peer_read(sent.size());
    co_await writing;
    EXPECT_TRUE(received == sent);
    EXPECT_GT(most, asyncio::detail::StreamTransport::default_high_water);
    EXPECT_LE(most, asyncio::detail::StreamTransport::default_high_water + chunk);
  }());
}

INSTANTIATE_TEST_SUITE_P(Apis, WriteApiTest, ::testing::Values("write", "writelines"));

TEST_F(StreamTest, WriteBufferLimitsCanBeChanged) {
  small_socket_buffers();
  run([&]() -> Coro<void> {
    auto [reader, writer] = open();
    writer.set_write_buffer_limits(1000, 100);
    writer.write(pattern(256 * KiB));
    auto draining = asyncio::create_task(writer.drain());
    co_await asyncio::sleep(0s);
    EXPECT_FALSE(draining.done());
    EXPECT_THROW(writer.set_write_buffer_limits(10, 100), std::invalid_argument);
    co_await peer_read(256 * KiB);
    co_await draining;
  }());
}

// The peer closes with our bytes unread: the next write fails, and drain(), reads and
// wait_closed() raise the error; further writes are ignored; the loop then sleeps.
TEST_F(StreamTest, PeerGoneMidWriteRaisesFromDrainAndNeverSpins) {
  small_socket_buffers();
  run([&]() -> Coro<void> {
    auto [reader, writer] = open();
    auto writing_body = [&]() -> Coro<void> {
      for (;;) {
        writer.write(pattern(16 * KiB));
        co_await writer.drain();
      }
    };  // named: it must outlive its task
    auto writing = asyncio::create_task(writing_body());
    for (int i = 0; i < 200; ++i) co_await asyncio::sleep(0s);
    EXPECT_FALSE(writing.done());  // blocked in drain
    pair.b.close();
    try {
      co_await writing;
      ADD_FAILURE() << "the writer ended without an error";
    } catch (const std::system_error& error) {
      EXPECT_TRUE(error.code().value() == EPIPE || error.code().value() == ECONNRESET)
          << error.what();
    }
    EXPECT_TRUE(writer.is_closing());
    EXPECT_EQ(writer.socket(), -1);
    writer.write("ignored");
    {
      const bool threw = co_await asyncio_test::throws<std::system_error>(writer.drain());
      EXPECT_TRUE(threw) << "writer.drain()";
    }
    {
      const bool threw = co_await asyncio_test::throws<std::system_error>(reader.read(10));
      EXPECT_TRUE(threw) << "reader.read(10)";
    }
    {
      const bool threw = co_await asyncio_test::throws<std::system_error>(writer.wait_closed());
      EXPECT_TRUE(threw) << "writer.wait_closed()";
    }
  }());
  EXPECT_LE(polls_during(50ms), 5u);
}

// The peer half-closes (SHUT_WR): we read EOF, and may go on writing, which the peer receives;
// the hang-up wakes the loop once, not on every poll.
TEST_F(StreamTest, PeerHalfCloseGivesEofWhileWritesGoOn) {
  std::optional<asyncio::StreamPair> stream;
  run([&]() -> Coro<void> {
    stream = open();
    co_return;
  }());
  StreamReader& reader = stream->first;
  StreamWriter& writer = stream->second;
  run([&]() -> Coro<void> {
    peer_send("last words");
    ::shutdown(pair.b, SHUT_WR);
    {
      const auto got = co_await reader.read();
      EXPECT_EQ(got, "last words");
    }
    EXPECT_TRUE(reader.at_eof());
    writer.write("still here");
    co_await writer.drain();
  }());
  EXPECT_EQ(peer_receive(), "still here");
  EXPECT_LE(polls_during(50ms), 5u);
  run([&]() -> Coro<void> {
    writer.write("and again");
    writer.close();
    co_await writer.wait_closed();
  }());
  EXPECT_EQ(peer_receive(), "and again");
  EXPECT_EQ(::recv(pair.b, nullptr, 0, 0), 0);  // EOF after it
}

TEST_F(StreamTest, WriteEofSendsEofAfterBufferedBytesAndReadingGoesOn) {
  small_socket_buffers();
  const std::string sent = pattern(512 * KiB);
  run([&]() -> Coro<void> {
    auto [reader, writer] = open();
    writer.write(sent);
    writer.write_eof();
    EXPECT_TRUE(writer.can_write_eof());
    EXPECT_THROW(writer.write("more"), asyncio::RuntimeError);
    {
      const auto got = co_await peer_read(sent.size() + 1);
      EXPECT_EQ(got, sent);
    }  // + 1: reads on to the EOF
    peer_send("reply");
    {
      const auto got = co_await reader.read(100);
      EXPECT_EQ(got, "reply");
    }
  }());
}

TEST_F(StreamTest, CloseSendsBufferedBytesFirstAndDrainThenRaises) {
  small_socket_buffers();
  const std::string sent = pattern(512 * KiB);
  run([&]() -> Coro<void> {
    auto [reader, writer] = open();
    writer.write(sent);
    writer.close();
    EXPECT_TRUE(writer.is_closing());
    auto closed = asyncio::create_task(writer.wait_closed());
    co_await asyncio::sleep(0s);
    EXPECT_FALSE(closed.done());  // the bytes are still being sent
    {
      const auto got = co_await peer_read(sent.size() + 1);
      EXPECT_EQ(got, sent);
    }
    co_await closed;
    {
      const auto got = co_await reader.read(10);
      EXPECT_EQ(got, "");
    }
    try {
      co_await writer.drain();
      ADD_FAILURE() << "drain after close returned";
    } catch (const std::system_error& error) {
      EXPECT_EQ(error.code().value(), ECONNRESET);
    }
  }());
}

// Writes `data`, over the high-water mark, and gives a drain() that waits for it to go out.
Coro<asyncio::Task<void>> a_waiting_drain(asyncio::StreamWriter& writer, const std::string& data) {
  writer.write(data);
  auto drained = asyncio::create_task(writer.drain());
  co_await asyncio::sleep(0s);
  EXPECT_FALSE(drained.done());
  co_return drained;
}

// Python's _drain_helper: a drain already waiting when the connection ends cleanly returns.
TEST_F(StreamTest, ADrainWaitingWhenTheConnectionEndsCleanlyReturns) {
  small_socket_buffers();
  const std::string sent = pattern(512 * KiB);
  run([&]() -> Coro<void> {
    auto [reader, writer] = open();
    auto drained = co_await a_waiting_drain(writer, sent);
    writer.close();
    const auto got = co_await peer_read(sent.size() + 1);
    EXPECT_EQ(got, sent);
    co_await drained;  // every byte went out: no "Connection lost"
    co_await writer.wait_closed();
  }());
}

TEST_F(StreamTest, ADrainWaitingWhenTheConnectionIsAbortedReturns) {  // as Python's
  small_socket_buffers();
  const std::string sent = pattern(512 * KiB);
  run([&]() -> Coro<void> {
    auto [reader, writer] = open();
    auto drained = co_await a_waiting_drain(writer, sent);
    writer.abort();
    co_await drained;
    co_await writer.wait_closed();
  }());
}

TEST_F(StreamTest, AbortDropsBufferedBytes) {
  small_socket_buffers();
  run([&]() -> Coro<void> {
    auto [reader, writer] = open();
    writer.write(pattern(512 * KiB));
    writer.abort();
    co_await writer.wait_closed();
    const std::string received = co_await peer_read(512 * KiB);
    EXPECT_LT(received.size(), 512 * KiB);
  }());
}

// Dropping both handles closes the socket: the peer sees EOF.
TEST_F(StreamTest, DroppingTheHandlesClosesTheConnection) {
  run([&]() -> Coro<void> {
    auto stream = std::make_optional(open());
    stream.reset();
    {
      const auto got = co_await peer_read(1);
      EXPECT_EQ(got, "");
    }
  }());
}

// Dropping the handles is close(), as Python's StreamWriter.__del__: the bytes still buffered
// reach the peer before its EOF, whether close() was called first or not.
class StreamDropTest : public StreamTest, public ::testing::WithParamInterface<bool> {};

TEST_P(StreamDropTest, DroppingTheHandlesSendsTheBufferedBytesThenCloses) {
  const bool close_first = GetParam();
  small_socket_buffers();
  const std::string sent = pattern(512 * KiB);
  run([&]() -> Coro<void> {
    auto stream = std::make_optional(open());
    stream->second.write(sent);
    EXPECT_GT(stream->second.get_write_buffer_size(), 0u);  // the socket took only a part
    if (close_first) stream->second.close();
    stream.reset();
    const std::string received = co_await peer_read(sent.size() + 1);  // to EOF
    EXPECT_EQ(received.size(), sent.size());
    EXPECT_TRUE(received == sent);
  }());
}

INSTANTIATE_TEST_SUITE_P(CloseCalledFirst, StreamDropTest, ::testing::Bool());

}  // namespace
