// libFuzzer harness for the RESP server's request parser and commands (examples/resp/). The
// input is a stream of request bytes; it is parsed twice, once whole and once fed in pieces the
// way a connection receives it (appended to a buffer, complete requests taken off its front,
// the rest moved to new memory now and then), and the two parses must see the same requests,
// the same arguments and the same error at the same place. Each request is run on a keyspace
// (with a clock that only the harness advances), and both runs must give the same replies byte
// for byte. Along the way: a complete request consumed at least one byte and no more than it was
// given, an array's arguments lie inside the bytes given, an error is a "Protocol error: ..."
// that stays, and every reply starts with a RESP type byte. A failed check prints what
// differed and traps.
//
// Input layout:
//   byte 0   the pieces: 1 + byte % 64 bytes each; when byte >= 64, pieces of 1 byte and of
//            that size alternate
//   byte 1   bit 0: the parser's limits small (bulk strings of 64 bytes, arrays of 16
//            elements, lines of 32 bytes), so that they are reached; otherwise redis-server's
//   rest     the bytes a client sends
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "resp/commands.hpp"
#include "resp/keyspace.hpp"
#include "resp/request_parser.hpp"

namespace {

/// The harness's clock: advanced by one millisecond per command run, the same in both runs.
std::int64_t fake_now = 0;
std::int64_t fake_clock() { return fake_now; }

[[noreturn]] void mismatch(const std::string& what) {
  std::fprintf(stderr, "RESP mismatch: %s\n", what.c_str());
  __builtin_trap();
}

/// What one run saw: each request's arguments, the error if any, and every reply.
struct Transcript {
  std::vector<std::vector<std::string>> requests;
  std::string error;
  std::string replies;
  bool closed = false;  // QUIT or the error: nothing after it is read
};

/// Parses what `buffer` holds from its front, runs each complete request, and removes it.
void take_requests(resp::RequestParser& parser, std::string& buffer,
                   resp::CommandExecutor& executor, resp::Keyspace& keyspace, Transcript& seen) {
  while (!seen.closed && !buffer.empty()) {
    const auto status = parser.parse(buffer);
    if (parser.scanned() > buffer.size()) mismatch("scanned past the bytes given");
    if (status == resp::RequestParser::Status::incomplete) return;
    if (status == resp::RequestParser::Status::error) {
      seen.error = parser.error();
      if (!seen.error.starts_with("Protocol error: ")) mismatch("error '" + seen.error + "'");
      if (parser.parse(buffer) != resp::RequestParser::Status::error)
        mismatch("the parser left its error state");
      seen.closed = true;
      return;
    }
    if (parser.consumed() == 0 || parser.consumed() > buffer.size())
      mismatch("consumed " + std::to_string(parser.consumed()) + " of " +
               std::to_string(buffer.size()) + " bytes");
    std::vector<std::string>& request = seen.requests.emplace_back();
    const bool inline_request = buffer.front() != '*';
    for (const std::string_view argument : parser.arguments()) {
      const bool inside = argument.data() >= buffer.data() &&
                          argument.data() + argument.size() <= buffer.data() + parser.consumed();
      if (!inline_request && !inside) mismatch("an argument outside the request's bytes");
      request.emplace_back(argument);
    }
    if (!parser.arguments().empty()) {
      const std::size_t before = seen.replies.size();
      ++fake_now;
      if (executor.execute(parser.arguments(), seen.replies) == resp::CommandExecutor::After::close)
        seen.closed = true;
      if (seen.replies.size() == before ||
          std::string_view("+-:$*").find(seen.replies[before]) == std::string_view::npos)
        mismatch("a reply that is no RESP reply: " + seen.replies.substr(before, 40));
    }
    buffer.erase(0, parser.consumed());
  }
  keyspace.sweep(8);
}

Transcript run(std::string_view stream, const resp::ParserLimits& limits, std::size_t piece,
               bool alternate) {
  fake_now = 1'000'000;
  resp::Keyspace keyspace(fake_clock);
  resp::CommandExecutor executor(keyspace);
  resp::RequestParser parser(limits);
  Transcript seen;
  std::string buffer;
  bool small_piece = false;
  for (std::size_t at = 0, feeds = 0; at < stream.size() && !seen.closed; ++feeds) {
    const std::size_t size = alternate && (small_piece = !small_piece) ? 1 : piece;
    buffer.append(stream.substr(at, size));
    at += size;
    if (feeds % 3 == 2) buffer = std::string(buffer);  // the bytes move, as a connection's may
    take_requests(parser, buffer, executor, keyspace, seen);
  }
  return seen;
}

std::string describe(const Transcript& seen) {
  std::string text = std::to_string(seen.requests.size()) + " requests";
  for (const auto& request : seen.requests) {
    text += "\n  [";
    for (const std::string& argument : request) text += " '" + argument.substr(0, 20) + "'";
    text += " ]";
  }
  return text + "\n  error: '" + seen.error + "'";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t piece = 1 + data[0] % 64;
  const bool alternate = data[0] >= 64;
  resp::ParserLimits limits;
  if (data[1] & 1)
    limits = {.max_bulk_length = 64, .max_array_length = 16, .max_inline_length = 32};
  const std::string_view stream(reinterpret_cast<const char*>(data) + 2, size - 2);

  const Transcript whole = run(stream, limits, stream.size() + 1, false);
  const Transcript pieces = run(stream, limits, piece, alternate);
  if (whole.requests != pieces.requests || whole.error != pieces.error)
    mismatch("whole: " + describe(whole) + "\nin pieces: " + describe(pieces));
  if (whole.replies != pieces.replies) mismatch("the replies differ");
  return 0;
}
