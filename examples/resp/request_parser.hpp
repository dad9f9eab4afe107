// The request side of Redis' protocol (RESP2), read as redis-server 7 reads it: a request is
// either an array of bulk strings ("*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n", what clients send) or
// an inline command, one line of words ("GET key\r\n", what a person types into nc), with
// redis-cli's quoting ("..." with \n \r \t \b \a \\ \" \xHH escapes, '...' with \').
//
// Incremental: bytes may arrive split anywhere. The caller keeps the bytes of the request it
// is reading and calls parse() with them (and whatever came after) each time more arrive; the
// parser remembers how far it got, so each byte is looked at about once however the request
// is split, and the caller may move the bytes between calls. A complete request's arguments
// are views of the caller's bytes (inline ones, which may be unescaped, of the parser's own
// copies), valid until the caller changes or moves them.
//
// Bounded, with Redis' limits: a bulk string of at most 512 MB (proto-max-bulk-len), an array
// of at most 2^31 - 1 elements, and an inline line or a "*N" / "$N" line of at most 64 KiB
// (PROTO_INLINE_MAX_SIZE). A longer line is an error wherever its end is, so that the same
// bytes get the same answer however they are split (redis-server looks only at lines whose end
// has not arrived yet, so whether it accepts a line a little over 64 KiB depends on its reads).
// Nothing is reserved from a declared length: memory grows only with bytes that actually arrived
// (an argument's place and view cost 32 bytes, and it takes at least 6 bytes of input,
// "$0\r\n\r\n"). Malformed input is an error with redis-server's words ("Protocol error:
// invalid bulk length"), after which the connection is to be closed.
//
// Where redis-server is looser, this parser is as loose, so that the same bytes get the same
// answers: it finds a line's end by its '\r' alone (the byte after it is skipped unread), and
// skips the two bytes after a bulk string unread. One difference: a NUL byte ends an inline
// line's words here, where redis-server waits for a newline that its C string search cannot
// see past the NUL.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "integer.hpp"

namespace resp {

struct ParserLimits {
  std::size_t max_bulk_length = 512 * 1024 * 1024;  // proto-max-bulk-len
  std::int64_t max_array_length = std::numeric_limits<std::int32_t>::max();
  std::size_t max_inline_length = 64 * 1024;  // an unfinished inline, "*N" or "$N" line
};

class RequestParser {
 public:
  enum class Status : std::uint8_t {
    complete,    // arguments() and consumed() describe the request (no arguments: skip it)
    incomplete,  // call again with the same bytes and more after them
    error,       // malformed: answer "-ERR " + error(), then close; parse() stays in error
  };

  explicit RequestParser(ParserLimits limits = {}) : limits_(limits) {}

  /// Reads the request at the front of `input`: the unconsumed bytes, starting with those of
  /// the request an earlier call left incomplete, if any.
  Status parse(std::string_view input) {
    if (!error_.empty()) return Status::error;
    if (!in_array_) {
      if (input.empty()) return Status::incomplete;
      if (input.front() != '*') return parse_inline(input);
      const std::size_t line_end = find_line_end(input, 0);
      if ((line_end == kNotFound ? input.size() : line_end) > limits_.max_inline_length)
        return fail("Protocol error: too big mbulk count string");
      if (line_end == kNotFound) return Status::incomplete;
      if (line_end + 2 > input.size()) return Status::incomplete;  // the byte after '\r' too
      const auto count = parse_integer(input.substr(1, line_end - 1));
      if (!count || *count > limits_.max_array_length)
        return fail("Protocol error: invalid multibulk length");
      scanned_ = line_end + 2;
      spans_.clear();
      if (*count <= 0) return finish_array(input);  // "*0" and "*-1": nothing to run
      elements_left_ = *count;
      in_array_ = true;
    }
    while (elements_left_ > 0) {
      if (!bulk_length_known_) {
        const std::size_t line_end = find_line_end(input, scanned_);
        if ((line_end == kNotFound ? input.size() : line_end) - scanned_ >
            limits_.max_inline_length)
          return fail("Protocol error: too big bulk count string");
        if (line_end == kNotFound) return Status::incomplete;
        if (line_end + 2 > input.size()) return Status::incomplete;
        if (input[scanned_] != '$') {
          return fail(std::string("Protocol error: expected '$', got '") + input[scanned_] + "'");
        }
        const auto length = parse_integer(input.substr(scanned_ + 1, line_end - scanned_ - 1));
        if (!length || *length < 0 || static_cast<std::uint64_t>(*length) > limits_.max_bulk_length)
          return fail("Protocol error: invalid bulk length");
        bulk_length_ = static_cast<std::size_t>(*length);
        bulk_length_known_ = true;
        scanned_ = line_end + 2;
      }
      if (input.size() - scanned_ < bulk_length_ + 2) return Status::incomplete;
      spans_.emplace_back(scanned_, bulk_length_);
      scanned_ += bulk_length_ + 2;  // the string and the two bytes after it, unread
      bulk_length_known_ = false;
      --elements_left_;
    }
    return finish_array(input);
  }

