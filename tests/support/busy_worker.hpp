// Test helper: keeps one thread of a ThreadPoolExecutor busy until released, so that calls
// submitted meanwhile wait in its queue (with max_workers = 1, none of them starts).
#pragma once

#include <asyncio/executor.hpp>

#include <latch>

namespace asyncio_test {

class BusyWorker {
 public:
  /// Returns once the call occupying a thread of `pool` has started.
  explicit BusyWorker(asyncio::ThreadPoolExecutor& pool)
      : call_(pool.submit([this] {
          started_.count_down();
          released_.wait();
        })) {
    started_.wait();
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
  std::latch started_{1}, released_{1};  // declared before call_: the call uses them
  asyncio::ConcurrentFuture<void> call_;
};

}  // namespace asyncio_test
