// Where coroutine frames and future/task states come from: per-thread free lists of 8-byte
// size classes up to 512 bytes, refilled from 64 KiB slabs. Spawning and finishing tasks in
// bulk then costs a few instructions per object and no allocator header.
//
// Implementation notes. A freed object goes to the free list of the thread that frees it.
// When a thread exits, its lists are handed to a global pool that other threads refill from.
// Slabs are kept for the life of the process (reachable from a global registry), so memory is
// reused, never returned to the OS. Sanitizer builds bypass the pool so that AddressSanitizer
// still sees every frame's lifetime.
#pragma once

#include <cstddef>
#include <new>

namespace asyncio::detail {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool pooled_frames = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool pooled_frames = false;
#else
inline constexpr bool pooled_frames = true;
#endif
#else
inline constexpr bool pooled_frames = true;
#endif

struct FreeLists {
  static constexpr std::size_t granularity = 8;
  static constexpr std::size_t max_size = 512;
  static constexpr std::size_t classes = max_size / granularity;
  void* head[classes];
};

extern thread_local constinit FreeLists free_lists;

/// Refills size class `c` of this thread's lists and returns one object of it.
void* refill_free_list(std::size_t c);

/// The size to allocate for an object of `size` bytes and alignment `align` (at most 16): in a
/// class whose stride keeps every object of a 16-byte aligned slab suitably aligned.
constexpr std::size_t pooled_size(std::size_t size, std::size_t align) noexcept {
  const std::size_t a = align <= 8 ? 8 : 16;
  return (size + a - 1) / a * a;
}

/// Objects of at most 512 bytes whose size already went through pooled_size.
inline void* allocate_small(std::size_t size) {
  if (!pooled_frames || size > FreeLists::max_size) return ::operator new(size);
  const std::size_t c = (size - 1) / FreeLists::granularity;
  void* p = free_lists.head[c];
  if (!p) [[unlikely]] return refill_free_list(c);
  free_lists.head[c] = *static_cast<void**>(p);
  return p;
}

inline void deallocate_small(void* p, std::size_t size) noexcept {
  if (!pooled_frames || size > FreeLists::max_size) {
    ::operator delete(p);
    return;
  }
  const std::size_t c = (size - 1) / FreeLists::granularity;
  *static_cast<void**>(p) = free_lists.head[c];
  free_lists.head[c] = p;
}

/// Base of promise types whose coroutine frames come from the pool. Frames may hold anything up
/// to alignof(std::max_align_t).
struct PooledFrame {
  static void* operator new(std::size_t size) { return allocate_small(pooled_size(size, 16)); }
  static void operator delete(void* p, std::size_t size) noexcept { deallocate_small(p, pooled_size(size, 16)); }
};

}  // namespace asyncio::detail