  /// After Status::complete: the command and its arguments (empty for a request to skip).
  std::span<const std::string_view> arguments() const noexcept { return arguments_; }
  /// After Status::complete: how many bytes the request took from the front of the input.
  std::size_t consumed() const noexcept { return consumed_; }
  /// After Status::error: what was wrong, in redis-server's words.
  const std::string& error() const noexcept { return error_; }
  /// Bytes of the unfinished request already read (they stay at the front of the input).
  std::size_t scanned() const noexcept { return in_array_ ? scanned_ : 0; }

 private:
  static constexpr std::size_t kNotFound = static_cast<std::size_t>(-1);

  /// Where the line starting at `from` ends: its '\r', as redis-server looks for it.
  static std::size_t find_line_end(std::string_view input, std::size_t from) {
    const void* found = std::memchr(input.data() + from, '\r', input.size() - from);
    return found ? static_cast<std::size_t>(static_cast<const char*>(found) - input.data())
                 : kNotFound;
  }

  Status finish_array(std::string_view input) {
    arguments_.clear();
    for (const auto& [offset, length] : spans_) arguments_.push_back(input.substr(offset, length));
    consumed_ = scanned_;
    scanned_ = 0;
    in_array_ = false;
    return Status::complete;
  }

  Status fail(std::string message) {
    error_ = std::move(message);
    in_array_ = false;
    return Status::error;
  }

  Status parse_inline(std::string_view input) {
    const void* newline = std::memchr(input.data(), '\n', input.size());
    const std::size_t end =
        newline ? static_cast<std::size_t>(static_cast<const char*>(newline) - input.data())
                : input.size();
    if (end > limits_.max_inline_length) return fail("Protocol error: too big inline request");
    if (!newline) return Status::incomplete;
    std::string_view line = input.substr(0, end);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!split_words(line)) return fail("Protocol error: unbalanced quotes in request");
    arguments_.clear();
    for (std::size_t i = 0; i < word_count_; ++i) arguments_.push_back(words_[i]);
    consumed_ = end + 1;
    return Status::complete;
  }

  static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
  }
  static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  /// Splits an inline line into words_ (the first word_count_ of them) as redis-server's
  /// sdssplitargs does; false for unbalanced quotes, or a closing quote followed by more.
  bool split_words(std::string_view line) {
    if (const std::size_t nul = line.find('\0'); nul != std::string_view::npos)
      line = line.substr(0, nul);
    word_count_ = 0;
    std::size_t i = 0;
    const auto at = [&](std::size_t j) { return j < line.size() ? line[j] : '\0'; };
    for (;;) {
      while (i < line.size() && is_space(line[i])) ++i;
      if (i == line.size()) return true;
      if (word_count_ == words_.size()) words_.emplace_back();
      std::string& word = words_[word_count_++];
      word.clear();
      enum { bare, double_quoted, single_quoted } mode = bare;
      for (bool done = false; !done;) {
        const char c = at(i);
        if (mode == double_quoted) {
          if (c == '\\' && at(i + 1) == 'x' && hex_value(at(i + 2)) >= 0 &&
              hex_value(at(i + 3)) >= 0) {
            word += static_cast<char>(hex_value(at(i + 2)) * 16 + hex_value(at(i + 3)));
            i += 3;
          } else if (c == '\\' && at(i + 1) != '\0') {
            ++i;
            switch (line[i]) {
              case 'n':
                word += '\n';
                break;
              case 'r':
                word += '\r';
                break;
              case 't':
                word += '\t';
                break;
              case 'b':
                word += '\b';
                break;
              case 'a':
                word += '\a';
                break;
              default:
                word += line[i];
            }
          } else if (c == '"') {
            if (at(i + 1) != '\0' && !is_space(at(i + 1))) return false;
            done = true;
          } else if (c == '\0') {
            return false;
          } else {
            word += c;
          }
        } else if (mode == single_quoted) {
          if (c == '\\' && at(i + 1) == '\'') {
            ++i;
            word += '\'';
          } else if (c == '\'') {
            if (at(i + 1) != '\0' && !is_space(at(i + 1))) return false;
            done = true;
          } else if (c == '\0') {
            return false;
          } else {
            word += c;
          }
        } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\0') {
          done = true;
        } else if (c == '"') {
          mode = double_quoted;
        } else if (c == '\'') {
          mode = single_quoted;
        } else {
          word += c;
        }
        if (i < line.size()) ++i;
      }
    }
  }

  ParserLimits limits_;
  // The array being read: its elements' places as (offset, length) from the request's first
  // byte, which stay right when the caller moves the bytes. While in_array_, scanned_ bytes
  // are read, elements_left_ > 0 are still to come, and the next one's length is bulk_length_
  // once its "$N" line is read (bulk_length_known_).
  bool in_array_ = false;
  bool bulk_length_known_ = false;
  std::size_t scanned_ = 0;
  std::int64_t elements_left_ = 0;
  std::size_t bulk_length_ = 0;
  std::vector<std::pair<std::size_t, std::size_t>> spans_;
  // An inline request's words, unescaped: the first word_count_ are this request's (the rest
  // are kept for their memory).
  std::vector<std::string> words_;
  std::size_t word_count_ = 0;
  std::vector<std::string_view> arguments_;
  std::size_t consumed_ = 0;
  std::string error_;  // non-empty once the input was malformed
};

}  // namespace resp
