// The loop's part for threads: its default executor, set_default_executor, and what close()
// does about other threads (join the executors, let go of every LoopRef).
#include <memory>
#include <utility>
#include <vector>

#include "asyncio/detail/loop_threads.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/executor.hpp"

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
  // Python's shutdown_default_executor: calls already queued still run. Their outcomes are
  // posted to the loop, which drops them unrun.
  if (executor) executor->shutdown(true);
  for (std::unique_ptr<ThreadPoolExecutor>& old : retired) old->shutdown(true);
  // Detach all first: letting go may complete a ConcurrentFuture, whose callbacks may post.
  for (auto& [ref, held] : refs) ref->detach();
  std::unordered_map<LoopRef*, std::shared_ptr<LoopRef>> closing = std::move(refs);
  refs.clear();
  for (auto& [ref, held] : closing) ref->let_go(true);
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

}  // namespace asyncio
