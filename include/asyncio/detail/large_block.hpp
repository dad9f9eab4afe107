// Memory for the loop's large arrays: the children of a big gather, the timer queue's buckets,
// the chunks of timer and callback nodes. A block of more than 1 MiB is mapped from the OS at an
// address aligned to a huge page, rounded up to a multiple of 2 MiB and advised MADV_HUGEPAGE, so
// that filling it costs one page fault per 2 MiB instead of one per 4 KiB (a page fault costs
// microseconds, as much as creating a few dozen tasks, so a million new timers or gather children
// were mostly page faults); smaller blocks come from operator new.
//
// Implementation notes. The kernel may still back the block with small pages (transparent huge
// pages turned off, or no free huge page); only the cost of faulting it in changes. A huge page
// is resident in whole from its first touched byte, so a block holds less than 2 MiB more than
// it uses, and less than twice what it uses. Sanitizer builds (pooled_frames off) take
// every block from operator new, so that AddressSanitizer sees each one.
#pragma once

#include <cstddef>

#include "asyncio/detail/frame_allocator.hpp"

namespace asyncio::detail {

/// At least `bytes` of memory, aligned to 16 (std::bad_alloc when there is none); free it with
/// deallocate_large and the same `bytes`.
void* allocate_large(std::size_t bytes);
void deallocate_large(void* block, std::size_t bytes) noexcept;

/// A standard allocator over allocate_large, for containers that may grow to millions of
/// elements.
template <class T>
struct LargeAllocator {
  using value_type = T;

  LargeAllocator() noexcept = default;
  template <class U>
  LargeAllocator(const LargeAllocator<U>&) noexcept {}

  T* allocate(std::size_t n) { return static_cast<T*>(allocate_large(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { deallocate_large(p, n * sizeof(T)); }

  template <class U>
  bool operator==(const LargeAllocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace asyncio::detail
