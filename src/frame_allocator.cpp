// The frame allocator's slow path: refilling a free list from the global pool or a new slab,
// and handing a finished thread's lists to the global pool (see the header).
#include "asyncio/detail/frame_allocator.hpp"

#include <mutex>
#include <vector>

namespace asyncio::detail {

thread_local constinit FreeLists free_lists{};

namespace {

constexpr std::size_t slab_size = 64 * 1024;

struct GlobalPool {
  std::mutex mutex;
  FreeLists orphans{};       // lists of threads that exited
  std::vector<void*> slabs;  // every slab, so that none is ever reported as leaked
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
      while (void* p = free_lists.head[c]) {
        free_lists.head[c] = *static_cast<void**>(p);
        *static_cast<void**>(p) = pool.orphans.head[c];
        pool.orphans.head[c] = p;
      }
    }
  }
};

}  // namespace

void* refill_free_list(std::size_t c) {
  thread_local ThreadExit on_exit;
  (void)on_exit;
  const std::size_t size = (c + 1) * FreeLists::granularity;
  GlobalPool& pool = global_pool();
  std::lock_guard lock(pool.mutex);
  void* head = pool.orphans.head[c];
  if (head) {
    pool.orphans.head[c] = nullptr;
  } else {
    char* slab = static_cast<char*>(::operator new(slab_size));
    pool.slabs.push_back(slab);
    for (std::size_t offset = slab_size / size * size; offset >= size;) {
      offset -= size;
      *reinterpret_cast<void**>(slab + offset) = head;
      head = slab + offset;
    }
  }
  free_lists.head[c] = *static_cast<void**>(head);
  return head;
}

}  // namespace asyncio::detail
