// Large blocks: huge-page aligned mappings over 1 MiB, operator new up to it (see the header).
#include "asyncio/detail/large_block.hpp"

#include <new>

#include <sys/mman.h>

namespace asyncio::detail {

namespace {

/// Whether a block of `bytes` is mapped (rather than taken from operator new), and its size then.
bool mapped(std::size_t bytes) noexcept { return pooled_frames && bytes > huge_page_size / 2; }
std::size_t mapped_size(std::size_t bytes) noexcept {
  return (bytes + huge_page_size - 1) & ~(huge_page_size - 1);
}

}  // namespace

void* allocate_large(std::size_t bytes) {
  if (!mapped(bytes)) return ::operator new(bytes);
  return map_huge_page_aligned(mapped_size(bytes), true);
}

void deallocate_large(void* block, std::size_t bytes) noexcept {
  if (!mapped(bytes)) {
    ::operator delete(block);
    return;
  }
  ::munmap(block, mapped_size(bytes));
}

}  // namespace asyncio::detail
