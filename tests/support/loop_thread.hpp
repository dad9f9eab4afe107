// Test helper: LoopThread runs a loop's run_forever on a thread of its own, for the lifetime of
// the object (its destructor stops the loop through call_soon_threadsafe and joins the thread).
#pragma once

#include <asyncio/asyncio.hpp>

#include <thread>

namespace asyncio_test {

class LoopThread {
 public:
  explicit LoopThread(asyncio::EventLoop& loop)
      : loop_(loop), thread_([this] { loop_.run_forever(); }) {}
  ~LoopThread() {
    loop_.call_soon_threadsafe([loop = &loop_] { loop->stop(); });
    thread_.join();
  }
  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;

 private:
  asyncio::EventLoop& loop_;
  std::thread thread_;
};

}  // namespace asyncio_test
