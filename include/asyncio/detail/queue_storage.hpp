// Where the queues of queues.hpp keep their items: a ring buffer (Queue, FIFO), a stack
// (LifoQueue) and a binary heap (PriorityQueue). Each moves items in and out, so move-only
// item types work, and none allocates once it has grown to the queue's working size.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <new>
#include <utility>
#include <vector>

namespace asyncio::detail {

/// FIFO storage: a ring buffer whose capacity (a power of two) doubles when it is full.
template <class T>
class RingBuffer {
 public:
  RingBuffer() noexcept = default;
  RingBuffer(const RingBuffer&) = delete;
  RingBuffer& operator=(const RingBuffer&) = delete;
  ~RingBuffer() {
    clear();
    std::allocator<T>().deallocate(data_, capacity_);
  }

  std::size_t size() const noexcept { return size_; }

  void push(T&& item) {
    if (size_ == capacity_) [[unlikely]]
      grow();
    ::new (static_cast<void*>(data_ + ((head_ + size_) & (capacity_ - 1)))) T(std::move(item));
    ++size_;
  }

  T pop() {
    T* slot = data_ + head_;
    T item(std::move(*slot));
    slot->~T();
    head_ = (head_ + 1) & (capacity_ - 1);
    --size_;
    return item;
  }

  void clear() noexcept {
    for (; size_ > 0; --size_) {
      data_[head_].~T();
      head_ = (head_ + 1) & (capacity_ - 1);
    }
    head_ = 0;
  }

 private:
  void grow() {
    const std::size_t capacity = capacity_ ? capacity_ * 2 : 8;
    T* data = std::allocator<T>().allocate(capacity);
    for (std::size_t i = 0; i < size_; ++i) {
      T* from = data_ + ((head_ + i) & (capacity_ - 1));
      ::new (static_cast<void*>(data + i)) T(std::move(*from));
      from->~T();
    }
    std::allocator<T>().deallocate(data_, capacity_);
    data_ = data;
    capacity_ = capacity;
    head_ = 0;
  }

  // Invariant: the items are data_[(head_ + i) & (capacity_ - 1)] for i < size_; capacity_ is
  // 0 or a power of two.
  T* data_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

/// LIFO storage: the last item in is the first out.
template <class T>
class Stack {
 public:
  std::size_t size() const noexcept { return items_.size(); }
  void push(T&& item) { items_.push_back(std::move(item)); }
  T pop() {
    T item(std::move(items_.back()));
    items_.pop_back();
    return item;
  }
  void clear() noexcept { items_.clear(); }

 private:
  std::vector<T> items_;
};

/// Priority storage: a binary heap giving the smallest item by `Compare` first, as Python's
/// heapq does (with std::less, the lowest value).
template <class T, class Compare>
class Heap {
 public:
  std::size_t size() const noexcept { return items_.size(); }
  void push(T&& item) {
    items_.push_back(std::move(item));
    std::push_heap(items_.begin(), items_.end(), Greater{compare_});
  }
  T pop() {
    std::pop_heap(items_.begin(), items_.end(), Greater{compare_});
    T item(std::move(items_.back()));
    items_.pop_back();
    return item;
  }
  void clear() noexcept { items_.clear(); }

 private:
  // std::push_heap keeps the greatest first; reversing the comparison keeps the least first.
  struct Greater {
    Compare& compare;
    bool operator()(const T& a, const T& b) const { return compare(b, a); }
  };
  std::vector<T> items_;
  [[no_unique_address]] Compare compare_;
};

}  // namespace asyncio::detail
