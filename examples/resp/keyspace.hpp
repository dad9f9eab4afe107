// The keyspace of the RESP server: keys to values (a string or a list) with an optional
// expiry time, in milliseconds of Unix time as redis-server keeps them. Expired keys go two
// ways, as in redis-server: lazily, when a command looks the key up (find() never returns an
// expired entry), and by a periodic sweep (sweep()), which walks the table a bounded number of
// entries at a time and removes the expired ones, so that keys nobody reads again do not hold
// memory for ever.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace resp {

using List = std::deque<std::string>;

inline constexpr std::int64_t kNoExpiry = -1;

/// A key's value. expires_at is changed through Keyspace only (set_expiry, persist), which
/// counts the entries that have one.
struct Entry {
  std::variant<std::string, List> value;
  std::int64_t expires_at = kNoExpiry;  // Unix time in ms; the key is gone once the clock passes it
};

/// Milliseconds of Unix time (redis-server's mstime()).
inline std::int64_t unix_milliseconds() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class Keyspace {
 public:
  using Clock = std::int64_t (*)();

  explicit Keyspace(Clock clock = unix_milliseconds) : clock_(clock) {}

  std::int64_t now() const { return clock_(); }

  /// The live entry of `key`, or null; an expired one is removed on the way.
  Entry* find(std::string_view key) {
    const auto found = entries_.find(key);
    if (found == entries_.end()) return nullptr;
    if (found->second.expires_at != kNoExpiry && now() > found->second.expires_at) {
      erase(found);
      return nullptr;
    }
    return &found->second;
  }

  /// A new entry for `key`, which must not be live (find() returned null): an empty string
  /// without expiry.
  Entry& add(std::string_view key) { return entries_.emplace(key, Entry{}).first->second; }

  /// Removes `key` if it is live; whether it was.
  bool remove(std::string_view key) {
    const auto found = entries_.find(key);
    if (found == entries_.end()) return false;
    const bool live = found->second.expires_at == kNoExpiry || now() <= found->second.expires_at;
    erase(found);
    return live;
  }

  void set_expiry(Entry& entry, std::int64_t at) {
    if (entry.expires_at == kNoExpiry) ++expiring_;
    entry.expires_at = at;
  }
  void persist(Entry& entry) {
    if (entry.expires_at != kNoExpiry) --expiring_;
    entry.expires_at = kNoExpiry;
  }

  /// Looks at up to `budget` entries, going on from where the last sweep stopped (one bucket
  /// of the table after another, wrapping around), and removes those that have expired.
  /// Returns how many it removed. Does nothing while no entry has an expiry.
  std::size_t sweep(std::size_t budget) {
    if (expiring_ == 0 || entries_.empty()) return 0;
    const std::int64_t time = now();
    std::size_t looked_at = 0;
    doomed_.clear();
    for (std::size_t buckets = 0; buckets < entries_.bucket_count() && looked_at < budget;
         ++buckets) {
      if (next_bucket_ >= entries_.bucket_count()) next_bucket_ = 0;
      for (auto it = entries_.begin(next_bucket_); it != entries_.end(next_bucket_); ++it) {
        ++looked_at;
        if (it->second.expires_at != kNoExpiry && time > it->second.expires_at)
          doomed_.push_back(it->first);
      }
      ++next_bucket_;
    }
    for (const std::string& key : doomed_) erase(entries_.find(key));
    return doomed_.size();
  }

  std::size_t size() const noexcept { return entries_.size(); }
  std::size_t expiring() const noexcept { return expiring_; }

 private:
  /// Hashes std::string and std::string_view alike, so that lookups take a view of the
  /// request's bytes without making a string.
  struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view key) const noexcept {
      return std::hash<std::string_view>{}(key);
    }
  };
  using Table = std::unordered_map<std::string, Entry, KeyHash, std::equal_to<>>;

  void erase(Table::iterator at) {
    if (at->second.expires_at != kNoExpiry) --expiring_;
    entries_.erase(at);
  }

  Clock clock_;
  Table entries_;
  std::size_t expiring_ = 0;         // entries whose expires_at is set
  std::size_t next_bucket_ = 0;      // where the next sweep starts
  std::vector<std::string> doomed_;  // a sweep's expired keys, removed after its walk
};

}  // namespace resp
