// The commands of the RESP server, run on a Keyspace, each appending its reply to the
// connection's output: PING, ECHO, GET, SET (EX, PX, EXAT, PXAT, NX, XX, KEEPTTL, GET), DEL,
// EXISTS, INCR, MGET, MSET, EXPIRE (NX, XX, GT, LT), TTL, LPUSH, RPUSH, LPOP, RPOP (with a
// count), LLEN, LRANGE, CONFIG GET (save and appendonly, what redis-benchmark asks) and QUIT. Each
// answers as redis-server 7.0 does, errors worded as it words them: an unknown command, the
// wrong number of arguments, WRONGTYPE, a value that is not an integer. Anything else is an
// unknown command; that includes COMMAND DOCS, which redis-cli sends when it starts an
// interactive session, and whose error makes redis-cli fall back to its built-in help.
#pragma once

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "integer.hpp"
#include "keyspace.hpp"
#include "reply.hpp"

namespace resp {

using Arguments = std::span<const std::string_view>;

inline constexpr std::string_view kWrongType =
    "WRONGTYPE Operation against a key holding the wrong kind of value";
inline constexpr std::string_view kNotAnInteger = "ERR value is not an integer or out of range";
inline constexpr std::string_view kSyntaxError = "ERR syntax error";

/// ASCII case-insensitive equality with a lower-case `lower`.
inline bool equals_lower(std::string_view text, std::string_view lower) {
  if (text.size() != lower.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if ((c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c) != lower[i]) return false;
  }
  return true;
}

/// Glob matching with '*' and '?' (CONFIG GET's patterns), case-insensitive.
inline bool glob_matches(std::string_view pattern, std::string_view text) {
  std::size_t p = 0, t = 0, star = std::string_view::npos, resume = 0;
  const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || lower(pattern[p]) == lower(text[t]))) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

class CommandExecutor {
 public:
  enum class After : std::uint8_t { next, close };  // close: QUIT, once its reply is sent

  explicit CommandExecutor(Keyspace& keyspace) : keyspace_(keyspace) {}

  /// Runs one request (its first argument the command's name, any case) and appends its reply.
  After execute(Arguments args, std::string& out) {
    const std::string_view name = args[0];
    for (const Command& command : kCommands) {
      if (!equals_lower(name, command.name)) continue;
      const auto argc = static_cast<std::ptrdiff_t>(args.size());
      if (command.arity > 0 ? argc != command.arity : argc < -command.arity) {
        wrong_arity(command.name, out);
        return After::next;
      }
      (this->*command.run)(args, out);
      return command.run == &CommandExecutor::quit ? After::close : After::next;
    }
    unknown_command(args, out);
    return After::next;
  }

 private:
  struct Command {
    std::string_view name;
    int arity;  // redis-server's: N exactly N arguments (the name included), -N at least N
    void (CommandExecutor::*run)(Arguments, std::string&);
  };
  static const std::array<Command, 19> kCommands;  // defined below, once its members exist

  static void wrong_arity(std::string_view full_name, std::string& out) {
    std::string message = "ERR wrong number of arguments for '";
    message += full_name;
    message += "' command";
    reply::error(out, message);
  }

  /// redis-server's words: the name and the first arguments, quoted, each cut so that the
  /// arguments' text stays near 128 bytes.
  static void unknown_command(Arguments args, std::string& out) {
    std::string message = "ERR unknown command '";
    message += args[0].substr(0, 128);
    message += "', with args beginning with: ";
    std::string quoted;
    for (std::size_t i = 1; i < args.size() && quoted.size() < 128; ++i) {
      quoted += '\'';
      quoted += args[i].substr(0, 128 - quoted.size() + 1);
      quoted += "' ";
    }
    reply::error(out, message + quoted);
  }

  /// Makes the value the string `text`, reusing the old string's memory when it was one.
  static void assign_string(Entry& entry, std::string_view text) {
    if (auto* old = std::get_if<std::string>(&entry.value))
      old->assign(text);
    else
      entry.value = std::string(text);
  }

  /// The string value of a live key; sets `wrong_type` when the key holds a list.
  const std::string* string_value(std::string_view key, bool& wrong_type) {
    wrong_type = false;
    Entry* entry = keyspace_.find(key);
    if (!entry) return nullptr;
    const auto* text = std::get_if<std::string>(&entry->value);
    wrong_type = text == nullptr;
    return text;
  }

  void ping(Arguments args, std::string& out) {
    if (args.size() > 2) return wrong_arity("ping", out);
    if (args.size() == 1) return reply::simple(out, "PONG");
    reply::bulk(out, args[1]);
  }

  void echo(Arguments args, std::string& out) { reply::bulk(out, args[1]); }

  void quit(Arguments, std::string& out) { reply::simple(out, "OK"); }

