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

#include "asyncio/connections.hpp"
#include "asyncio/detail/stream_transport.hpp"
#include "asyncio/detail/syscall.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/exceptions.hpp"
#include "asyncio/getaddrinfo.hpp"
#include "asyncio/task.hpp"
#include "asyncio/tasks.hpp"

namespace asyncio {

namespace {

using detail::throw_errno;

using ProtocolPtr = std::shared_ptr<StreamReaderProtocol>;

Coro<std::string> read_some(ProtocolPtr t, std::size_t n) {
  t->throw_if_failed();
  if (n == 0) co_return std::string();  // at once, even with nothing buffered (as Python's read(0))
  if (t->read_buffer().empty() && !t->eof()) co_await t->wait_for_data("read");
  t->throw_if_failed();
  detail::ByteBuffer& buffer = t->read_buffer();
  std::string data = buffer.take(std::min(n, buffer.size()));
  t->consumed();
  co_return data;
}

Coro<std::string> read_to_eof(ProtocolPtr t) {
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
Coro<std::string> read_until(ProtocolPtr t, Separators separators) {
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

Coro<std::string> read_line(ProtocolPtr t) {
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
Coro<std::optional<std::string>> next_line(ProtocolPtr t) {
  std::string line = co_await read_line(std::move(t));
  if (line.empty()) co_return std::nullopt;
  co_return line;
}

Coro<std::string> read_exactly(ProtocolPtr t, std::ptrdiff_t size) {
  if (size < 0) throw std::invalid_argument("readexactly size can not be less than zero");
  const auto n = static_cast<std::size_t>(size);
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

Coro<void> drain_writer(ProtocolPtr t) {
  t->throw_if_failed();
  // Python's drain: a closing transport may have lost its connection already; one turn of the
  // loop lets the protocol hear of it.
  if (t->transport()->is_closing() && !t->is_lost()) co_await sleep(std::chrono::seconds(0));
  // Python's _drain_helper: a connection lost before the wait is an error; one lost during it
  // is an error only when it was lost with one (a clean close that sent everything is not).
  t->raise_if_lost();
  co_await t->wait_for_drain();
  t->throw_if_failed();
}

Coro<void> wait_writer_closed(ProtocolPtr t) {
  co_await t->wait_for_close();
  t->throw_if_failed();
}

/// A stream connection's protocol factory.
ProtocolFactory stream_protocol(std::size_t limit) {
  return [limit] { return std::make_shared<StreamReaderProtocol>(limit); };
}

StreamPair stream_pair(const detail::StreamConnection& connection) {
  auto protocol = std::static_pointer_cast<StreamReaderProtocol>(connection.second);
  return {StreamReader(protocol), StreamWriter(protocol)};
}

Coro<StreamPair> open_stream_connection(Coro<detail::StreamConnection> connecting) {
  co_return stream_pair(co_await std::move(connecting));
}

}  // namespace

StreamReader::StreamReader(std::size_t limit)
    : protocol_(std::make_shared<StreamReaderProtocol>(limit)) {}

Coro<std::string> StreamReader::read(std::ptrdiff_t n) {
  if (n < 0) return read_to_eof(protocol_);
  return read_some(protocol_, static_cast<std::size_t>(n));
}

Coro<std::string> StreamReader::readline() { return read_line(protocol_); }

Coro<std::optional<std::string>> StreamReader::anext() { return next_line(protocol_); }

Coro<std::string> StreamReader::readuntil(std::string separator) {
  return read_until(protocol_, std::array<std::string, 1>{std::move(separator)});
}

Coro<std::string> StreamReader::readuntil(std::vector<std::string> separators) {
  return read_until(protocol_, std::move(separators));
}

Coro<std::string> StreamReader::readexactly(std::ptrdiff_t n) { return read_exactly(protocol_, n); }

Coro<void> StreamWriter::drain() { return drain_writer(protocol_); }

Coro<void> StreamWriter::wait_closed() { return wait_writer_closed(protocol_); }

SocketAddress StreamWriter::peername() const { return transport().peer_address(); }

SocketAddress StreamWriter::sockname() const { return transport().local_address(); }

StreamPair open_stream(int fd, std::size_t limit) {
  detail::OwnedFd owned(fd);  // closes fd when there is no running loop, or no memory
  EventLoop& loop = get_running_loop();
  auto protocol = std::make_shared<StreamReaderProtocol>(limit);
  detail::StreamTransport::open(loop, std::move(owned), detail::StreamTransport::Kind::socket,
                                protocol);
  return {StreamReader(protocol), StreamWriter(protocol)};
}

Coro<StreamPair> open_connection(std::string host, std::uint16_t port, std::size_t limit) {
  return open_stream_connection(
      detail::create_connection(stream_protocol(limit), std::move(host), port, {}));
}

Coro<StreamPair> open_connection(std::string host, std::uint16_t port, ConnectionOptions options,
                                 std::size_t limit) {
  return open_stream_connection(
      detail::create_connection(stream_protocol(limit), std::move(host), port, std::move(options)));
}

Coro<StreamPair> open_unix_connection(std::string path, std::size_t limit) {
  return open_stream_connection(
      detail::create_unix_connection(stream_protocol(limit), std::move(path), {}));
}

Coro<StreamPair> open_unix_connection(std::string path, ConnectionOptions options,
                                      std::size_t limit) {
  return open_stream_connection(
      detail::create_unix_connection(stream_protocol(limit), std::move(path), std::move(options)));
}

}  // namespace asyncio
