// The hot paths allocate nothing once warm: call_soon, a task's resume, sleep(0s), awaiting a
// done future, awaiting a Coro beyond its own frame, queue handoffs and lock round trips. Counted
// with a replaced operator new. Also where the memory comes from: slabs touched only as far as
// they are used, huge pages past the pool's first 32 MiB, large blocks mapped aligned to them.
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <new>
#include <semaphore>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

#include "asyncio/detail/large_block.hpp"
#include "support/asyncio_test.hpp"

namespace {
std::atomic<long> allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
// The replaced operator new is malloc, so free is its match. Where g++ inlines these into a
// caller of operator new (under ThreadSanitizer at -O2) it cannot tell, and warns.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

using namespace std::chrono_literals;
using asyncio::Coro;

namespace {

long allocated_during(const std::function<void()>& f) {
  long before = allocations.load();
  f();
  return allocations.load() - before;
}

TEST(Allocations, NoneForSleepZeroRoundTrips) {
  auto body = []() -> Coro<long> {
    for (int i = 0; i < 1000; ++i) co_await asyncio::sleep(0s);  // warm up
    long before = allocations.load();
    for (int i = 0; i < 100'000; ++i) co_await asyncio::sleep(0s);
    co_return allocations.load() - before;
  };
  EXPECT_EQ(asyncio::run(body()), 0);
}

TEST(Allocations, NoneForCallSoonOnceThePoolIsWarm) {
  auto loop = asyncio::new_event_loop();
  int ran = 0;
  for (int i = 0; i < 1000; ++i) loop->call_soon([&ran, i] { ran += i & 1; });
  loop->call_soon([&] { loop->stop(); });
  loop->run_forever();
  long n = allocated_during([&] {
    for (int round = 0; round < 100; ++round) {
      for (int i = 0; i < 1000; ++i) loop->call_soon([&ran, i] { ran += i & 1; });
      loop->call_soon([&] { loop->stop(); });
      loop->run_forever();
    }
  });
  EXPECT_EQ(n, 0);
  EXPECT_EQ(ran, 101 * 500);
}

TEST(Allocations, NoneForAwaitingADoneFutureOrSleepingWithATimer) {
  auto body = []() -> Coro<long> {
    auto f = asyncio::get_running_loop().create_future<int>();
    f.set_result(1);
    for (int i = 0; i < 10; ++i) co_await asyncio::sleep(std::chrono::microseconds(1));
    long before = allocations.load();
    int sum = 0;
    for (int i = 0; i < 10'000; ++i) sum += co_await f;
    for (int i = 0; i < 100; ++i) co_await asyncio::sleep(std::chrono::microseconds(1));
    co_return allocations.load() - before + (sum == 10'000 ? 0 : 1'000'000);
  };
  EXPECT_EQ(asyncio::run(body()), 0);
}

Coro<int> leaf(int i) { co_return i; }

TEST(Allocations, AwaitingACoroAllocatesOnlyItsFrame) {
  auto body = []() -> Coro<long> {
    co_await leaf(0);  // warm the frame pool
    long before = allocations.load();
    int sum = 0;
    for (int i = 0; i < 1000; ++i) sum += co_await leaf(1);
    EXPECT_EQ(sum, 1000);
    co_return allocations.load() - before;
  };
  // Frames come from the recycling frame pool; sanitizer builds take each from operator new.
  EXPECT_EQ(asyncio::run(body()), asyncio::detail::pooled_frames ? 0 : 1000);
}

TEST(Allocations, SpawningTasksReusesPooledMemory) {
  auto body = []() -> Coro<long> {
    auto nothing = []() -> Coro<void> { co_return; };
    std::vector<asyncio::Task<void>> tasks;
    tasks.reserve(1000);
    for (int i = 0; i < 1000; ++i) tasks.push_back(asyncio::create_task(nothing()));
    co_await asyncio::gather(tasks);  // warm: frames, task states, gather nodes
    tasks.clear();
    long before = allocations.load();
    for (int i = 0; i < 1000; ++i) tasks.push_back(asyncio::create_task(nothing()));
    long after_spawn = allocations.load();
    co_await asyncio::gather(tasks);
    co_return after_spawn - before;
  };
  EXPECT_EQ(asyncio::run(body()), asyncio::detail::pooled_frames ? 0 : 2000);
}

TEST(Allocations, NoneForQueueHandoffsWaitsIncludedOrLockRoundTrips) {
  auto body = []() -> Coro<long> {
    asyncio::Queue<int> q(16);
    long sum = 0;
    auto consume = [&](int n) -> Coro<void> {
      for (int i = 0; i < n; ++i) sum += co_await q.get();
    };
    auto consumer = asyncio::create_task(consume(20'000));
    for (int i = 0; i < 1000; ++i) co_await q.put(i);  // warm: the ring buffer has grown
    asyncio::Lock lock;
    long before = allocations.load();
    for (int i = 1000; i < 20'000; ++i) co_await q.put(i);  // waits whenever the queue is full
    for (int i = 0; i < 1000; ++i) {
      co_await lock.acquire();
      lock.release();
    }
    long allocated = allocations.load() - before;
    co_await consumer;
    co_return allocated + (sum == 19'999L * 20'000 / 2 ? 0 : 1'000'000);
  };
  EXPECT_EQ(asyncio::run(body()), 0);
}

TEST(Allocations, FramesTakeTheirSizeRoundedToEightBytes) {
  // A frame's size is a multiple of its alignment, so a 472-byte one (59 words) holds nothing
  // aligned to 16 and its neighbours in a slab may lie 472 bytes apart, not 480.
  if (!asyncio::detail::pooled_frames) GTEST_SKIP() << "this build does not use the frame pool";
  constexpr std::size_t size = 472;  // a size class nothing else in this test program uses
  void* first = asyncio::detail::PooledFrame::operator new(size);  // carves a fresh slab
  void* second = asyncio::detail::PooledFrame::operator new(size);
  EXPECT_EQ(static_cast<char*>(second) - static_cast<char*>(first), 472);
  asyncio::detail::PooledFrame::operator delete(second, size);
  asyncio::detail::PooledFrame::operator delete(first, size);
}

// A frame with a local aligned to 16, and `Words` words beside it: whatever the frame's size,
// the local is aligned.
template <int Words>
Coro<bool> local_is_aligned() {
  alignas(16) long double value = 1.0L;
  void* volatile words[Words] = {};
  co_await asyncio::sleep(0s);  // keeps `value` and `words` in the frame
  (void)words;
  co_return reinterpret_cast<std::uintptr_t>(&value) % 16 == 0 && value == 1.0L;
}

TEST(Allocations, FramesAreAsAlignedAsTheirLocalsNeed) {
  auto body = []() -> Coro<int> {
    std::vector<asyncio::Task<bool>> tasks;  // frames alive together lie side by side in a slab
    for (int i = 0; i < 5; ++i) {
      tasks.push_back(asyncio::create_task(local_is_aligned<1>()));
      tasks.push_back(asyncio::create_task(local_is_aligned<2>()));
      tasks.push_back(asyncio::create_task(local_is_aligned<3>()));
      tasks.push_back(asyncio::create_task(local_is_aligned<4>()));
    }
    int aligned = 0;
    for (bool ok : co_await asyncio::gather(tasks)) aligned += ok;
    co_return aligned;
  };
  EXPECT_EQ(asyncio::run(body()), 20);
}

bool page_is_resident(const char* p) {
  const std::uintptr_t page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
  unsigned char resident = 0;
  void* start = reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(p) / page * page);
  EXPECT_EQ(mincore(start, page, &resident), 0);
  return resident & 1;
}

TEST(Allocations, ANewSlabIsTouchedOnlyAsFarAsItsObjectsAreHandedOut) {
  if (!asyncio::detail::pooled_frames) GTEST_SKIP() << "this build does not use the frame pool";
  constexpr std::size_t size = 456;  // a size class nothing else in this test program uses
  constexpr std::size_t per_slab = 64 * 1024 / size;
  // 20 slabs' worth, then the first object of a 21st slab (in a chunk mapped from the OS, whose
  // pages are resident only once touched).
  std::vector<void*> objects;
  for (std::size_t i = 0; i < 20 * per_slab + 1; ++i)
    objects.push_back(asyncio::detail::allocate_small(size, asyncio::detail::PoolKind::states));
  const char* first = static_cast<const char*>(objects.back());
  *static_cast<volatile char*>(objects.back()) = 1;  // its user touches it
  EXPECT_TRUE(page_is_resident(first));
  EXPECT_FALSE(page_is_resident(first + 60 * 1024));  // the same slab's end
  for (void* p : objects)
    asyncio::detail::deallocate_small(p, size, asyncio::detail::PoolKind::states);
}

/// Whether the mapping that holds `p` is advised MADV_HUGEPAGE ("hg" among its VmFlags).
bool advised_huge_pages(const void* p) {
  std::ifstream smaps("/proc/self/smaps");
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    std::uintptr_t start = 0, end = 0;
    if (std::sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR " ", &start, &end) == 2 &&
        line.find(':') > line.find(' ')) {  // a mapping's first line, not a "Key: value" one
      inside = start <= address && address < end;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      return (line + " ").find(" hg ") != std::string::npos;
    }
  }
  ADD_FAILURE() << "no mapping holds " << p;
  return false;
}

TEST(Allocations, ThePoolAsksForHugePagesOnlyPastItsFirst32MiB) {
  if (!asyncio::detail::pooled_frames) GTEST_SKIP() << "this build does not use the frame pool";
  constexpr std::size_t size = 464;  // a size class nothing else in this test program uses
  // Each test runs in a process of its own: this one's pool starts empty, and its first object
  // lies in the first chunk, mapped with ordinary pages.
  std::vector<void*> objects{
      asyncio::detail::allocate_small(size, asyncio::detail::PoolKind::states)};
  EXPECT_FALSE(advised_huge_pages(objects.front()));
  for (std::size_t bytes = 0; bytes < (std::size_t{34} << 20); bytes += size)
    objects.push_back(asyncio::detail::allocate_small(size, asyncio::detail::PoolKind::states));
  EXPECT_TRUE(advised_huge_pages(objects.back()));  // in the 18th chunk
  for (void* p : objects)
    asyncio::detail::deallocate_small(p, size, asyncio::detail::PoolKind::states);
}

TEST(Allocations, BlocksOverOneMiBAreMappedAlignedToAHugePageAndGivenBack) {
  if (!asyncio::detail::pooled_frames) GTEST_SKIP() << "this build takes every block from new";
  constexpr std::size_t mib = std::size_t{1} << 20;
  // Up to 1 MiB: operator new (the replaced one counts it).
  void* small = nullptr;
  EXPECT_EQ(allocated_during([&] { small = asyncio::detail::allocate_large(mib); }), 1);
  asyncio::detail::deallocate_large(small, mib);
  // More: mapped, aligned to 2 MiB, advised; three huge pages for 4 MiB + 1.
  void* large = nullptr;
  EXPECT_EQ(allocated_during([&] { large = asyncio::detail::allocate_large(4 * mib + 1); }), 0);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(large) % (2 * mib), 0u);
  EXPECT_TRUE(advised_huge_pages(large));
  static_cast<char*>(large)[4 * mib] = 1;  // its last byte is there to write
  asyncio::detail::deallocate_large(large, 4 * mib + 1);
  unsigned char resident = 0;
  EXPECT_EQ(mincore(large, 6 * mib, &resident), -1);  // unmapped, all of it
  EXPECT_EQ(errno, ENOMEM);
}

TEST(Allocations, LargeContainersAndGathersWorkAcrossTheMappedSizes) {
  // A vector on LargeAllocator growing through operator new blocks into mapped ones keeps its
  // elements; a gather of 100,000 children (a 3 MB array) gives every result.
  std::vector<std::uint64_t, asyncio::detail::LargeAllocator<std::uint64_t>> values;
  for (std::uint64_t i = 0; i < 1'000'000; ++i) values.push_back(i * 3);
  std::uint64_t wrong = 0;
  for (std::uint64_t i = 0; i < values.size(); ++i) wrong += values[i] != i * 3;
  EXPECT_EQ(wrong, 0u);
  auto square = [](int i) -> Coro<int> {
    co_await asyncio::sleep(0s);
    co_return i* i;
  };
  auto body = [&]() -> Coro<long> {
    std::vector<asyncio::Task<int>> tasks;
    for (int i = 0; i < 100'000; ++i) tasks.push_back(asyncio::create_task(square(i % 1000)));
    long sum = 0;
    for (int value : co_await asyncio::gather(tasks)) sum += value;
    co_return sum;
  };
  EXPECT_EQ(asyncio::run(body()), 100L * 332'833'500);  // 100 times the sum of i * i below 1000
}

TEST(Allocations, ObjectsFreedOnAnotherThreadAreReusedNotReplacedBySlabs) {
  // A thread that lives on makes objects, this one frees them (what run_coroutine_threadsafe
  // does with the frames it carries). This thread passes what it does not need on to the pool,
  // so the maker refills from it instead of carving new slabs round after round.
  if (!asyncio::detail::pooled_frames) GTEST_SKIP() << "this build does not use the frame pool";
  constexpr std::size_t size = 488;  // a size class nothing else in this test program uses
  constexpr int per_round = 20'000;  // ~10 MB of objects a round, 150 slabs: many batches
  constexpr int rounds = 12;
  std::vector<void*> objects(per_round);
  std::binary_semaphore go(0), made(0);
  std::thread maker([&] {
    for (int round = 0; round < rounds; ++round) {
      go.acquire();
      for (void*& p : objects)
        p = asyncio::detail::allocate_small(size, asyncio::detail::PoolKind::frames);
      made.release();
    }
  });
  std::unordered_set<void*> distinct;  // every object address the maker was given
  for (int round = 0; round < rounds; ++round) {
    go.release();
    made.acquire();
    for (void* p : objects) {
      distinct.insert(p);
      asyncio::detail::deallocate_small(p, size, asyncio::detail::PoolKind::frames);
    }
  }
  maker.join();
  // The maker gets the same memory round after round, but for the few batches the two threads'
  // lists keep between rounds; without the flushes every round would be new memory (240,000).
  EXPECT_LE(distinct.size(), std::size_t{2} * per_round);
}

}  // namespace