  void get(Arguments args, std::string& out) {
    bool wrong_type = false;
    const std::string* text = string_value(args[1], wrong_type);
    if (wrong_type) return reply::error(out, kWrongType);
    if (!text) return reply::null_bulk(out);
    reply::bulk(out, *text);
  }

  /// SET key value [NX | XX] [GET] [EX s | PX ms | EXAT s | PXAT ms | KEEPTTL], each option
  /// accepted where redis-server accepts it (an expiry given twice: the last one counts).
  void set(Arguments args, std::string& out) {
    enum : unsigned {
      nx = 1,
      xx = 2,
      get = 4,
      keep_ttl = 8,
      ex = 16,
      px = 32,
      exat = 64,
      pxat = 128
    };
    constexpr unsigned kAnyExpiry = ex | px | exat | pxat;
    unsigned flags = 0;
    std::string_view expiry_text;
    for (std::size_t i = 3; i < args.size(); ++i) {
      const std::string_view option = args[i];
      const bool has_next = i + 1 < args.size();
      if (equals_lower(option, "nx") && !(flags & xx)) {
        flags |= nx;
      } else if (equals_lower(option, "xx") && !(flags & nx)) {
        flags |= xx;
      } else if (equals_lower(option, "get")) {
        flags |= get;
      } else if (equals_lower(option, "keepttl") && !(flags & kAnyExpiry)) {
        flags |= keep_ttl;
      } else if (has_next && !(flags & keep_ttl) &&
                 ((equals_lower(option, "ex") && !(flags & (kAnyExpiry & ~ex))) ||
                  (equals_lower(option, "px") && !(flags & (kAnyExpiry & ~px))) ||
                  (equals_lower(option, "exat") && !(flags & (kAnyExpiry & ~exat))) ||
                  (equals_lower(option, "pxat") && !(flags & (kAnyExpiry & ~pxat))))) {
        flags |= equals_lower(option, "ex")     ? ex
                 : equals_lower(option, "px")   ? px
                 : equals_lower(option, "exat") ? exat
                                                : pxat;
        expiry_text = args[++i];
      } else {
        return reply::error(out, kSyntaxError);
      }
    }
    std::int64_t expires_at = kNoExpiry;
    if (flags & kAnyExpiry) {
      const auto number = parse_integer(expiry_text);
      if (!number) return reply::error(out, kNotAnInteger);
      std::int64_t milliseconds = *number;
      const bool seconds = flags & (ex | exat);
      if (milliseconds <= 0 || (seconds && milliseconds > kInt64Max / 1000))
        return reply::error(out, "ERR invalid expire time in 'set' command");
      if (seconds) milliseconds *= 1000;
      if (flags & (ex | px)) {
        const std::int64_t now = keyspace_.now();
        if (milliseconds > kInt64Max - now)
          return reply::error(out, "ERR invalid expire time in 'set' command");
        milliseconds += now;
      }
      expires_at = milliseconds;
    }
    Entry* entry = keyspace_.find(args[1]);
    if (flags & get) {
      if (!entry) {
        reply::null_bulk(out);
      } else if (const auto* text = std::get_if<std::string>(&entry->value)) {
        reply::bulk(out, *text);
      } else {
        return reply::error(out, kWrongType);
      }
    }
    if (((flags & nx) && entry) || ((flags & xx) && !entry)) {
      if (!(flags & get)) reply::null_bulk(out);
      return;
    }
    if (!entry) entry = &keyspace_.add(args[1]);
    assign_string(*entry, args[2]);
    if (expires_at != kNoExpiry)
      keyspace_.set_expiry(*entry, expires_at);
    else if (!(flags & keep_ttl))
      keyspace_.persist(*entry);
    if (!(flags & get)) reply::simple(out, "OK");
  }

  void del(Arguments args, std::string& out) {
    std::int64_t removed = 0;
    for (std::size_t i = 1; i < args.size(); ++i) removed += keyspace_.remove(args[i]);
    reply::integer(out, removed);
  }

  void exists(Arguments args, std::string& out) {
    std::int64_t found = 0;
    for (std::size_t i = 1; i < args.size(); ++i) found += keyspace_.find(args[i]) != nullptr;
    reply::integer(out, found);
  }

  void incr(Arguments args, std::string& out) {
    Entry* entry = keyspace_.find(args[1]);
    std::int64_t value = 0;
    std::string* text = nullptr;
    if (entry) {
      text = std::get_if<std::string>(&entry->value);
      if (!text) return reply::error(out, kWrongType);
      const auto number = parse_integer(*text);
      if (!number) return reply::error(out, kNotAnInteger);
      value = *number;
    }
    if (value == kInt64Max) return reply::error(out, "ERR increment or decrement would overflow");
    ++value;
    if (!entry) text = &std::get<std::string>(keyspace_.add(args[1]).value);
    char digits[24];
    const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
    text->assign(digits, end);  // the expiry, if any, stays
    reply::integer(out, value);
  }

