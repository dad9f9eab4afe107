// libFuzzer harness for StreamReader. The input decides a reader's limit, what kind of reader it
// is, a list of read operations, the data and how it is split into feeds, and where EOF and a
// failure (set_exception) come. A reader task runs the operations on a real loop while a feeder
// feeds the chunks between yields; every result, every exception and what stays buffered is
// checked against ModelReader, a plain model of Python's StreamReader (Lib/asyncio/streams.py).
// A mismatch prints the case and what differed on stderr, and traps.
//
// Input layout (bytes past the end read as 0):
//   limit    0xF0..0xFF: DEFAULT_LIMIT; else 1 + byte % 64
//   flags    byte % 8: 0-4 a reader fed by hand, 5-6 a connection's reader fed by hand, 7 a
//            connection's reader whose data the peer sends through the socket (EOF and the
//            failure are still fed by hand); bit 3: data and separators from "ab\n\r" only
//   ops      1 + byte % 16 operations, each a byte (kind = byte % 6) and its arguments:
//            0 read(n), n = byte % 80; 1 read(); 2 readline(); 3 readuntil(sep) with 1 + byte % 3
//            separator bytes after it, and when byte / 3 is odd a second separator the same way
//            (readuntil of both, Python 3.13's); 4 readexactly(n), n = byte % 80; 5 at_eof()
//   chunks   byte % 17 chunks, each a byte (length = byte % 48, yields after it = byte / 48 % 3)
//            and its data
//   eof      byte % (chunks + 2): EOF comes before that chunk (chunks: after the last; chunks + 1:
//            never)
//   failure  byte % (2 * chunks + 4): set_exception before that chunk, after an EOF there
//            (chunks: after the last; more: never)
//
// When does a read complete? The feeder yields with sleep(0), which queues it behind a reader
// that its feed woke, so after a yield the reader has looked at the buffer. At each such point
// the model must agree that the reader's pending operation waits; when the reader's operation
// returns, the model (which saw the same feeds) must complete it the same way. Through a socket,
// the feeder instead yields until the bytes still in the socket (FIONREAD) have not changed for
// longer than the loop goes without polling, and the model takes exactly the bytes that left
// the socket; it also checks that reading pauses past twice the limit, and resumes.
//
// One deliberate difference from CPython: a read woken by new bytes that set_exception() beats
// to the buffer raises the exception here (CPython's would use the bytes); the model checks the
// failure first whenever a read looks at the buffer.
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <asyncio/asyncio.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
using asyncio::Coro;

// --- The case ------------------------------------------------------------------------------------

struct Op {
  enum Kind : std::uint8_t { read_n, read_all, readline, readuntil, readexactly, at_eof };
  Kind kind = read_n;
  std::size_t n = 0;                    // read_n, readexactly
  std::vector<std::string> separators;  // readuntil: one, or two
};

enum class Mode : std::uint8_t { fed, connection_fed, socket };

struct Chunk {
  std::string data;
  int yields = 1;  // sleep(0)s after feeding it
};

struct Case {
  std::size_t limit = asyncio::DEFAULT_LIMIT;
  Mode mode = Mode::fed;
  std::vector<Op> ops;
  std::vector<Chunk> chunks;
  std::size_t eof_at = 0;      // EOF before chunks[eof_at]; > chunks.size(): never
  std::size_t failure_at = 0;  // set_exception before chunks[failure_at]; > chunks.size(): never
};

