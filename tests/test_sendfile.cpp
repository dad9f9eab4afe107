// sock_sendfile and loop.sendfile over real sockets: whole files, offset and count, a file
// shorter than count, the fallback when sendfile(2) cannot send the file (a pipe), argument
// errors, and 100 MB over a transport to a slow reader with the transport's memory flat; and
// sock_recvfrom_into and getnameinfo.
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "support/asyncio_test.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;

namespace {

using SendfileTest = asyncio_test::LoopFixture;

/// A temporary file of `size` bytes (a pattern that differs at every offset), already unlinked.
int temp_file(std::size_t size) {
  char path[] = "/tmp/asyncio-sendfile-XXXXXX";
  const int fd = ::mkstemp(path);
  ::unlink(path);
  std::vector<char> block(1 << 20);
  for (std::size_t done = 0; done < size;) {
    const std::size_t n = std::min(block.size(), size - done);
    for (std::size_t i = 0; i < n; ++i)
      block[i] = static_cast<char>(((done + i) * 7 + (done + i) / 251) & 0xff);
    if (::write(fd, block.data(), n) != static_cast<ssize_t>(n)) ADD_FAILURE() << "write";
    done += n;
  }
  ::lseek(fd, 0, SEEK_SET);
  return fd;
}

/// What temp_file holds at `offset`.
char expected_at(std::size_t offset) {
  return static_cast<char>((offset * 7 + offset / 251) & 0xff);
}

/// A connected, non-blocking pair of stream sockets.
std::pair<int, int> socket_pair() {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  return {fds[0], fds[1]};
}

/// Reads from `fd` until EOF; checks each byte against the file's pattern from `offset`.
/// Returns how many bytes came; `bad` counts the ones that differ.
Coro<std::size_t> read_all_checking(int fd, std::size_t offset, std::size_t& bad,
                                    std::chrono::microseconds pause = 0us) {
  std::vector<std::byte> buffer(64 * 1024);
  std::size_t total = 0;
  for (;;) {
    const std::size_t n = co_await asyncio::get_running_loop().sock_recv_into(fd, buffer);
    if (n == 0) co_return total;
    for (std::size_t i = 0; i < n; ++i)
      bad += static_cast<char>(buffer[i]) != expected_at(offset + total + i);
    total += n;
    if (pause > 0us) co_await asyncio::sleep(pause);
  }
}

TEST_F(SendfileTest, SockSendfileSendsTheWholeFileAndMovesItsOffset) {
  run([&]() -> Coro<void> {
    const std::size_t size = 3 * 1024 * 1024 + 17;
    const int file = temp_file(size);
    auto [ours, peer] = socket_pair();
    std::size_t bad = 0;
    auto reading = asyncio::create_task(read_all_checking(peer, 0, bad));
    const std::size_t sent = co_await loop->sock_sendfile(ours, file);
    ::shutdown(ours, SHUT_WR);
    EXPECT_EQ(sent, size);
    EXPECT_EQ(co_await reading, size);
    EXPECT_EQ(bad, 0u);
    EXPECT_EQ(::lseek(file, 0, SEEK_CUR), static_cast<off_t>(size));
    ::close(ours);
    ::close(peer);
    ::close(file);
  }());
}

TEST_F(SendfileTest, OffsetAndCountAndAFileShorterThanCount) {
  run([&]() -> Coro<void> {
    const int file = temp_file(10000);
    auto [ours, peer] = socket_pair();
    std::size_t bad = 0;
    auto reading = asyncio::create_task(read_all_checking(peer, 100, bad));
    EXPECT_EQ(co_await loop->sock_sendfile(ours, file, 100, 1000), 1000u);
    EXPECT_EQ(::lseek(file, 0, SEEK_CUR), 1100);
    // 8900 bytes are left after 1100: a count of a million sends those and stops, as Python.
    EXPECT_EQ(co_await loop->sock_sendfile(ours, file, 1100, 1000000), 8900u);
    EXPECT_EQ(::lseek(file, 0, SEEK_CUR), 10000);
    ::shutdown(ours, SHUT_WR);
    EXPECT_EQ(co_await reading, 9900u);
    EXPECT_EQ(bad, 0u);
    ::close(ours);
    ::close(peer);
    ::close(file);
  }());
}

/// Reads what `fd` holds now, without waiting; how many bytes that was.
std::size_t take_what_arrived(int fd) {
  std::vector<char> buffer(64 * 1024);
  std::size_t total = 0;
  for (ssize_t n; (n = ::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT)) > 0;)
    total += static_cast<std::size_t>(n);
  return total;
}

