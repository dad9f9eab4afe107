// The frame allocator's slow paths: refilling a free list from the global pool or a new slab,
// and giving objects (a batch of a list that grew too long, or all of an exiting thread's) to
// the global pool (see the header).
#include "asyncio/detail/frame_allocator.hpp"

#include <mutex>
#include <vector>

namespace asyncio::detail {

thread_local constinit FreeLists free_lists{};

namespace {

constexpr std::size_t slab_size = 64 * 1024;

/// Objects linked from head to tail (whose link is null).
struct Batch {
  void* head;
  void* tail;
  std::uint32_t count;
};

struct GlobalPool {
  std::mutex mutex;
  std::vector<Batch> batches[FreeLists::classes];  // given up by threads (guarded by mutex)
  std::vector<void*> slabs;                        // every slab, so that none is reported as leaked
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
      list = FreeList{};
    }
  }
};

void register_thread_exit() {
  thread_local ThreadExit on_exit;
  (void)on_exit;
}

/// A new slab of objects of class `c`, as a batch.
Batch carve_slab(GlobalPool& pool, std::size_t c) {
  const std::size_t size = FreeLists::object_size(c);
  const std::size_t count = slab_size / size;
  char* slab = static_cast<char*>(::operator new(slab_size));
  pool.slabs.push_back(slab);
  for (std::size_t i = 0; i + 1 < count; ++i)
    *reinterpret_cast<void**>(slab + i * size) = slab + (i + 1) * size;
  *reinterpret_cast<void**>(slab + (count - 1) * size) = nullptr;
  return {slab, slab + (count - 1) * size, static_cast<std::uint32_t>(count)};
}

}  // namespace

void* refill_free_list(std::size_t c) {
  register_thread_exit();
  Batch batch;
  {
    GlobalPool& pool = global_pool();
    std::lock_guard lock(pool.mutex);
    std::vector<Batch>& given = pool.batches[c];
    if (given.empty()) {
      batch = carve_slab(pool, c);
    } else {
      batch = given.back();
      given.pop_back();
    }
  }
  // The list is empty (that is why it is refilled); a batch holds at most batch(c) + 1 objects,
  // so the list is left with at most batch(c) and needs no mark yet.
  FreeList& list = free_lists.lists[c];
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