/// Reads the input front to back; past its end every byte is 0.
class InputReader {
 public:
  InputReader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  std::uint8_t byte() { return at_ < size_ ? data_[at_++] : 0; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t at_ = 0;
};

Case decode(const std::uint8_t* data, std::size_t size) {
  InputReader in(data, size);
  Case c;
  const std::uint8_t limit = in.byte();
  c.limit = limit >= 0xF0 ? asyncio::DEFAULT_LIMIT : 1 + limit % 64;
  const std::uint8_t flags = in.byte();
  c.mode = flags % 8 < 5 ? Mode::fed : flags % 8 < 7 ? Mode::connection_fed : Mode::socket;
  const bool small_alphabet = flags & 8;
  auto next_char = [&] {
    const std::uint8_t b = in.byte();
    return small_alphabet ? "ab\n\r"[b % 4] : static_cast<char>(b);
  };
  const int op_count = 1 + in.byte() % 16;
  for (int i = 0; i < op_count; ++i) {
    Op op;
    op.kind = static_cast<Op::Kind>(in.byte() % 6);
    if (op.kind == Op::read_n || op.kind == Op::readexactly) op.n = in.byte() % 80;
    if (op.kind == Op::readuntil) {
      bool another = true;
      while (another) {
        const std::uint8_t b = in.byte();
        std::string& separator = op.separators.emplace_back();
        for (int j = 0; j < 1 + b % 3; ++j) separator += next_char();
        another = op.separators.size() < 2 && (b / 3) % 2 == 1;
      }
    }
    c.ops.push_back(std::move(op));
  }
  const std::size_t chunk_count = in.byte() % 17;
  for (std::size_t i = 0; i < chunk_count; ++i) {
    const std::uint8_t b = in.byte();
    Chunk chunk;
    chunk.yields = b / 48 % 3;
    for (int j = 0; j < b % 48; ++j) chunk.data += next_char();
    c.chunks.push_back(std::move(chunk));
  }
  c.eof_at = in.byte() % (chunk_count + 2);
  c.failure_at = in.byte() % (2 * chunk_count + 4);
  return c;
}

// --- Describing it, for a mismatch ------------------------------------------------------------

std::string quoted(std::string_view bytes) {
  std::string out = "\"";
  for (const char ch : bytes) {
    const auto b = static_cast<unsigned char>(ch);
    if (b == '\n') {
      out += "\\n";
    } else if (b == '\r') {
      out += "\\r";
    } else if (b == '"' || b == '\\') {
      out += '\\';
      out += ch;
    } else if (b < 0x20 || b >= 0x7f) {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", b);
      out += hex;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string describe(const Op& op) {
  switch (op.kind) {
    case Op::read_n:
      return "read(" + std::to_string(op.n) + ")";
    case Op::read_all:
      return "read()";
    case Op::readline:
      return "readline()";
    case Op::readuntil: {
      std::string text = "readuntil(";
      for (std::size_t i = 0; i < op.separators.size(); ++i)
        text += (i ? ", " : "") + quoted(op.separators[i]);
      return text + ")";
    }
    case Op::readexactly:
      return "readexactly(" + std::to_string(op.n) + ")";
    case Op::at_eof:
      return "at_eof()";
  }
  return "?";
}

std::string describe(const Case& c) {
  static constexpr const char* modes[] = {"fed by hand", "connection fed by hand",
                                          "connection fed through its socket"};
  std::string out =
      "limit " + std::to_string(c.limit) + ", " + modes[static_cast<int>(c.mode)] + "\n  ops:";
  for (const Op& op : c.ops) out += " " + describe(op);
  out += "\n  feeds:";
  for (std::size_t i = 0; i <= c.chunks.size(); ++i) {
    if (c.eof_at == i) out += " EOF";
    if (c.failure_at == i) out += " set_exception";
    if (i < c.chunks.size())
      out += " " + quoted(c.chunks[i].data) + "+" + std::to_string(c.chunks[i].yields);
  }
  return out;
}

// --- The model -----------------------------------------------------------------------------------

/// How a read ended.
struct Outcome {
  enum Kind : std::uint8_t { value, incomplete, overrun, failed };
  Kind kind = value;
  std::string data;          // value: the bytes; incomplete: IncompleteReadError's partial()
  long long expected = -1;   // incomplete: IncompleteReadError's expected()
  std::size_t consumed = 0;  // overrun: LimitOverrunError's consumed()
  std::string message;       // overrun: LimitOverrunError's what()

  bool operator==(const Outcome&) const = default;
};

std::string describe(const Outcome& o) {
  switch (o.kind) {
    case Outcome::value:
      return "value " + quoted(o.data);
    case Outcome::incomplete:
      return "IncompleteReadError(partial " + quoted(o.data) + ", expected " +
             std::to_string(o.expected) + ")";
    case Outcome::overrun:
      return "LimitOverrunError(consumed " + std::to_string(o.consumed) + ", " + quoted(o.message) +
             ")";
    case Outcome::failed:
      return "the set_exception error";
  }
  return "?";
}

Outcome value(std::string data) {
  Outcome o;
  o.data = std::move(data);
  return o;
}
Outcome incomplete(std::string partial, long long expected) {
  Outcome o;
  o.kind = Outcome::incomplete;
  o.data = std::move(partial);
  o.expected = expected;
  return o;
}
Outcome overrun(std::size_t consumed, std::string message) {
  Outcome o;
  o.kind = Outcome::overrun;
  o.consumed = consumed;
  o.message = std::move(message);
  return o;
}
Outcome failure() {
  Outcome o;
  o.kind = Outcome::failed;
  return o;
}

/// Python's StreamReader as plain code: the buffer as a string, EOF and failure flags, and on a
/// connection whether reading from the socket is paused. step() is what a read does each time
/// it looks at the buffer: complete, giving its outcome, or wait.
class ModelReader {
 public:
  ModelReader(std::size_t limit, bool has_socket) : limit_(limit), has_socket_(has_socket) {}

  std::string buffer;
  bool eof = false;
  bool failed = false;
  bool paused =
      false;  // has_socket_ only: more than 2 * limit_ arrived; not waiting or consumed since

  bool at_eof() const { return eof && buffer.empty(); }

  void feed(std::string_view bytes) {
    buffer += bytes;
    if (has_socket_ && buffer.size() > 2 * limit_) paused = true;
  }

  std::optional<Outcome> step(const Op& op) {
    std::optional<Outcome> outcome = attempt(op);
    if (!outcome) paused = false;  // a reader that waits resumes reading
    return outcome;
  }

  /// The reader's operation was cancelled: what read() took so far is lost.
  void abandon() { taken_.clear(); }

 private:
  std::optional<Outcome> attempt(const Op& op) {
    if (failed) {
      taken_.clear();
      return failure();
    }
    switch (op.kind) {
      case Op::read_n:
        if (op.n == 0) return value("");
        if (buffer.empty() && !eof) return std::nullopt;
        return value(take(std::min(op.n, buffer.size())));
      case Op::read_all:  // read(limit) until one gives nothing
        while (!buffer.empty()) taken_ += take(std::min(limit_, buffer.size()));
        if (!eof) return std::nullopt;
        return value(std::exchange(taken_, {}));
      case Op::readline:
        return readline();
      case Op::readuntil:
        return readuntil(op.separators);
      case Op::readexactly:
        if (buffer.size() >= op.n) return value(take(op.n));
        if (eof) return incomplete(take(buffer.size()), static_cast<long long>(op.n));
        return std::nullopt;
      case Op::at_eof:
        break;
    }
    __builtin_trap();  // at_eof() does not wait: the harness checks it directly
  }

  // The shortest chunk that ends with one of the separators (Python 3.13).
  std::optional<Outcome> readuntil(const std::vector<std::string>& separators) {
    std::size_t match_start = 0, match_end = std::string::npos, longest = 0;
    for (const std::string& separator : separators) {
      longest = std::max(longest, separator.size());
      const std::size_t at = buffer.find(separator);
      if (at != std::string::npos && at + separator.size() < match_end) {
        match_start = at;
        match_end = at + separator.size();
      }
    }
    if (match_end == std::string::npos) {
      // No separator can end within the limit any more.
      if (buffer.size() + 1 > longest && buffer.size() + 1 - longest > limit_) {
        return overrun(buffer.size() + 1 - longest,
                       "Separator is not found, and chunk exceed the limit");
      }
      if (eof) return incomplete(take(buffer.size()), -1);
      return std::nullopt;
    }
    if (match_start > limit_)
      return overrun(match_start, "Separator is found, but chunk is longer than limit");
    return value(take(match_end));
  }

  // readuntil("\n"), except that EOF gives the partial line and an overrun drops the line: up
  // to its newline when that is buffered, else all of the buffer.
  std::optional<Outcome> readline() {
    std::optional<Outcome> outcome = readuntil({"\n"});
    if (!outcome) return std::nullopt;
    if (outcome->kind == Outcome::incomplete) return value(outcome->data);
    if (outcome->kind == Outcome::overrun) {
      const bool newline_there =
          outcome->consumed < buffer.size() && buffer[outcome->consumed] == '\n';
      take(newline_there ? outcome->consumed + 1 : buffer.size());
    }
    return outcome;
  }

  std::string take(std::size_t n) {
    std::string bytes = buffer.substr(0, n);
    buffer.erase(0, n);
    if (paused && buffer.size() <= limit_) paused = false;
    return bytes;
  }

  std::size_t limit_;
  bool has_socket_;
  std::string taken_;  // read(): the blocks taken so far
};

// --- Running it ----------------------------------------------------------------------------------

/// What set_exception() fails the reader with.
struct InjectedError : std::runtime_error {
  InjectedError() : std::runtime_error("injected") {}
};

class Harness {
 public:
  explicit Harness(const Case& c) : case_(c), model_(c.limit, c.mode != Mode::fed) {}

  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;
  ~Harness() {
    if (peer_ >= 0) ::close(peer_);
  }

  /// Runs the case on the running loop.
  Coro<void> run() {
    open_reader();
    auto reading = asyncio::create_task(read_all_ops());
    co_await feed_all();
    if (!reading.done()) {
      reading.cancel();
      try {
        co_await reading;
      } catch (const asyncio::CancelledError&) {
      }
      if (!reading.cancelled()) mismatch("the reader task was not cancelled");
      model_.abandon();
      pending_ = nullptr;
    }
    co_await check_what_is_left();
  }

 private:
  void open_reader() {
    if (case_.mode == Mode::fed) {
      reader_.emplace(case_.limit);
      return;
    }
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
      std::perror("socketpair");
      __builtin_trap();
    }
    socket_ = fds[0];
    peer_ = fds[1];
    reader_.emplace(asyncio::open_stream(socket_, case_.limit).first);
  }

  // The reader task: each operation in turn, checked against the model.
  Coro<void> read_all_ops() {
    for (const Op& op : case_.ops) {
      if (op.kind == Op::at_eof) {
        sync_with_socket();
        if (reader_->at_eof() != model_.at_eof())
          mismatch("at_eof() is " + std::to_string(reader_->at_eof()));
        continue;
      }
      sync_with_socket();
      std::optional<Outcome> expected = model_.step(op);
      pending_ = &op;
      decided_at_once_ = expected.has_value();
      const Outcome actual = co_await perform(op);
      pending_ = nullptr;
      sync_with_socket();
      if (!expected) expected = model_.step(op);
      if (!expected) mismatch(describe(op) + " gave " + describe(actual) + " but the model waits");
      if (actual != *expected)
        mismatch(describe(op) + " gave " + describe(actual) + ", the model " + describe(*expected));
      check_state("after " + describe(op));
    }
  }

  Coro<Outcome> perform(const Op& op) {
    try {
      switch (op.kind) {
        case Op::read_n:
          co_return value(co_await reader_->read(static_cast<std::ptrdiff_t>(op.n)));
        case Op::read_all:
          co_return value(co_await reader_->read());
        case Op::readline:
          co_return value(co_await reader_->readline());
        case Op::readuntil:
          if (op.separators.size() == 1)
            co_return value(co_await reader_->readuntil(op.separators[0]));
          co_return value(co_await reader_->readuntil(op.separators));
        case Op::readexactly:
          co_return value(co_await reader_->readexactly(op.n));
        case Op::at_eof:
          break;
      }
    } catch (const asyncio::IncompleteReadError& error) {
      co_return incomplete(error.partial(), error.expected());
    } catch (const asyncio::LimitOverrunError& error) {
      co_return overrun(error.consumed(), error.what());
    } catch (const InjectedError&) {
      co_return failure();
    } catch (const std::exception& error) {
      mismatch(describe(op) + " raised " + error.what());
    }
    __builtin_trap();
  }

  // The feeder: EOF, the failure and the chunks, in the case's order, after the reader began.
  Coro<void> feed_all() {
    co_await settle(1);
    for (std::size_t i = 0; i <= case_.chunks.size(); ++i) {
      if (case_.eof_at == i) {
        sync_with_socket();
        reader_->feed_eof();
        model_.eof = true;
        co_await settle(1);
      }
      if (case_.failure_at == i) {
        reader_->set_exception(std::make_exception_ptr(InjectedError()));
        model_.failed = true;
        co_await settle(1);
      }
      if (i < case_.chunks.size()) {
        feed(case_.chunks[i].data);
        co_await settle(case_.chunks[i].yields);
      }
    }
    co_await settle(1);
  }

  void feed(const std::string& data) {
    if (case_.mode == Mode::socket) {
      if (!data.empty() && ::send(peer_, data.data(), data.size(), MSG_NOSIGNAL) !=
                               static_cast<ssize_t>(data.size())) {
        std::perror("send");
        __builtin_trap();
      }
      in_socket_ += data;
      return;
    }
    if (model_.eof) {
      try {
        reader_->feed_data(data);
        mismatch("feed_data(" + quoted(data) + ") after feed_eof did not raise");
      } catch (const asyncio::RuntimeError& error) {
        if (std::string_view(error.what()) != "feed_data after feed_eof")
          mismatch(std::string("feed_data raised ") + error.what());
      }
    } else {
      reader_->feed_data(data);
      model_.feed(data);
    }
    check_state("after feeding " + quoted(data));
  }

  /// Lets the reader run: `yields` sleep(0)s, or through a socket, until the bytes in it have
  /// not changed for longer than the loop goes without polling. Then checks the reader.
  Coro<void> settle(int yields) {
    if (yields == 0) co_return;
    if (case_.mode == Mode::socket) {
      std::size_t in_socket = bytes_in_socket();
      for (unsigned unchanged = 0; unchanged <= asyncio::EventLoop::poll_interval + 1;) {
        co_await asyncio::sleep(0s);
        const std::size_t now = bytes_in_socket();
        unchanged = now == in_socket ? unchanged + 1 : 0;
        in_socket = now;
      }
    } else {
      for (int i = 0; i < yields; ++i) co_await asyncio::sleep(0s);
    }
    check_waiting("after the feeder yielded");
  }

  /// The reader has looked at the buffer: if it is in an operation, the model must wait too.
  void check_waiting(const std::string& when) {
    sync_with_socket();
    if (pending_) {
      if (decided_at_once_)
        mismatch(describe(*pending_) + " waits " + when + " but the model completed it at once");
      if (std::optional<Outcome> outcome = model_.step(*pending_)) {
        mismatch(describe(*pending_) + " waits " + when + " but the model gives " +
                 describe(*outcome));
      }
    }
    check_state(when);
    if (case_.mode == Mode::socket && !model_.eof && !model_.paused && !in_socket_.empty()) {
      mismatch(std::to_string(in_socket_.size()) + " bytes stay in the socket " + when +
               " though reading is not paused");
    }
  }

  void check_state(const std::string& when) {
    if (reader_->buffered() != model_.buffer.size()) {
      mismatch(std::to_string(reader_->buffered()) + " bytes buffered " + when +
               ", the model has " + quoted(model_.buffer));
    }
    if (reader_->at_eof() != model_.at_eof())
      mismatch("at_eof() is " + std::to_string(reader_->at_eof()) + " " + when);
    if ((reader_->exception() != nullptr) != model_.failed)
      mismatch("exception() disagrees " + when);
  }

  /// Through a socket: the model takes the bytes that left the socket since it last looked.
  void sync_with_socket() {
    if (case_.mode != Mode::socket) return;
    const std::size_t in_socket = bytes_in_socket();
    if (in_socket > in_socket_.size()) mismatch("more bytes in the socket than were sent");
    const std::size_t arrived = in_socket_.size() - in_socket;
    if (arrived == 0) return;
    if (model_.eof) mismatch("the socket was read after feed_eof");
    if (model_.paused) mismatch("the socket was read while reading was paused");
    model_.feed(std::string_view(in_socket_).substr(0, arrived));
    in_socket_.erase(0, arrived);
  }

  std::size_t bytes_in_socket() const {
    int n = 0;
    if (::ioctl(socket_, FIONREAD, &n) != 0) {
      std::perror("ioctl(FIONREAD)");
      __builtin_trap();
    }
    return static_cast<std::size_t>(n);
  }

  /// With EOF fed, read() must give exactly what the model holds (or raise its failure).
  Coro<void> check_what_is_left() {
    sync_with_socket();
    if (!model_.eof) {
      reader_->feed_eof();
      model_.eof = true;
    }
    Op read_all;
    read_all.kind = Op::read_all;
    const Outcome actual = co_await perform(read_all);
    const Outcome expected = *model_.step(read_all);
    if (actual != expected)
      mismatch("at the end read() gave " + describe(actual) + ", the model " + describe(expected));
  }

  [[noreturn]] void mismatch(const std::string& what) const {
    std::fprintf(stderr, "StreamReader mismatch: %s\n  case: %s\n", what.c_str(),
                 describe(case_).c_str());
    __builtin_trap();
  }

  const Case& case_;
  ModelReader model_;
  std::optional<asyncio::StreamReader> reader_;
  int socket_ = -1;               // a connection's reader: our end, owned by the connection
  int peer_ = -1;                 // a connection's reader: the peer's end, owned by the harness
  std::string in_socket_;         // Mode::socket: the bytes sent that the model has not taken yet
  const Op* pending_ = nullptr;   // the operation the reader task is in, while it is suspended
  bool decided_at_once_ = false;  // the model completed *pending_ when it began
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Case c = decode(data, size);
  auto loop = asyncio::new_event_loop();
  Harness harness(c);
  loop->run_until_complete(harness.run());
  return 0;
}