// Python's sock_sendfile seeks the file past what was sent in a `finally`: when the send fails
// or is cancelled halfway too.
TEST_F(SendfileTest, ASendThatFailsOrIsCancelledLeavesTheOffsetAfterWhatWasSent) {
  run([&]() -> Coro<void> {
    for (const bool cancel : {false, true}) {
      const int file = temp_file(4 * 1024 * 1024);
      auto [ours, peer] = socket_pair();
      auto sending = asyncio::create_task(loop->sock_sendfile(ours, file, 10));
      co_await asyncio::sleep(0s);  // its first step ran: the socket's buffer is full
      EXPECT_FALSE(sending.done());
      const std::size_t sent = take_what_arrived(peer);  // (the sender waits meanwhile)
      EXPECT_GT(sent, 0u);
      bool failed = false;
      if (cancel) {
        sending.cancel();
        failed = co_await asyncio_test::throws<asyncio::CancelledError>(std::move(sending));
      } else {
        ::close(std::exchange(peer, -1));
        failed = co_await asyncio_test::throws<std::system_error>(std::move(sending));
      }
      EXPECT_TRUE(failed);
      EXPECT_EQ(::lseek(file, 0, SEEK_CUR), static_cast<off_t>(10 + sent)) << "cancel " << cancel;
      ::close(ours);
      if (peer >= 0) ::close(peer);
      ::close(file);
    }
  }());
}

TEST_F(SendfileTest, AFileSendfileCannotSendFallsBackToReadAndSend) {
  run([&]() -> Coro<void> {
    int pipe_fds[2];
    EXPECT_EQ(::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK), 0);
    const std::string data(5000, 'p');
    EXPECT_EQ(::write(pipe_fds[1], data.data(), data.size()), 5000);
    ::close(pipe_fds[1]);
    auto [ours, peer] = socket_pair();
    const bool refused = co_await asyncio_test::throws<asyncio::SendfileNotAvailableError>(
        loop->sock_sendfile(ours, pipe_fds[0], 0, std::nullopt, false));
    EXPECT_TRUE(refused);
    EXPECT_EQ(co_await loop->sock_sendfile(ours, pipe_fds[0]), 5000u);  // fallback on
    std::string got(6000, '\0');
    const std::size_t n =
        co_await loop->sock_recv_into(peer, std::as_writable_bytes(std::span(got)));
    EXPECT_EQ(got.substr(0, n), data);
    ::close(ours);
    ::close(peer);
    ::close(pipe_fds[0]);
  }());
}

TEST_F(SendfileTest, BadArgumentsAreRefused) {
  run([&]() -> Coro<void> {
    const int file = temp_file(10);
    auto [ours, peer] = socket_pair();
    EXPECT_TRUE(
        co_await asyncio_test::throws<std::invalid_argument>(loop->sock_sendfile(ours, file, -1)));
    EXPECT_TRUE(co_await asyncio_test::throws<std::invalid_argument>(
        loop->sock_sendfile(ours, file, 0, 0)));
    const int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    EXPECT_TRUE(
        co_await asyncio_test::throws<std::invalid_argument>(loop->sock_sendfile(udp, file)));
    ::close(udp);
    ::close(ours);
    ::close(peer);
    ::close(file);
  }());
}

