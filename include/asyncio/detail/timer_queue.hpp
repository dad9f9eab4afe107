// The loop's timers: a radix heap of (deadline, node), earliest deadline first, equal deadlines
// in the order they were scheduled.
//
// Implementation notes. A radix heap is a priority queue for keys that never go below the last
// key taken out, which holds for deadlines on a monotonic clock as long as only due entries are
// taken out (the loop does so): entries sit in 65 buckets by
// the highest bit in which their deadline differs from `last_` (bucket 0: equal to it). Taking
// the minimum out of an empty bucket 0 finds the smallest non-empty bucket, makes its earliest
// deadline the new `last_` and redistributes that bucket into lower ones, in order, so equal
// deadlines keep their scheduling order. Each entry moves down at most 64 times and every move
// is a sequential copy, which is what makes a million random timers cheap where a binary heap
// pays a cache miss per level. A deadline already earlier than `last_` (a timer scheduled in
// the past) counts as `last_`: it is overdue either way, and it runs after the timers already
// at deadline `last_` and before every later deadline (CPython would order it by its own).
// Cancelled timers stay in place until they are taken out or make up most of the queue, as in
// CPython's base_events.
#pragma once

#include <array>
#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "asyncio/detail/large_block.hpp"
#include "asyncio/handle.hpp"

namespace asyncio::detail {

class TimerQueue {
 public:
  struct Entry {
    std::uint64_t when;  // deadline in loop-clock nanoseconds
    HandleNode* node;
  };

  TimerQueue() {
    min_.fill(none);
    for (auto& bucket : buckets_) bucket.reserve(4);  // a few timers never allocate
  }

  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }

  void push(HandleNode* node) {
    const std::uint64_t when = node->when_ > last_ ? node->when_ : last_;
    place({when, node});
    ++size_;
  }

  /// The earliest deadline, in O(1); the queue must not be empty. Peeking moves nothing, so a
  /// timer scheduled later for an earlier deadline is still ordered correctly.
  std::uint64_t top_when() const noexcept {
    if (front_ < buckets_[0].size()) return last_;
    return min_[lowest_bucket()];
  }

  /// Takes the earliest entry out. Only for an entry that is due (top_when() <= now): taking
  /// one out raises the floor `last_` to its deadline, below which no later timer may fall.
  HandleNode* pop() {
    assert(size_ > 0);
    if (front_ == buckets_[0].size()) refill_front();
    --size_;
    return buckets_[0][front_++].node;
  }

  /// Removes the entries for which `drop(node)` is true, keeping the order of the others.
  template <class Pred>
  void remove_if(Pred drop) {
    size_ = 0;
    occupied_ = 0;
    for (std::size_t b = 0; b < buckets_.size(); ++b) {
      Bucket& bucket = buckets_[b];
      std::size_t kept = 0;
      min_[b] = none;
      for (std::size_t i = b == 0 ? front_ : 0; i < bucket.size(); ++i) {
        if (drop(bucket[i].node)) continue;
        bucket[kept++] = bucket[i];
        if (bucket[i].when < min_[b]) min_[b] = bucket[i].when;
      }
      bucket.resize(kept);
      size_ += kept;
      if (b > 0 && kept > 0) occupied_ |= bit(b);
    }
    front_ = 0;
  }

  /// Empties the queue, calling `f(node)` for each entry.
  template <class F>
  void clear(F f) {
    remove_if([&f](HandleNode* node) {
      f(node);
      return true;
    });
  }

 private:
  static constexpr std::uint64_t none = ~std::uint64_t{0};
  static constexpr std::uint64_t bit(std::size_t b) noexcept { return std::uint64_t{1} << (b - 1); }

  std::size_t bucket_of(std::uint64_t when) const noexcept {
    return when == last_ ? 0 : 64 - static_cast<std::size_t>(std::countl_zero(when ^ last_));
  }
  std::size_t lowest_bucket() const noexcept {
    return 1 + static_cast<std::size_t>(std::countr_zero(occupied_));
  }

  void place(const Entry& e) {
    const std::size_t b = bucket_of(e.when);
    buckets_[b].push_back(e);
    if (b > 0) {
      occupied_ |= bit(b);
      if (e.when < min_[b]) min_[b] = e.when;
    }
  }

  // Bucket 0 is used up: move the earliest non-empty bucket down so that bucket 0 holds the
  // entries with the smallest deadline, in the order they were pushed.
  void refill_front() {
    buckets_[0].clear();
    front_ = 0;
    const std::size_t b = lowest_bucket();
    last_ = min_[b];
    Bucket source;
    source.swap(buckets_[b]);
    occupied_ &= ~bit(b);
    min_[b] = none;
    for (const Entry& e : source) place(e);  // every entry lands in a bucket below b
    source.clear();
    source.swap(buckets_[b]);  // keep the capacity for later use
  }

  // Invariant: an entry in bucket b > 0 agrees with last_ on every bit above b - 1 and differs
  // at bit b - 1; bucket 0 holds entries equal to last_ (taken out up to front_).
  using Bucket = std::vector<Entry, LargeAllocator<Entry>>;  // a million timers fill 16 MB
  std::array<Bucket, 65> buckets_;
  std::array<std::uint64_t, 65> min_;  // smallest deadline in each bucket (none when empty)
  std::uint64_t occupied_ = 0;         // bit b - 1 set when bucket b > 0 is not empty
  std::size_t front_ = 0;
  std::size_t size_ = 0;
  std::uint64_t last_ = 0;  // the deadline last taken out; no entry is below it
};

}  // namespace asyncio::detail
