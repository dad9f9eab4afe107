// The loop's timers: a 4-ary min-heap of (deadline, node), earliest deadline first, equal
// deadlines in the order they were scheduled. Cancelled timers stay in place until they reach
// the top or until they make up most of the heap (then the heap is rebuilt without them), as in
// CPython's base_events; so cancelling costs O(1) and the heap never touches the nodes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "asyncio/handle.hpp"

namespace asyncio::detail {

class TimerHeap {
 public:
  struct Entry {
    std::int64_t when;
    HandleNode* node;
  };

  bool empty() const noexcept { return heap_.empty(); }
  std::size_t size() const noexcept { return heap_.size(); }
  const Entry& top() const noexcept { return heap_.front(); }

  void push(HandleNode* node) {
    heap_.push_back({node->when_, node});
    sift_up(heap_.size() - 1);
  }

  HandleNode* pop() noexcept {
    HandleNode* node = heap_.front().node;
    heap_.front() = heap_.back();
    heap_.pop_back();
    if (!heap_.empty()) sift_down(0);
    return node;
  }

  /// Removes the entries for which `drop(node)` is true, then restores the heap in O(n).
  template <class Pred>
  void remove_if(Pred drop) {
    std::size_t kept = 0;
    for (Entry& e : heap_) {
      if (!drop(e.node)) heap_[kept++] = e;
    }
    heap_.resize(kept);
    for (std::size_t i = heap_.size() / arity + 1; i-- > 0;) {
      if (i < heap_.size()) sift_down(i);
    }
  }

  std::vector<Entry>& entries() noexcept { return heap_; }

 private:
  static constexpr std::size_t arity = 4;

  static bool before(const Entry& a, const Entry& b) noexcept {
    return a.when < b.when || (a.when == b.when && a.node->seq_ < b.node->seq_);
  }

  void sift_up(std::size_t i) noexcept {
    Entry e = heap_[i];
    while (i > 0) {
      std::size_t parent = (i - 1) / arity;
      if (!before(e, heap_[parent])) break;
      heap_[i] = heap_[parent];
      i = parent;
    }
    heap_[i] = e;
  }

  void sift_down(std::size_t i) noexcept {
    const std::size_t n = heap_.size();
    Entry e = heap_[i];
    for (;;) {
      std::size_t first = i * arity + 1;
      if (first >= n) break;
      std::size_t last = first + arity < n ? first + arity : n;
      std::size_t best = first;
      for (std::size_t c = first + 1; c < last; ++c) {
        if (before(heap_[c], heap_[best])) best = c;
      }
      if (!before(heap_[best], e)) break;
      heap_[i] = heap_[best];
      i = best;
    }
    heap_[i] = e;
  }

  std::vector<Entry> heap_;
};

}  // namespace asyncio::detail
