// ByteBuffer: the contiguous byte queue behind a stream's read and write buffers. Bytes are
// appended at the back and consumed from the front; consuming is O(1), and the space consumed
// is reused by moving the rest to the front only when the back runs out of room.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace asyncio::detail {

class ByteBuffer {
 public:
  std::size_t size() const noexcept { return end_ - begin_; }
  bool empty() const noexcept { return begin_ == end_; }
  std::string_view view() const noexcept { return {data_.get() + begin_, size()}; }

  void append(std::string_view bytes) {
    if (bytes.empty()) return;
    reserve_back(bytes.size());
    std::memcpy(data_.get() + end_, bytes.data(), bytes.size());
    end_ += bytes.size();
  }

  /// The free room at the back, for a read(2) to fill; commit() then adds what it wrote.
  std::span<char> back_room() noexcept { return {data_.get() + end_, capacity_ - end_}; }
  void commit(std::size_t n) noexcept {
    end_ += n;
    assert(end_ <= capacity_);
  }

  /// Drops the first n bytes (n <= size()).
  void consume(std::size_t n) noexcept {
    assert(n <= size());
    begin_ += n;
    if (begin_ == end_) clear();
  }
  /// Removes the first n bytes (n <= size()) and gives them back.
  std::string take(std::size_t n) {
    std::string bytes(data_.get() + begin_, n);
    consume(n);
    return bytes;
  }

  /// Empties the buffer. Memory beyond `kept_capacity` is given back: a burst does not pin
  /// megabytes to an idle connection.
  void clear() noexcept {
    begin_ = end_ = 0;
    if (capacity_ > kept_capacity) {
      data_.reset();
      capacity_ = 0;
    }
  }

  /// Makes room for at least n more bytes at the back.
  void reserve_back(std::size_t n) {
    if (capacity_ - end_ >= n) return;
    const std::size_t used = size();
    if (begin_ > 0 && capacity_ - used >= n && used <= capacity_ / 2) {
      std::memmove(data_.get(), data_.get() + begin_, used);  // enough room once compacted
    } else {
      const std::size_t capacity = std::max({used + n, capacity_ * 2, std::size_t{256}});
      auto bigger = std::make_unique_for_overwrite<char[]>(capacity);
      if (used) std::memcpy(bigger.get(), data_.get() + begin_, used);
      data_ = std::move(bigger);
      capacity_ = capacity;
    }
    begin_ = 0;
    end_ = used;
  }

  static constexpr std::size_t kept_capacity = 256 * 1024;

 private:
  // Invariant: begin_ <= end_ <= capacity_; the bytes are [begin_, end_) of data_.
  std::unique_ptr<char[]> data_;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace asyncio::detail
