// The load client of the echo benchmarks (compare.py echo): plain C++ on epoll, one thread, no
// library. Each of N connections sends a message of SIZE bytes, waits until all of it has come
// back, then sends the next (a closed loop). After a warm-up it counts the round trips that end
// within the measured seconds and prints "round_trips_per_s" and "latency_p50_us",
// "latency_p90_us", "latency_p99_us" and "latency_p999_us" lines, and "round_trips_total" (all
// round trips, warm-up included: what the server's CPU time is divided by). A server that sends
// back anything but the bytes it was sent, closes a connection early or stops answering for 5 s
// makes it fail (exit status 1, a message on stderr).
//
// With --tls each connection is a TLS client (OpenSSL, no certificate check: the server's
// speed is measured, not its identity), its handshake done before the run starts; the bytes
// are then the records' plain text.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

struct Options {
  std::string host = "127.0.0.1";
  std::string port = "8888";
  int connections = 50;
  std::size_t size = 64;
  double seconds = 5.0;
  double warmup = 1.0;
  bool tls = false;
};

struct Connection {
  int fd = -1;
  std::uint64_t messages = 0;  // messages completed so far: picks the next message's bytes
  const char* message = nullptr;
  std::size_t sent = 0;      // bytes of the current message sent
  std::size_t received = 0;  // bytes of it echoed back
  std::int64_t started_ns = 0;
  bool watching_writes = false;
  bool done = false;
  SSL* ssl = nullptr;  // with --tls
};

constexpr double kStallSeconds = 5.0;  // no reply on any connection for this long: a failure
constexpr int kPatternSpread = 251;    // message k starts at byte k % 251 of the pattern

[[noreturn]] void fail(const char* format, ...) {
  std::va_list args;
  va_start(args, format);
  std::fputs("echo_client: error: ", stderr);
  std::vfprintf(stderr, format, args);
  std::fputc('\n', stderr);
  va_end(args);
  std::exit(1);
}

[[noreturn]] void usage(const char* program) {
  std::fprintf(stderr,
               "usage: %s [--host H] [--port P] [--connections N] [--size BYTES] [--seconds S] "
               "[--warmup S] [--tls]\n",
               program);
  std::exit(2);
}

std::int64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

double parse_number(const char* program, const char* text, double low, double high) {
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0' || !(value >= low && value <= high)) usage(program);
  return value;
}

Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--tls") {
      options.tls = true;
      continue;
    }
    if (i + 1 >= argc) usage(argv[0]);
    const char* value = argv[++i];
    if (flag == "--host") {
      options.host = value;
    } else if (flag == "--port") {
      options.port = value;
    } else if (flag == "--connections") {
      options.connections = static_cast<int>(parse_number(argv[0], value, 1, 1'000'000));
    } else if (flag == "--size") {
      options.size = static_cast<std::size_t>(parse_number(argv[0], value, 1, 1 << 30));
    } else if (flag == "--seconds") {
      options.seconds = parse_number(argv[0], value, 0.001, 86'400);
    } else if (flag == "--warmup") {
      options.warmup = parse_number(argv[0], value, 0, 86'400);
    } else {
      usage(argv[0]);
    }
  }
  return options;
}

/// Raises the soft limit on open files (up to the hard limit) so that `connections` sockets fit.
void raise_fd_limit(int connections) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) fail("getrlimit: %s", std::strerror(errno));
  const rlim_t needed = static_cast<rlim_t>(connections) + 16;
  if (limit.rlim_cur >= needed) return;
  limit.rlim_cur = limit.rlim_max == RLIM_INFINITY ? needed : std::min(needed, limit.rlim_max);
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) fail("setrlimit: %s", std::strerror(errno));
  if (limit.rlim_cur < needed) {
    fail("%d connections need %llu open files; the hard limit is %llu", connections,
         static_cast<unsigned long long>(needed), static_cast<unsigned long long>(limit.rlim_max));
  }
}

addrinfo* resolve(const Options& options) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* result = nullptr;
  if (const int error =
          ::getaddrinfo(options.host.c_str(), options.port.c_str(), &hints, &result)) {
    fail("bad address %s port %s: %s", options.host.c_str(), options.port.c_str(),
         gai_strerror(error));
  }
  return result;
}

/// A connected non-blocking TCP socket with TCP_NODELAY; fails after 5 s without a connection.
int connect_to(const addrinfo& address) {
  const int fd = ::socket(address.ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket: %s", std::strerror(errno));
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd, address.ai_addr, address.ai_addrlen) != 0) {
    if (errno != EINPROGRESS) fail("connect: %s", std::strerror(errno));
    pollfd waiting{fd, POLLOUT, 0};
    if (::poll(&waiting, 1, 5000) != 1) fail("connect: no connection after 5 s");
    int error = 0;
    socklen_t length = sizeof error;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) fail("connect: %s", std::strerror(error));
  }
  return fd;
}

