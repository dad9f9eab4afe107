// Test helper: keeps one thread of a ThreadPoolExecutor busy until released, so that calls
// submitted meanwhile wait in its queue (with max_workers = 1, none of them starts).
#pragma once

#include <gtest/gtest.h>
#include <asyncio/executor.hpp>

#include <chrono>
#include <latch>
#include <semaphore>

namespace asyncio_test {

class BusyWorker {
 public:
  /// Returns once the call occupying a thread of `pool` has started (or, failing the test,
  /// after 10 s).
  explicit BusyWorker(asyncio::ThreadPoolExecutor& pool)
      : call_(pool.submit([this] {
          started_.release();
          released_.wait();
        })) {
    EXPECT_TRUE(started_.try_acquire_for(std::chrono::seconds(10)))
        << "gave up after 10 s waiting for the pool to start the busy call";
  }
  /// Releases the call and waits until it has ended.
  ~BusyWorker() {
    release();
    call_.exception();
  }
  BusyWorker(const BusyWorker&) = delete;
  BusyWorker& operator=(const BusyWorker&) = delete;

  /// Lets the call end (once; later calls do nothing).
  void release() {
    if (!released_.try_wait()) released_.count_down();
  }
  /// The busy call's future.
  asyncio::ConcurrentFuture<void>& call() noexcept { return call_; }

 private:
  std::binary_semaphore started_{0};  // declared before call_: the call uses them
  std::latch released_{1};
  asyncio::ConcurrentFuture<void> call_;
};

}  // namespace asyncio_test