  void mget(Arguments args, std::string& out) {
    reply::array(out, args.size() - 1);
    for (std::size_t i = 1; i < args.size(); ++i) {
      bool wrong_type = false;
      const std::string* text = string_value(args[i], wrong_type);
      if (text)
        reply::bulk(out, *text);
      else
        reply::null_bulk(out);  // a list is nil here, not an error
    }
  }

  void mset(Arguments args, std::string& out) {
    if (args.size() % 2 == 0) return wrong_arity("mset", out);
    for (std::size_t i = 1; i < args.size(); i += 2) {
      Entry* entry = keyspace_.find(args[i]);
      if (!entry) entry = &keyspace_.add(args[i]);
      assign_string(*entry, args[i + 1]);
      keyspace_.persist(*entry);
    }
    reply::simple(out, "OK");
  }

  /// EXPIRE key seconds [NX | XX | GT | LT]; a time already past deletes the key.
  void expire(Arguments args, std::string& out) {
    bool nx = false, xx = false, gt = false, lt = false;
    for (std::size_t i = 3; i < args.size(); ++i) {
      const std::string_view option = args[i];
      if (equals_lower(option, "nx")) {
        nx = true;
      } else if (equals_lower(option, "xx")) {
        xx = true;
      } else if (equals_lower(option, "gt")) {
        gt = true;
      } else if (equals_lower(option, "lt")) {
        lt = true;
      } else {
        return reply::error(out, "ERR Unsupported option " + std::string(option));
      }
    }
    if (nx && (xx || gt || lt))
      return reply::error(out,
                          "ERR NX and XX, GT or LT options at the same time are not compatible");
    if (gt && lt)
      return reply::error(out, "ERR GT and LT options at the same time are not compatible");
    const auto seconds = parse_integer(args[2]);
    if (!seconds) return reply::error(out, kNotAnInteger);
    const std::int64_t now = keyspace_.now();
    if (*seconds > kInt64Max / 1000 || *seconds < std::numeric_limits<std::int64_t>::min() / 1000 ||
        *seconds * 1000 > kInt64Max - now)
      return reply::error(out, "ERR invalid expire time in 'expire' command");
    const std::int64_t at = *seconds * 1000 + now;
    Entry* entry = keyspace_.find(args[1]);
    if (!entry) return reply::integer(out, 0);
    const std::int64_t current = entry->expires_at;
    const bool refused = (nx && current != kNoExpiry) || (xx && current == kNoExpiry) ||
                         (gt && (current == kNoExpiry || at <= current)) ||
                         (lt && current != kNoExpiry && at >= current);
    if (refused) return reply::integer(out, 0);
    if (at <= now)
      keyspace_.remove(args[1]);
    else
      keyspace_.set_expiry(*entry, at);
    reply::integer(out, 1);
  }

  void ttl(Arguments args, std::string& out) {
    const Entry* entry = keyspace_.find(args[1]);
    if (!entry) return reply::integer(out, -2);
    if (entry->expires_at == kNoExpiry) return reply::integer(out, -1);
    const std::int64_t left = std::max<std::int64_t>(entry->expires_at - keyspace_.now(), 0);
    reply::integer(out, (left + 500) / 1000);
  }

  /// The list of a live key, made when missing if `create`; sets `wrong_type` for a string.
  List* list_value(std::string_view key, bool create, bool& wrong_type) {
    wrong_type = false;
    Entry* entry = keyspace_.find(key);
    if (!entry) {
      if (!create) return nullptr;
      entry = &keyspace_.add(key);
      entry->value = List();
    }
    List* list = std::get_if<List>(&entry->value);
    wrong_type = list == nullptr;
    return list;
  }

  void push(Arguments args, std::string& out, bool front) {
    bool wrong_type = false;
    List* list = list_value(args[1], true, wrong_type);
    if (wrong_type) return reply::error(out, kWrongType);
    for (std::size_t i = 2; i < args.size(); ++i) {
      if (front)
        list->emplace_front(args[i]);
      else
        list->emplace_back(args[i]);
    }
    reply::integer(out, static_cast<std::int64_t>(list->size()));
  }
  void lpush(Arguments args, std::string& out) { push(args, out, true); }
  void rpush(Arguments args, std::string& out) { push(args, out, false); }

