// ThreadPoolExecutor: the queue, the lazily started workers, and shutdown.
#include "asyncio/executor.hpp"

#include <algorithm>
#include <stdexcept>

#include "asyncio/exceptions.hpp"

namespace asyncio {

/// What the executor shares with its worker threads.
struct ThreadPoolExecutor::Pool {
  explicit Pool(std::size_t max) noexcept : max_workers(max) {}

  /// A worker's loop: run queued calls until shut down with nothing left to run.
  void work() noexcept;
  /// Whether the calling thread is one of the pool's (mutex held).
  bool on_own_thread() const {
    const auto self = std::this_thread::get_id();
    return std::any_of(threads.begin(), threads.end(),
                       [self](const std::thread& t) { return t.get_id() == self; });
  }

  const std::size_t max_workers;
  std::mutex mutex;
  std::condition_variable work_cv;  // notified when a call is queued, and at shutdown
  // All guarded by mutex. Invariant: threads.size() <= max_workers.
  std::deque<std::unique_ptr<detail::WorkItem>> queue;
  std::vector<std::thread> threads;  // started so far; moved out by the shutdown that joins them
  std::size_t idle = 0;              // workers that finished a call and that no submit claimed yet
  bool shutdown = false;
};

std::size_t ThreadPoolExecutor::default_max_workers() noexcept {
  return std::min<std::size_t>(32, std::size_t{std::thread::hardware_concurrency()} + 4);
}

ThreadPoolExecutor::ThreadPoolExecutor(std::size_t max_workers)
    : max_workers_(max_workers), pool_(std::make_shared<Pool>(max_workers)) {
  if (max_workers == 0) throw std::invalid_argument("max_workers must be greater than 0");
}

ThreadPoolExecutor::~ThreadPoolExecutor() {
  std::vector<std::thread> threads;
  bool own_thread;
  {
    std::lock_guard lock(pool_->mutex);
    pool_->shutdown = true;
    own_thread = pool_->on_own_thread();
    threads.swap(pool_->threads);
  }
  pool_->work_cv.notify_all();
  for (std::thread& thread : threads) {
    if (own_thread) {
      thread.detach();  // each holds the pool: it finishes the queue, then exits
    } else {
      thread.join();
    }
  }
}

void ThreadPoolExecutor::enqueue(std::unique_ptr<detail::WorkItem> item) {
  Pool& pool = *pool_;
  std::lock_guard lock(pool.mutex);
  if (pool.shutdown) throw RuntimeError("cannot schedule new futures after shutdown");
  pool.queue.push_back(std::move(item));
  pool.work_cv.notify_one();
  // CPython's _adjust_thread_count: an idle worker takes it, else a new one if there is room.
  if (pool.idle > 0) {
    --pool.idle;
    return;
  }
  if (pool.threads.size() >= pool.max_workers) return;
  try {
    pool.threads.emplace_back([shared = pool_] { shared->work(); });
  } catch (...) {
    if (pool.threads.empty()) {  // nobody would ever run it
      pool.queue.pop_back();
      throw;
    }
  }
}

void ThreadPoolExecutor::Pool::work() noexcept {
  std::unique_lock lock(mutex);
  for (;;) {
    work_cv.wait(lock, [this] { return !queue.empty() || shutdown; });
    if (queue.empty()) return;  // shut down, and nothing left to run
    std::unique_ptr<detail::WorkItem> item = std::move(queue.front());
    queue.pop_front();
    lock.unlock();
    item->run();
    lock.lock();
    ++idle;
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
    std::lock_guard lock(pool_->mutex);
    if (wait && pool_->on_own_thread()) {
      throw RuntimeError("cannot shut down and wait from one of the executor's own threads");
    }
    pool_->shutdown = true;
    if (cancel_futures) cancelled.swap(pool_->queue);
    if (wait) threads.swap(pool_->threads);
  }
  pool_->work_cv.notify_all();
  for (std::unique_ptr<detail::WorkItem>& item : cancelled) item->cancel();
  cancelled.clear();
  for (std::thread& thread : threads) thread.join();
}

}  // namespace asyncio