struct Quiet : asyncio::Protocol {
  std::string received;
  bool lost = false;
  void data_received(std::string_view data) override { received += data; }
  void connection_lost(std::exception_ptr) override { lost = true; }
};

/// Resident memory, in KiB.
long resident_kib() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

/// Keeps the most the transport buffered and the most resident memory, every 5 ms.
Coro<void> watch_memory(asyncio::Transport& transport, std::size_t& most_buffered,
                        long& most_resident) {
  for (;;) {
    most_buffered = std::max(most_buffered, transport.get_write_buffer_size());
    most_resident = std::max(most_resident, resident_kib());
    co_await asyncio::sleep(5ms);
  }
}

TEST_F(SendfileTest, HundredMegabytesToASlowReaderKeepMemoryFlatAndArriveWhole) {
  run([&]() -> Coro<void> {
    const std::size_t size = 100 * 1024 * 1024;
    const int file = temp_file(size);
    auto [ours, peer] = socket_pair();
    auto [transport, protocol] =
        co_await asyncio::connect_accepted_socket([] { return std::make_shared<Quiet>(); }, ours);
    const long before = resident_kib();
    std::size_t bad = 0;
    std::size_t most_buffered = 0;
    long most_resident = before;
    // The reader pauses 1 ms after each 64 KiB: sendfile must wait for it, not buffer.
    auto reading = asyncio::create_task(read_all_checking(peer, 0, bad, 200us));
    auto watching = asyncio::create_task(watch_memory(*transport, most_buffered, most_resident));
    auto sending = asyncio::create_task(loop->sendfile(transport, file));
    co_await asyncio::sleep(0s);
    EXPECT_THROW(transport->write("not now"), asyncio::RuntimeError);
    EXPECT_EQ(co_await sending, size);
    watching.cancel();
    transport->write("after");  // allowed again, and sent after the file
    transport->close();
    const std::size_t got = co_await reading;
    EXPECT_EQ(got, size + 5);
    std::size_t after_differs = 0;  // the file's pattern would go on where "after" is
    for (std::size_t i = 0; i < 5; ++i) after_differs += "after"[i] != expected_at(size + i);
    EXPECT_EQ(bad, after_differs);
    EXPECT_EQ(most_buffered, 0u);
    EXPECT_LT(most_resident - before, 16 * 1024) << "resident memory grew while sending";
    ::close(peer);
    ::close(file);
  }());
}

TEST_F(SendfileTest, TransportFlushesWhatWasWrittenBeforeTheFileAndRefusesWhenClosing) {
  run([&]() -> Coro<void> {
    const int file = temp_file(1000);
    auto [ours, peer] = socket_pair();
    auto [transport, protocol] =
        co_await asyncio::connect_accepted_socket([] { return std::make_shared<Quiet>(); }, ours);
    transport->write("head:");
    EXPECT_EQ(co_await loop->sendfile(transport, file, 0, 10), 10u);
    std::string got(100, '\0');
    const std::size_t n =
        co_await loop->sock_recv_into(peer, std::as_writable_bytes(std::span(got)));
    got.resize(n);
    EXPECT_EQ(got.substr(0, 5), "head:");
    transport->close();
    EXPECT_TRUE(
        co_await asyncio_test::throws<asyncio::RuntimeError>(loop->sendfile(transport, file)));
    co_await asyncio_test::wait_until([&] { return protocol->lost; }, 10s, "connection_lost");
    ::close(peer);
    ::close(file);
  }());
}