  /// LPOP / RPOP key [count]: one element as a bulk string, or with a count an array of up to
  /// that many (nil for a missing key, as redis-server 7 answers in RESP2).
  void pop(Arguments args, std::string& out, bool front, std::string_view name) {
    if (args.size() > 3) return wrong_arity(name, out);
    const bool has_count = args.size() == 3;
    std::int64_t count = 1;
    if (has_count) {
      const auto number = parse_integer(args[2]);
      if (!number || *number < 0)
        return reply::error(out, "ERR value is out of range, must be positive");
      count = *number;
    }
    bool wrong_type = false;
    List* list = list_value(args[1], false, wrong_type);
    if (wrong_type) return reply::error(out, kWrongType);
    if (!list) return has_count ? reply::null_array(out) : reply::null_bulk(out);
    if (has_count && count == 0) return reply::array(out, 0);
    const std::size_t n = std::min(static_cast<std::size_t>(count), list->size());
    if (has_count) reply::array(out, n);
    for (std::size_t i = 0; i < n; ++i) {
      reply::bulk(out, front ? list->front() : list->back());
      if (front)
        list->pop_front();
      else
        list->pop_back();
    }
    if (list->empty()) keyspace_.remove(args[1]);
  }
  void lpop(Arguments args, std::string& out) { pop(args, out, true, "lpop"); }
  void rpop(Arguments args, std::string& out) { pop(args, out, false, "rpop"); }

  void llen(Arguments args, std::string& out) {
    bool wrong_type = false;
    const List* list = list_value(args[1], false, wrong_type);
    if (wrong_type) return reply::error(out, kWrongType);
    reply::integer(out, list ? static_cast<std::int64_t>(list->size()) : 0);
  }

  void lrange(Arguments args, std::string& out) {
    const auto first = parse_integer(args[2]);
    const auto last = parse_integer(args[3]);
    if (!first || !last) return reply::error(out, kNotAnInteger);
    bool wrong_type = false;
    const List* list = list_value(args[1], false, wrong_type);
    if (wrong_type) return reply::error(out, kWrongType);
    const auto size = static_cast<std::int64_t>(list ? list->size() : 0);
    std::int64_t start = *first < 0 ? size + *first : *first;
    std::int64_t end = *last < 0 ? size + *last : *last;
    if (start < 0) start = 0;
    if (start > end || start >= size) return reply::array(out, 0);
    if (end >= size) end = size - 1;
    reply::array(out, static_cast<std::size_t>(end - start + 1));
    for (std::int64_t i = start; i <= end; ++i)
      reply::bulk(out, (*list)[static_cast<std::size_t>(i)]);
  }

  /// CONFIG GET parameter [parameter ...]: this server's persistence settings, which are
  /// redis-server's with --save "" --appendonly no. A name is answered as it was asked; a
  /// pattern ('*', '?') with the names it matches.
  void config(Arguments args, std::string& out) {
    if (!equals_lower(args[1], "get")) {
      return reply::error(out, "ERR unknown subcommand '" + std::string(args[1].substr(0, 128)) +
                                   "'. Try CONFIG HELP.");
    }
    if (args.size() < 3) return wrong_arity("config|get", out);
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 2> kParameters = {
        {{"save", ""}, {"appendonly", "no"}}};
    std::string pairs;
    std::size_t count = 0;
    for (std::size_t i = 2; i < args.size(); ++i) {
      const bool pattern = args[i].find_first_of("*?") != std::string_view::npos;
      for (const auto& [name, value] : kParameters) {
        if (pattern ? !glob_matches(args[i], name) : !equals_lower(args[i], name)) continue;
        reply::bulk(pairs, pattern ? name : args[i]);
        reply::bulk(pairs, value);
        count += 2;
      }
    }
    reply::array(out, count);
    out += pairs;
  }

  static constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

  Keyspace& keyspace_;
};

inline const std::array<CommandExecutor::Command, 19> CommandExecutor::kCommands = {{
    Command{"get", 2, &CommandExecutor::get},
    Command{"set", -3, &CommandExecutor::set},
    Command{"incr", 2, &CommandExecutor::incr},
    Command{"lpush", -3, &CommandExecutor::lpush},
    Command{"rpush", -3, &CommandExecutor::rpush},
    Command{"lpop", -2, &CommandExecutor::lpop},
    Command{"rpop", -2, &CommandExecutor::rpop},
    Command{"ping", -1, &CommandExecutor::ping},
    Command{"echo", 2, &CommandExecutor::echo},
    Command{"del", -2, &CommandExecutor::del},
    Command{"exists", -2, &CommandExecutor::exists},
    Command{"mget", -2, &CommandExecutor::mget},
    Command{"mset", -3, &CommandExecutor::mset},
    Command{"expire", -3, &CommandExecutor::expire},
    Command{"ttl", 2, &CommandExecutor::ttl},
    Command{"llen", 2, &CommandExecutor::llen},
    Command{"lrange", 4, &CommandExecutor::lrange},
    Command{"config", -2, &CommandExecutor::config},
    Command{"quit", -1, &CommandExecutor::quit},
}};

}  // namespace resp
