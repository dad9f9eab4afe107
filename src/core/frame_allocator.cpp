// The frame allocator's slow paths: refilling a free list from the global pool or a new slab,
// and giving objects (a batch of a list that grew too long, or all of an exiting thread's) to
// the global pool (see the header).
#include "asyncio/detail/frame_allocator.hpp"

#include <mutex>
#include <new>
#include <vector>

#include <sys/mman.h>

namespace asyncio::detail {

thread_local constinit FreeLists free_lists{};

namespace {

constexpr std::size_t slab_size = 64 * 1024;
// What slabs are cut from: one huge page, and aligned to one, so that the kernel can back a
// chunk with a single huge page.
constexpr std::size_t chunk_size = huge_page_size;
// Chunks mapped with ordinary pages before the pool asks for huge ones (MADV_HUGEPAGE). A huge
// page is resident in whole from its first byte on, so a program that never holds more than
// 32 MiB of frames and states (about 200,000 pending tasks) never pays for one; past that a
// chunk costs one page fault instead of 512, which is most of the cost of a million new tasks.
constexpr std::size_t small_page_chunks = 16;

/// Objects linked from head to tail (whose link is null).
struct Batch {
  void* head;
  void* tail;
  std::uint32_t count;
};

/// Objects `size` bytes apart from `first` to `end` (exclusive), linked as a batch.
Batch link_objects(char* first, char* end, std::size_t size) {
  const std::uint32_t count = static_cast<std::uint32_t>((end - first) / size);
  for (char* p = first; p + size < end; p += size) *reinterpret_cast<void**>(p) = p + size;
  char* last = first + (count - 1) * size;
  *reinterpret_cast<void**>(last) = nullptr;
  return {first, last, count};
}

// Everything is guarded by the mutex.
struct GlobalPool {
  std::mutex mutex;
  std::vector<Batch> batches[FreeLists::classes];  // given up by threads
  // The rest of the newest chunk, not cut into slabs yet. Chunks are mapped from the OS, and
  // kept (never unmapped) for the life of the process.
  char* chunk_left = nullptr;
  char* chunk_end = nullptr;
  std::size_t chunks = 0;  // mapped so far
};

GlobalPool& global_pool() {
  static GlobalPool* pool = new GlobalPool;  // never destroyed: slabs outlive static destruction
  return *pool;
}

// On thread exit, gives the thread's free objects to the global pool.
struct ThreadExit {
  ~ThreadExit() {
    GlobalPool& pool = global_pool();
    std::lock_guard lock(pool.mutex);
    for (std::size_t c = 0; c < FreeLists::classes; ++c) {
      FreeList& list = free_lists.lists[c];
      if (list.count > FreeLists::batch(c)) {  // two batches, none larger than batch(c) + 1
        pool.batches[c].push_back(
            {*static_cast<void**>(list.mark), list.tail, FreeLists::batch(c)});
        *static_cast<void**>(list.mark) = nullptr;
        pool.batches[c].push_back({list.head, list.mark, list.count - FreeLists::batch(c)});
      } else if (list.head) {
        pool.batches[c].push_back({list.head, list.tail, list.count});
      }
      // Fewer than batch(c) objects: a slab holds half as many.
      if (list.fresh != list.fresh_end)
        pool.batches[c].push_back(
            link_objects(list.fresh, list.fresh_end, FreeLists::object_size(c)));
      list = FreeList{};
    }
  }
};

void register_thread_exit() {
  thread_local ThreadExit on_exit;
  (void)on_exit;
}

char* new_slab(GlobalPool& pool) {
  if (pool.chunk_left == pool.chunk_end) {
    const bool huge_pages = ++pool.chunks > small_page_chunks;
    pool.chunk_left = static_cast<char*>(map_huge_page_aligned(chunk_size, huge_pages));
    pool.chunk_end = pool.chunk_left + chunk_size;
  }
  char* slab = pool.chunk_left;
  pool.chunk_left += slab_size;
  return slab;
}

}  // namespace

void* map_memory(std::size_t bytes) {
  void* memory = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) throw std::bad_alloc();
  return memory;
}

void* map_huge_page_aligned(std::size_t bytes, bool huge_pages) {
  // Mapped with a huge page to spare, and the ends around the aligned block given back.
  char* mapped = static_cast<char*>(map_memory(bytes + huge_page_size));
  const std::size_t before =
      (huge_page_size - (reinterpret_cast<std::uintptr_t>(mapped) & (huge_page_size - 1))) &
      (huge_page_size - 1);
  char* block = mapped + before;
  if (before != 0) ::munmap(mapped, before);
  ::munmap(block + bytes, huge_page_size - before);
  if (huge_pages) ::madvise(block, bytes, MADV_HUGEPAGE);
  return block;
}

void* refill_free_list(std::size_t c) {
  register_thread_exit();
  Batch batch{};
  char* slab = nullptr;
  {
    GlobalPool& pool = global_pool();
    std::lock_guard lock(pool.mutex);
    std::vector<Batch>& given = pool.batches[c];
    if (given.empty()) {
      slab = new_slab(pool);
    } else {
      batch = given.back();
      given.pop_back();
    }
  }
  FreeList& list = free_lists.lists[c];
  if (slab) {  // its first object now, the others as they are needed
    const std::size_t size = FreeLists::object_size(c);
    list.fresh = slab + size;
    list.fresh_end = slab + slab_size / size * size;
    return slab;
  }
  // The list is empty (that is why it is refilled); a batch holds at most batch(c) + 1 objects,
  // so the list is left with at most batch(c) and needs no mark yet.
  list.head = *static_cast<void**>(batch.head);
  list.tail = batch.tail;
  list.count = batch.count - 1;
  return batch.head;
}

void flush_free_list(std::size_t c) noexcept {
  register_thread_exit();
  FreeList& list = free_lists.lists[c];
  // mark is batch(c) + 1 places from the tail: what follows it is the batch(c) oldest objects.
  Batch batch{*static_cast<void**>(list.mark), list.tail, FreeLists::batch(c)};
  *static_cast<void**>(list.mark) = nullptr;
  list.tail = list.mark;
  list.count -= batch.count;
  list.mark = list.head;  // batch(c) + 1 objects are left: the head has batch(c) after it
  GlobalPool& pool = global_pool();
  std::lock_guard lock(pool.mutex);
  pool.batches[c].push_back(batch);  // (a failure to allocate here ends the program)
}

}  // namespace asyncio::detail
