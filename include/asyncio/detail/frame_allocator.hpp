// Where coroutine frames and future/task states come from: per-thread free lists of 8-byte
// size classes up to 512 bytes, frames and states apart, refilled from 64 KiB slabs. Spawning and
// finishing tasks in bulk then costs a few instructions per object and no allocator header.
//
// A new slab is not cut into a list: its objects are handed out in address order once the list
// is empty, so its memory is first touched by the object's user, and a slab's unused end is
// never touched at all. Slabs are cut from 2 MiB chunks mapped from the OS, so they carry no
// allocator header either; past the first 32 MiB, chunks are backed by huge pages (see
// small_page_chunks in frame_allocator.cpp).
//
// Implementation notes. A freed object goes to the free list of the thread that frees it. An
// object made on one thread and freed on another (a coroutine passed to
// run_coroutine_threadsafe) would make the second thread's list grow without bound while the
// first keeps carving new slabs. So a list holds at most 2 * batch(c) + 1 objects: when it
// would hold more, its batch(c) oldest objects are cut off, in O(1), and given to a global
// pool, which threads refill from, one batch at a time, before carving a new slab. Keeping
// batch(c) + 1 objects after a flush means a thread that allocates and frees in turn rarely
// takes the pool's lock. When a thread exits, its lists go to the global pool too. Slabs are kept
// for the life of the process, so memory is reused, never returned to the OS. Whether the pool
// is used at all is decided once, by the library's build (asyncio/config.hpp): sanitizer builds
// bypass it so that AddressSanitizer still sees every frame's lifetime (and LeakSanitizer every
// object, which it would not see in the mapped chunks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>

#include "asyncio/config.hpp"

namespace asyncio::detail {

inline constexpr bool pooled_frames = ASYNCIO_FRAME_POOL != 0;

/// One size class of a thread's free objects, linked through their first word; objects are
/// pushed and popped at the head.
struct FreeList {
  void* head = nullptr;
  // The objects of the slab this thread carved last not handed out yet: [fresh, fresh_end).
  char* fresh = nullptr;
  char* fresh_end = nullptr;
  void* tail = nullptr;     // the oldest object; meaningful only while head is not null
  void* mark = nullptr;     // the object batch + 1 places from the tail: set when the count
                            // last rose to batch + 1, so valid whenever count > batch
  std::uint32_t count = 0;  // objects in the list
};

/// Which objects a list holds. Coroutine frames and future or task states are pooled apart even
/// when their sizes agree: a frame dies when its coroutine finishes, a state when its last
/// handle goes, and one LIFO list of both hands a new task's frame and state memory that was
/// freed at unrelated times (measured: spawning got 1.5 to 3 times slower when a task's state
/// and its root frame fell into one size class).
enum class PoolKind : std::uint8_t { frames, states };

struct FreeLists {
  static constexpr std::size_t granularity = 8;
  static constexpr std::size_t max_size = 512;
  static constexpr std::size_t sizes = max_size / granularity;  // size classes of one kind
  static constexpr std::size_t classes = 2 * sizes;             // lists: frames', then states'
  /// The list of objects of `kind` and `size` bytes (at most max_size).
  static constexpr std::size_t class_of(PoolKind kind, std::size_t size) noexcept {
    return (size - 1) / granularity + (kind == PoolKind::states ? sizes : 0);
  }
  /// The size of the objects of class `c`.
  static constexpr std::size_t object_size(std::size_t c) noexcept {
    return (c % sizes + 1) * granularity;
  }
  /// How many objects of class `c` go to the global pool at a time: 128 KiB of them.
  static constexpr std::uint32_t batch(std::size_t c) noexcept {
    return static_cast<std::uint32_t>(128 * 1024 / object_size(c));
  }
  FreeList lists[classes];
};

extern thread_local constinit FreeLists free_lists;

/// Refills size class `c` of this thread's lists (from the global pool or a new slab) and
/// returns one object of it; the list must be empty and its fresh objects used up.
void* refill_free_list(std::size_t c);
/// Gives the batch(c) oldest objects of this thread's list `c` to the global pool.
void flush_free_list(std::size_t c) noexcept;
/// `bytes` (a multiple of the page size) of memory mapped from the OS, resident only once
/// touched; std::bad_alloc when the OS refuses. munmap gives it back.
void* map_memory(std::size_t bytes);
/// The size of a huge page on x86-64 and of the blocks map_huge_page_aligned maps.
inline constexpr std::size_t huge_page_size = std::size_t{2} << 20;
/// map_memory of `bytes` (a multiple of huge_page_size) at an address aligned to
/// huge_page_size; with `huge_pages`, the kernel is asked to back it with huge pages
/// (MADV_HUGEPAGE), which it may not do.
void* map_huge_page_aligned(std::size_t bytes, bool huge_pages);

/// The size class an object of `size` bytes is allocated in: `size` rounded up to 8. Objects of
/// a class lie `object_size` apart in a 16-byte aligned slab, and an object's size is a multiple
/// of its alignment (sizeof of any type is; so is a coroutine frame's size, which is the sizeof
/// of the frame the compiler lays out), so every object is as aligned as it needs, up to 16:
/// a 56-byte frame holds nothing aligned to 16, a 48-byte one may, and its class keeps it so.
constexpr std::size_t pooled_size(std::size_t size) noexcept {
  return (size + FreeLists::granularity - 1) / FreeLists::granularity * FreeLists::granularity;
}

/// Objects of at most 512 bytes whose size already went through pooled_size.
inline void* allocate_small(std::size_t size, PoolKind kind) {
  if (!pooled_frames || size > FreeLists::max_size) return ::operator new(size);
  const std::size_t c = FreeLists::class_of(kind, size);
  FreeList& list = free_lists.lists[c];
  void* p = list.head;
  if (!p) [[unlikely]] {
    if (list.fresh == list.fresh_end) return refill_free_list(c);
    p = list.fresh;
    list.fresh += size;
    return p;
  }
  list.head = *static_cast<void**>(p);
  --list.count;
  return p;
}

inline void deallocate_small(void* p, std::size_t size, PoolKind kind) noexcept {
  if (!pooled_frames || size > FreeLists::max_size) {
    ::operator delete(p);
    return;
  }
  const std::size_t c = FreeLists::class_of(kind, size);
  FreeList& list = free_lists.lists[c];
  *static_cast<void**>(p) = list.head;
  if (!list.head) list.tail = p;
  list.head = p;
  const std::uint32_t count = ++list.count;
  if (count > FreeLists::batch(c)) [[unlikely]] {
    if (count == FreeLists::batch(c) + 1) {
      list.mark = p;
    } else if (count > 2 * FreeLists::batch(c)) {
      flush_free_list(c);
    }
  }
}

/// Base of promise types whose coroutine frames come from the pool. Frames may hold anything up
/// to alignof(std::max_align_t) (see pooled_size).
struct PooledFrame {
  static void* operator new(std::size_t size) {
    return allocate_small(pooled_size(size), PoolKind::frames);
  }
  static void operator delete(void* p, std::size_t size) noexcept {
    deallocate_small(p, pooled_size(size), PoolKind::frames);
  }
};

}  // namespace asyncio::detail
