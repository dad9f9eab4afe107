// ThreadPoolExecutor: the queue, the lazily started workers, and shutdown.
#include "asyncio/executor.hpp"

#include <algorithm>
#include <stdexcept>

#include "asyncio/exceptions.hpp"

namespace asyncio {

std::size_t ThreadPoolExecutor::default_max_workers() noexcept {
  return std::min<std::size_t>(32, std::size_t{std::thread::hardware_concurrency()} + 4);
}

ThreadPoolExecutor::ThreadPoolExecutor(std::size_t max_workers) : max_workers_(max_workers) {
  if (max_workers == 0) throw std::invalid_argument("max_workers must be greater than 0");
}

ThreadPoolExecutor::~ThreadPoolExecutor() { shutdown(true); }

void ThreadPoolExecutor::enqueue(std::unique_ptr<detail::WorkItem> item) {
  std::lock_guard lock(mutex_);
  if (shutdown_) throw RuntimeError("cannot schedule new futures after shutdown");
  queue_.push_back(std::move(item));
  work_cv_.notify_one();
  // CPython's _adjust_thread_count: an idle worker takes it, else a new one if there is room.
  if (idle_ > 0) {
    --idle_;
    return;
  }
  if (threads_.size() >= max_workers_) return;
  try {
    threads_.emplace_back([this] { work(); });
  } catch (...) {
    if (threads_.empty()) {  // nobody would ever run it
      queue_.pop_back();
      throw;
    }
  }
}

void ThreadPoolExecutor::work() noexcept {
  std::unique_lock lock(mutex_);
  for (;;) {
    work_cv_.wait(lock, [this] { return !queue_.empty() || shutdown_; });
    if (queue_.empty()) return;  // shut down, and nothing left to run
    std::unique_ptr<detail::WorkItem> item = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    item->run();
    lock.lock();
    ++idle_;
    lock.unlock();
    item->finish();
    item.reset();
    lock.lock();
  }
}

void ThreadPoolExecutor::shutdown(bool wait, bool cancel_futures) {
  std::deque<std::unique_ptr<detail::WorkItem>> cancelled;
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    const auto self = std::this_thread::get_id();
    if (wait && std::any_of(threads_.begin(), threads_.end(), [self](const std::thread& t) { return t.get_id() == self; })) {
      throw RuntimeError("cannot shut down and wait from one of the executor's own threads");
    }
    shutdown_ = true;
    if (cancel_futures) cancelled.swap(queue_);
    if (wait) threads.swap(threads_);
  }
  work_cv_.notify_all();
  for (std::unique_ptr<detail::WorkItem>& item : cancelled) item->cancel();
  cancelled.clear();
  for (std::thread& thread : threads) thread.join();
}

}  // namespace asyncio
