// One loop per core: Shards runs main(i) on n threads, each with an event loop of its own, and
// returns when every shard has finished; run_sharded is the one-call form. The loops share
// nothing; they talk through run_on (run_on.hpp), Channel (channel.hpp) and
// call_soon_threadsafe. docs/scaling.md describes the model.
//
// Implementation notes. The loops are made up front, on the calling thread, so that every
// shard can reach every other shard's loop from its first step; each is run, shut down (as
// asyncio::run does) and closed on its own thread, and destroyed only once all threads have
// been joined, so a loop another shard still names stays a valid (closed) object. The calling
// thread runs a small loop of its own while it waits: it owns SIGINT and SIGTERM, and it is
// told by each shard when it ends. Stopping a shard is cancelling its main task, on its loop's
// thread, through call_soon_threadsafe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "asyncio/coro.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/task.hpp"

namespace asyncio {

/// How the shards run.
struct ShardOptions {
  /// Pin shard i to the i-th CPU this process may use (modulo their number).
  bool pin = false;
  /// Each loop's debug mode.
  bool debug = false;
  /// Each loop's busy polling (EventLoop::set_busy_poll): how long an idle loop spins for
  /// wake-ups from other loops before it sleeps. 0: it sleeps at once.
  std::chrono::nanoseconds busy_poll{0};
  /// SIGINT and SIGTERM stop every shard (as stop_all()), when their disposition is the
  /// default: after SIGINT, run() then raises KeyboardInterrupt, as asyncio::run does; after
  /// SIGTERM it returns. A second signal meets the default disposition again.
  bool handle_signals = true;
  /// How long each shard's shutdown waits for its default executor's threads.
  Clock::duration executor_shutdown_timeout = std::chrono::seconds(300);
};

/// The number of CPUs this process may run on (sched_getaffinity), at least 1.
std::size_t available_cpus();

/// A set of shards: one thread and one event loop each.
class Shards {
 public:
  /// A shard's main coroutine, given its index (0 .. size()-1).
  using Main = std::function<Coro<void>(std::size_t shard)>;

  /// `count` shards; 0: available_cpus(). Their loops are made now.
  explicit Shards(std::size_t count = 0, ShardOptions options = {});
  ~Shards();
  Shards(const Shards&) = delete;
  Shards& operator=(const Shards&) = delete;

  std::size_t size() const noexcept { return loops_.size(); }
  /// Shard i's loop, from any thread: for run_on, Channel wake-ups and call_soon_threadsafe.
  /// Valid until the Shards is destroyed; closed once that shard has finished.
  EventLoop& loop(std::size_t shard) const { return *loops_.at(shard); }

  /// Runs main(i) as the main task of shard i's loop, on a thread of its own, and returns when
  /// all have finished and their loops are shut down and closed. A shard whose main fails
  /// stops the others (their main tasks are cancelled), and its exception is rethrown here;
  /// when several fail, an ExceptionGroup of them, in shard order. A main ended by stop_all()
  /// is no failure. RuntimeError when called from a running loop, or a second time.
  void run(Main main);
  /// Any thread, also a shard's: cancels every shard's main task (now, or as soon as it
  /// exists). Nothing once run() has returned.
  void stop_all() noexcept;
  /// The signal that stopped the shards (SIGINT or SIGTERM), or 0.
  int stop_signal() const noexcept { return stop_signal_.load(std::memory_order_acquire); }

  /// Inside a shard: the Shards it belongs to and its index; null and 0 elsewhere.
  static Shards* current() noexcept;
  static std::size_t current_index() noexcept;

 private:
  struct Shard;
  void run_shard(std::size_t index, const Main& main, const std::function<void()>& ended);
  void cancel_main(std::size_t index) noexcept;
  void record_failure(std::size_t index, std::exception_ptr error);

  ShardOptions options_;
  std::vector<std::unique_ptr<EventLoop>> loops_;
  std::vector<std::unique_ptr<Shard>> shards_;  // each touched on its own loop's thread only
  std::atomic<bool> stopping_{false};
  std::atomic<int> stop_signal_{0};
  std::mutex mutex_;
  bool running_ = false;  // guarded by mutex_: the loops accept calls from stop_all
  bool ran_ = false;      // guarded by mutex_
  std::vector<std::exception_ptr> failures_;  // guarded by mutex_; indexed by shard
};

/// Runs main(i) on `count` shards (0: one per available CPU) and returns when all finish:
/// Shards(count, options).run(main).
void run_sharded(std::size_t count, Shards::Main main, ShardOptions options = {});

}  // namespace asyncio
