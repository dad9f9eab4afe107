// The loop's part for threads: its default executor, set_default_executor,
// shutdown_default_executor, and what close() does about other threads (let go of every
// LoopRef, join the executors).
#include <cstdio>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "asyncio/detail/loop_threads.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/executor.hpp"
#include "asyncio/tasks.hpp"
#include "asyncio/threads.hpp"

namespace asyncio {

namespace detail {

LoopThreads::LoopThreads(EventLoop& loop) noexcept : loop(loop) {}
LoopThreads::~LoopThreads() = default;

LoopThreads& LoopThreads::of(EventLoop& loop) {
  loop.check_open();
  if (!loop.threads_) loop.threads_ = std::make_unique<LoopThreads>(loop);
  return *loop.threads_;
}

ThreadPoolExecutor& LoopThreads::default_executor() {
  if (executor_shutdown_called) throw RuntimeError("Executor shutdown has been called");
  if (!executor) executor = std::make_unique<ThreadPoolExecutor>();
  return *executor;
}

void LoopThreads::hold(std::shared_ptr<LoopRef> ref) {
  LoopRef* key = ref.get();
  refs.emplace(key, std::move(ref));
}

void LoopThreads::release(LoopRef* ref) noexcept {
  auto it = refs.find(ref);
  if (it == refs.end()) return;
  std::shared_ptr<LoopRef> held = std::move(it->second);
  refs.erase(it);
  held->let_go(false);
}

void LoopThreads::close() noexcept {
  // Detach all first: letting go may complete a ConcurrentFuture, whose callbacks may post.
  for (auto& [ref, held] : refs) ref->detach();
  std::unordered_map<LoopRef*, std::shared_ptr<LoopRef>> closing = std::move(refs);
  refs.clear();
  // Letting go cancels the results of run_coroutine_threadsafe that will never come, so that a
  // worker waiting for one is not waited for forever below.
  for (auto& [ref, held] : closing) ref->let_go(true);
  // Calls already queued still run; their outcomes have nowhere to go and are dropped.
  if (executor) executor->shutdown(true);
  for (std::unique_ptr<ThreadPoolExecutor>& old : retired) old->shutdown(true);
}

}  // namespace detail

void EventLoop::set_default_executor(std::unique_ptr<ThreadPoolExecutor> executor) {
  detail::LoopThreads& threads = detail::LoopThreads::of(*this);
  if (threads.executor) {
    threads.retired.reserve(threads.retired.size() + 1);  // so that nothing below throws
    threads.executor->shutdown(false);
    threads.retired.push_back(std::move(threads.executor));
  }
  threads.executor = std::move(executor);
}

void EventLoop::close_threads() noexcept {
  if (threads_) threads_->close();
}

namespace {

/// A thread that is detached, not joined, if it is still running when its owner goes away
/// (a std::thread destroyed while joinable would end the program).
struct DetachOnDestroy {
  std::thread thread;
  ~DetachOnDestroy() {
    if (thread.joinable()) thread.detach();
  }
};

}  // namespace

// Python's shutdown_default_executor: the executor is joined on a thread of its own, so that
// the loop keeps running the calls its threads may still post while they finish.
Coro<void> EventLoop::shutdown_default_executor(std::optional<Clock::duration> timeout) {
  detail::LoopThreads& threads = detail::LoopThreads::of(*this);
  threads.executor_shutdown_called = true;
  if (!threads.executor) co_return;
  // Shared with the joining thread, which keeps it alive if the wait below gives up first.
  std::shared_ptr<ThreadPoolExecutor> executor = std::move(threads.executor);
  ConcurrentFuture<void> joined;
  DetachOnDestroy joiner{std::thread([executor, joined]() mutable {
    executor->shutdown(true);
    try {
      joined.set_result();
    } catch (const InvalidStateError&) {
      // Cancelled: nobody waits for it any more.
    }
  })};
  bool timed_out = false;
  if (timeout) {
    try {
      co_await wait_for(wrap_future(joined, *this), *timeout);
    } catch (const TimeoutError&) {
      timed_out = true;
    }
  } else {
    co_await wrap_future(joined, *this);
  }
  if (timed_out) {
    char message[128];
    std::snprintf(message, sizeof message,
                  "The executor did not finish joining its threads within %.3f seconds",
                  std::chrono::duration<double>(*timeout).count());
    call_exception_handler({message, nullptr, {}});
    co_return;  // the joining thread is detached, and frees the executor once it is done
  }
  joiner.thread.join();
}

}  // namespace asyncio
