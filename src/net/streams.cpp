// StreamReader's and StreamWriter's coroutines (CPython's streams.py), and opening connections.
// Each coroutine takes the transport by value, so it keeps the connection alive while it runs.
#include "asyncio/streams.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "asyncio/detail/syscall.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/exceptions.hpp"
#include "asyncio/getaddrinfo.hpp"
#include "asyncio/task.hpp"

namespace asyncio {

namespace {

using detail::throw_errno;

using TransportPtr = std::shared_ptr<detail::StreamTransport>;

Coro<std::string> read_some(TransportPtr t, std::size_t n) {
  t->throw_if_failed();
  if (n == 0) co_return std::string();  // at once, even with nothing buffered (as Python's read(0))
  if (t->read_buffer().empty() && !t->eof()) co_await t->wait_for_data("read");
  t->throw_if_failed();
  detail::ByteBuffer& buffer = t->read_buffer();
  std::string data = buffer.take(std::min(n, buffer.size()));
  t->consumed();
  co_return data;
}

Coro<std::string> read_to_eof(TransportPtr t) {
  std::string all;
  for (;;) {
    std::string block = co_await read_some(t, t->limit());
    if (block.empty()) co_return all;
    all += block;
  }
}

// CPython 3.13's readuntil: scan only the bytes not scanned yet, take the shortest chunk that
// ends with any of the separators, and give up once none could end within the limit.
// `Separators` is a std::array of one (readline, readuntil(separator): no allocation) or a
// std::vector.
template <class Separators>
Coro<std::string> read_until(TransportPtr t, Separators separators) {
  if (separators.empty())
    throw std::invalid_argument("Separator should contain at least one element");
  std::size_t shortest = separators.front().size(), longest = 0;
  for (const std::string& separator : separators) {
    shortest = std::min(shortest, separator.size());
    longest = std::max(longest, separator.size());
  }
  if (shortest == 0) throw std::invalid_argument("Separator should be at least one-byte string");
  detail::ByteBuffer& buffer = t->read_buffer();
  std::size_t offset = 0;
  std::size_t match_start = 0, match_end = 0;  // match_end 0: no match yet
  for (;;) {
    t->throw_if_failed();
    const std::string_view bytes = buffer.view();
    if (bytes.size() >= offset + shortest) {
      for (const std::string& separator : separators) {
        const std::size_t at = bytes.find(separator, offset);
        if (at != std::string_view::npos && (match_end == 0 || at + separator.size() < match_end)) {
          match_start = at;
          match_end = at + separator.size();
        }
      }
      if (match_end != 0) break;
      offset = bytes.size() + 1 > longest ? bytes.size() + 1 - longest : 0;
      if (offset > t->limit())
        throw LimitOverrunError("Separator is not found, and chunk exceed the limit", offset);
    }
    if (t->eof()) {
      std::string partial = buffer.take(buffer.size());
      t->consumed();
      throw IncompleteReadError(std::move(partial), -1);
    }
    co_await t->wait_for_data("readuntil");
  }
  if (match_start > t->limit())
    throw LimitOverrunError("Separator is found, but chunk is longer than limit", match_start);
  std::string chunk = buffer.take(match_end);
  t->consumed();
  co_return chunk;
}

Coro<std::string> read_line(TransportPtr t) {
  try {
    // A variable: g++ 12 destroys an aggregate temporary in a co_await expression twice.
    std::array<std::string, 1> newline{"\n"};
    co_return co_await read_until(t, std::move(newline));
  } catch (const IncompleteReadError& error) {
    co_return error.partial();
  } catch (const LimitOverrunError& error) {
    // Python drops the line: up to the newline when it is buffered, else everything buffered.
    detail::ByteBuffer& buffer = t->read_buffer();
    const std::string_view bytes = buffer.view();
    const bool newline_next = error.consumed() < bytes.size() && bytes[error.consumed()] == '\n';
    buffer.consume(newline_next ? error.consumed() + 1 : buffer.size());
    t->consumed();
    throw;
  }
}

/// Async iteration's step: a line, or nullopt at EOF.
Coro<std::optional<std::string>> next_line(TransportPtr t) {
  std::string line = co_await read_line(std::move(t));
  if (line.empty()) co_return std::nullopt;
  co_return line;
}

Coro<std::string> read_exactly(TransportPtr t, std::size_t n) {
  detail::ByteBuffer& buffer = t->read_buffer();
  for (;;) {
    t->throw_if_failed();
    if (buffer.size() >= n) break;
    if (t->eof()) {
      std::string partial = buffer.take(buffer.size());
      t->consumed();
      throw IncompleteReadError(std::move(partial), static_cast<long long>(n));
    }
    co_await t->wait_for_data("readexactly");
  }
  std::string data = buffer.take(n);
  t->consumed();
  co_return data;
}

Coro<void> drain_writer(TransportPtr t) {
  t->throw_if_failed();
  co_await t->wait_for_drain();
  t->raise_if_lost();
}

Coro<void> wait_writer_closed(TransportPtr t) {
  co_await t->wait_for_close();
  t->throw_if_failed();
}

/// Connects a new non-blocking socket of `family` to `address`; returns the open stream.
Coro<StreamPair> connect_to(int family, int protocol, SocketAddress address, std::size_t limit) {
  detail::OwnedFd socket(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol));
  if (socket.get() < 0) throw_errno(errno, "socket");
  co_await get_running_loop().sock_connect(socket.get(), address);
  if (family != AF_UNIX) {
    const int one = 1;
    ::setsockopt(socket.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  StreamPair pair = open_stream(socket.release(), limit);
  co_return pair;
}

}  // namespace

StreamReader::StreamReader(std::size_t limit)
    : transport_(std::make_shared<detail::StreamTransport>(limit)) {}

Coro<std::string> StreamReader::read(std::ptrdiff_t n) {
  if (n < 0) return read_to_eof(transport_);
  return read_some(transport_, static_cast<std::size_t>(n));
}

Coro<std::string> StreamReader::readline() { return read_line(transport_); }

Coro<std::optional<std::string>> StreamReader::anext() { return next_line(transport_); }

Coro<std::string> StreamReader::readuntil(std::string separator) {
  return read_until(transport_, std::array<std::string, 1>{std::move(separator)});
}

Coro<std::string> StreamReader::readuntil(std::vector<std::string> separators) {
  return read_until(transport_, std::move(separators));
}

Coro<std::string> StreamReader::readexactly(std::size_t n) { return read_exactly(transport_, n); }

Coro<void> StreamWriter::drain() { return drain_writer(transport_); }

Coro<void> StreamWriter::wait_closed() { return wait_writer_closed(transport_); }

SocketAddress StreamWriter::peername() const { return transport_->peer_address(); }

SocketAddress StreamWriter::sockname() const { return transport_->local_address(); }

std::any StreamWriter::get_extra_info(std::string_view name) const {
  if (name == "peername") return peername();
  if (name == "sockname") return sockname();
  if (name == "socket") return socket();
  return {};
}

StreamPair open_stream(int fd, std::size_t limit) {
  detail::OwnedFd owned(fd);  // closes fd when there is no running loop, or no memory
  EventLoop& loop = get_running_loop();
  auto transport = std::make_shared<detail::StreamTransport>(loop, std::move(owned), limit);
  return {StreamReader(transport), StreamWriter(transport)};
}

Coro<StreamPair> open_connection(std::string host, std::uint16_t port, std::size_t limit) {
  const std::vector<AddressInfo> addresses =
      co_await getaddrinfo(host, port, AF_UNSPEC, SOCK_STREAM);
  if (addresses.empty())
    throw std::system_error(EADDRNOTAVAIL, std::generic_category(),
                            "getaddrinfo() returned empty list");
  // Python's create_connection: try each address in turn; report every failure if all fail.
  std::vector<std::system_error> failures;
  for (const AddressInfo& info : addresses) {
    try {
      co_return co_await connect_to(info.family, info.protocol, info.address, limit);
    } catch (const std::system_error& error) {
      failures.emplace_back(error.code(), "connect to " + info.address.to_string());
    }
  }
  if (failures.size() == 1) throw failures.front();
  std::string message = "Multiple exceptions:";
  for (const std::system_error& failure : failures)
    message += std::string(" [") + failure.what() + "]";
  throw std::system_error(failures.front().code(), message);
}

Coro<StreamPair> open_unix_connection(std::string path, std::size_t limit) {
  co_return co_await connect_to(AF_UNIX, 0, SocketAddress::unix_path(path), limit);
}

}  // namespace asyncio