[[noreturn]] void fail_tls(const char* what) {
  const unsigned long code = ERR_get_error();
  fail("%s: %s", what, code ? ERR_reason_error_string(code) : "connection closed");
}

/// A TLS client session over the connected socket `fd`, its handshake done (5 s at most).
SSL* start_tls(SSL_CTX* context, int fd) {
  SSL* ssl = SSL_new(context);
  if (!ssl || SSL_set_fd(ssl, fd) != 1) fail_tls("SSL_new");
  SSL_set_connect_state(ssl);
  for (;;) {
    const int result = SSL_do_handshake(ssl);
    if (result == 1) return ssl;
    const int error = SSL_get_error(ssl, result);
    if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) fail_tls("TLS handshake");
    pollfd waiting{fd, static_cast<short>(error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
    if (::poll(&waiting, 1, 5000) != 1) fail("TLS handshake: no progress for 5 s");
  }
}

/// send(2), or SSL_write with --tls: -1 with errno EAGAIN when it would block.
ssize_t send_some(Connection& c, const char* data, std::size_t size) {
  if (!c.ssl) return ::send(c.fd, data, size, MSG_NOSIGNAL);
  const int result = SSL_write(c.ssl, data, static_cast<int>(std::min<std::size_t>(size, 1 << 30)));
  if (result > 0) return result;
  const int error = SSL_get_error(c.ssl, result);
  if (error != SSL_ERROR_WANT_WRITE && error != SSL_ERROR_WANT_READ) fail_tls("SSL_write");
  errno = EAGAIN;
  return -1;
}

/// recv(2), or SSL_read with --tls (0 at the peer's close_notify).
ssize_t receive_some(Connection& c, char* data, std::size_t size) {
  if (!c.ssl) return ::recv(c.fd, data, size, 0);
  const int result = SSL_read(c.ssl, data, static_cast<int>(size));
  if (result > 0) return result;
  const int error = SSL_get_error(c.ssl, result);
  if (error == SSL_ERROR_ZERO_RETURN) return 0;
  if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) fail_tls("SSL_read");
  errno = EAGAIN;
  return -1;
}