// CPython's test_sendfile_prevents_bare_write: between its sendfile(2) calls the send lets the
// loop run (Python's native sendfile waits for writability after each), so another task's
// write() meets "sendfile is in progress" even when the peer drains the socket at once (on an
// io_uring loop the peer's receive runs inside each system call of the thread).
TEST_F(SendfileTest, TheLoopRunsBetweenTheCallsOfASend) {
  run([&]() -> Coro<void> {
    const std::size_t size = 128 * 1024;
    const int file = temp_file(size);
    auto [ours, peer] = socket_pair();
    const int small = 4096;
    ::setsockopt(ours, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    auto [transport, protocol] =
        co_await asyncio::connect_accepted_socket([] { return std::make_shared<Quiet>(); }, ours);
    std::size_t bad = 0;
    auto reading = asyncio::create_task(read_all_checking(peer, 0, bad));
    auto sending = asyncio::create_task(loop->sendfile(transport, file));
    co_await asyncio::sleep(0s);  // the send made its first call
    EXPECT_FALSE(sending.done());
    EXPECT_THROW(transport->write("data"), asyncio::RuntimeError);
    EXPECT_EQ(co_await sending, size);
    transport->close();
    EXPECT_EQ(co_await reading, size);
    EXPECT_EQ(bad, 0u);
    ::close(peer);
    ::close(file);
  }());
}

TEST_F(SendfileTest, AbortWhileSendingEndsTheSend) {
  run([&]() -> Coro<void> {
    const int file = temp_file(8 * 1024 * 1024);
    auto [ours, peer] = socket_pair();
    auto [transport, protocol] =
        co_await asyncio::connect_accepted_socket([] { return std::make_shared<Quiet>(); }, ours);
    auto sending = asyncio::create_task(loop->sendfile(transport, file));
    co_await asyncio::sleep(0s);  // the socket's buffer is full: the send waits for the peer
    EXPECT_FALSE(sending.done());
    transport->abort();
    EXPECT_TRUE(co_await asyncio_test::throws<std::system_error>(std::move(sending)));
    co_await asyncio_test::wait_until([&] { return protocol->lost; }, 10s, "connection_lost");
    ::close(peer);
    ::close(file);
  }());
}

TEST_F(SendfileTest, SockRecvfromIntoGivesTheSizeAndTheSender) {
  run([&]() -> Coro<void> {
    const int a = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int b = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const auto any = asyncio::SocketAddress::ip("127.0.0.1", 0);
    EXPECT_EQ(::bind(a, any.data(), any.size()), 0);
    EXPECT_EQ(::bind(b, any.data(), any.size()), 0);
    const auto a_address = asyncio::SocketAddress::local_of(a);
    const auto b_address = asyncio::SocketAddress::local_of(b);
    char buffer[4];
    auto receiving = asyncio::create_task(loop->sock_recvfrom_into(a, buffer));
    co_await loop->sock_sendto(b, "datagram", a_address);
    auto [n, sender] = co_await receiving;
    EXPECT_EQ(n, 4u);  // truncated to the buffer, as recvfrom_into
    EXPECT_EQ(std::string(buffer, 4), "data");
    EXPECT_EQ(sender, b_address);
    ::close(a);
    ::close(b);
  }());
}

TEST_F(SendfileTest, GetnameinfoGivesNumericNamesAtOnceAndLooksUpOthers) {
  run([&]() -> Coro<void> {
    const auto address = asyncio::SocketAddress::ip("127.0.0.1", 80);
    auto [host, service] = co_await asyncio::getnameinfo(address, NI_NUMERICHOST | NI_NUMERICSERV);
    EXPECT_EQ(host, "127.0.0.1");
    EXPECT_EQ(service, "80");
    auto [name, port_name] = co_await asyncio::getnameinfo(address, NI_NUMERICSERV);
    EXPECT_FALSE(name.empty());  // "localhost" where /etc/hosts says so
    EXPECT_EQ(port_name, "80");
    // A flag getnameinfo(3) does not know: its error (EAI_BADFLAGS), in gai_category.
    try {
      co_await asyncio::getnameinfo(address, NI_NUMERICHOST | NI_NUMERICSERV | (1 << 20));
      ADD_FAILURE() << "an unknown flag was taken";
    } catch (const std::system_error& error) {
      EXPECT_EQ(error.code().category(), asyncio::gai_category());
      EXPECT_EQ(error.code().value(), EAI_BADFLAGS);
    }
  }());
}

}  // namespace