class Client {
 public:
  Client(const Options& options, std::vector<Connection> connections)
      : options_(options),
        connections_(std::move(connections)),
        epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)) {
    if (epoll_fd_ < 0) fail("epoll_create1: %s", std::strerror(errno));
    // Random letters; message k of a connection is the `size` bytes from byte k % 251 on, so
    // consecutive messages differ and a server that answers with stale bytes is caught.
    std::uint32_t state = 2463534242u;
    pattern_.resize(options.size + kPatternSpread);
    for (char& byte : pattern_) {
      state ^= state << 13, state ^= state >> 17, state ^= state << 5;
      byte = static_cast<char>('a' + state % 26);
    }
    const double expected = options.seconds * 300'000;  // room for the round trips of a fast run
    latencies_ns_.reserve(static_cast<std::size_t>(std::min(expected, 50e6)));
    for (Connection& c : connections_) {
      epoll_event event{};
      event.events = EPOLLIN;
      event.data.ptr = &c;
      if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.fd, &event) != 0)
        fail("epoll_ctl: %s", std::strerror(errno));
    }
  }

  /// Runs the warm-up and the measurement, lets the messages in flight finish, closes the
  /// connections and prints the figures.
  void run() {
    const std::int64_t start = now_ns();
    measure_from_ns_ = start + static_cast<std::int64_t>(options_.warmup * 1e9);
    measure_until_ns_ = measure_from_ns_ + static_cast<std::int64_t>(options_.seconds * 1e9);
    for (Connection& c : connections_) start_message(c);
    std::int64_t last_progress = now_ns();
    std::vector<epoll_event> events(std::min<std::size_t>(connections_.size(), 1024));
    while (open_ > 0) {
      const int ready =
          ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), 1000);
      if (ready < 0 && errno != EINTR) fail("epoll_wait: %s", std::strerror(errno));
      if (ready <= 0) {
        if ((now_ns() - last_progress) / 1e9 >= kStallSeconds) {
          fail("no reply on any connection for %.0f s (%d still waiting)", kStallSeconds, open_);
        }
        continue;
      }
      last_progress = now_ns();
      for (int i = 0; i < ready; ++i) {
        auto& c = *static_cast<Connection*>(events[i].data.ptr);
        if (!c.done && (events[i].events & EPOLLOUT)) on_writable(c);
        if (!c.done && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) on_readable(c);
      }
    }
    report();
  }

 private:
  void start_message(Connection& c) {
    c.message = pattern_.data() + c.messages % kPatternSpread;
    c.sent = 0;
    c.received = 0;
    c.started_ns = now_ns();
    on_writable(c);
  }

  /// Sends what the socket takes of the current message; watches for writability while some
  /// of it is left.
  void on_writable(Connection& c) {
    while (c.sent < options_.size) {
      const ssize_t n = send_some(c, c.message + c.sent, options_.size - c.sent);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        fail("send: %s", std::strerror(errno));
      }
      c.sent += static_cast<std::size_t>(n);
    }
    const bool want_writes = c.sent < options_.size;
    if (want_writes != c.watching_writes) {
      epoll_event event{};
      event.events = EPOLLIN | (want_writes ? EPOLLOUT : 0u);
      event.data.ptr = &c;
      if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &event) != 0)
        fail("epoll_ctl: %s", std::strerror(errno));
      c.watching_writes = want_writes;
    }
  }

  /// Reads what has come back, checks it against what was sent, and on a complete message
  /// records its latency and starts the next one (or closes the connection once time is up).
  /// Over TLS it reads until OpenSSL holds no decrypted bytes: they would not wake epoll again
  /// (without read-ahead, OpenSSL takes one record at a time from the socket).
  void on_readable(Connection& c) {
    do {
      read_once(c);
    } while (c.ssl && !c.done && SSL_pending(c.ssl) > 0);
  }

  void read_once(Connection& c) {
    const ssize_t n = receive_some(c, buffer_, sizeof buffer_);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      fail("recv: %s", std::strerror(errno));
    }
    if (n == 0) {
      fail("the server closed a connection after echoing %zu of %zu bytes of a message", c.received,
           options_.size);
    }
    const auto count = static_cast<std::size_t>(n);
    if (c.received + count > c.sent) {
      fail("the server sent back %zu bytes of a message when only %zu were sent",
           c.received + count, c.sent);
    }
    if (std::memcmp(buffer_, c.message + c.received, count) != 0) {
      fail("the server sent back bytes that differ from those it was sent");
    }
    c.received += count;
    if (c.received < options_.size) return;

    const std::int64_t now = now_ns();
    if (now >= measure_from_ns_ && now < measure_until_ns_)
      latencies_ns_.push_back(now - c.started_ns);
    ++c.messages;
    ++round_trips_total_;
    if (now < measure_until_ns_) {
      start_message(c);
    } else {
      if (c.ssl) SSL_free(c.ssl);  // no close_notify: an end between records, an EOF
      ::close(c.fd);               // nothing in flight: the server reads a clean end of file
      c.done = true;
      --open_;
    }
  }

  void report() {
    if (latencies_ns_.empty())
      fail("no round trip completed within the measured %.3f s", options_.seconds);
    std::sort(latencies_ns_.begin(), latencies_ns_.end());
    auto percentile_us = [&](double p) {
      const auto rank =
          static_cast<std::size_t>(std::ceil(p * static_cast<double>(latencies_ns_.size())));
      return static_cast<double>(latencies_ns_[std::max<std::size_t>(rank, 1) - 1]) / 1000.0;
    };
    std::printf("round_trips_per_s %.0f\n",
                static_cast<double>(latencies_ns_.size()) / options_.seconds);
    std::printf("latency_p50_us %.1f\n", percentile_us(0.50));
    std::printf("latency_p90_us %.1f\n", percentile_us(0.90));
    std::printf("latency_p99_us %.1f\n", percentile_us(0.99));
    std::printf("latency_p999_us %.1f\n", percentile_us(0.999));
    std::printf("round_trips_total %llu\n", static_cast<unsigned long long>(round_trips_total_));
  }

  const Options& options_;
  std::uint64_t round_trips_total_ = 0;  // warm-up and measured time, all connections
  std::vector<Connection> connections_;
  int open_ = static_cast<int>(connections_.size());
  int epoll_fd_;
  std::vector<char> pattern_;
  std::vector<std::int64_t> latencies_ns_;
  std::int64_t measure_from_ns_ = 0;
  std::int64_t measure_until_ns_ = 0;
  char buffer_[65536];
};

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  raise_fd_limit(options.connections);
  addrinfo* address = resolve(options);
  std::vector<Connection> connections(static_cast<std::size_t>(options.connections));
  SSL_CTX* tls = options.tls ? SSL_CTX_new(TLS_client_method()) : nullptr;
  if (tls)
    SSL_CTX_set_mode(tls, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  for (Connection& c : connections) {
    c.fd = connect_to(*address);
    if (tls) c.ssl = start_tls(tls, c.fd);
  }
  ::freeaddrinfo(address);
  Client client(options, std::move(connections));
  client.run();
}
