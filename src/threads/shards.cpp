// Shards: the threads, their loops, stopping, failures and signals (see shards.hpp).
#include "asyncio/shards.hpp"

#include <pthread.h>
#include <sched.h>
#include <signal.h>

#include <cerrno>
#include <string>
#include <system_error>
#include <thread>

#include "asyncio/exceptions.hpp"
#include "asyncio/runners.hpp"
#include "asyncio/selectors.hpp"
#include "unix/signal_handlers.hpp"

namespace asyncio {

namespace {

thread_local Shards* current_shards = nullptr;
thread_local std::size_t current_shard = 0;

/// The CPUs this process may run on, in order.
std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
    }
  }
  return cpus;
}

void pin_this_thread(std::size_t index) {
  const std::vector<int> cpus = allowed_cpus();
  if (cpus.empty()) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpus[index % cpus.size()], &set);
  if (int error = ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set); error != 0) {
    throw std::system_error(error, std::generic_category(), "pthread_setaffinity_np");
  }
}

}  // namespace

/// What a shard's thread keeps: its main task, while it runs.
struct Shards::Shard {
  std::optional<Task<void>> main;
};

std::size_t available_cpus() {
  const std::size_t count = allowed_cpus().size();
  return count ? count : 1;
}

Shards::Shards(std::size_t count, ShardOptions options) : options_(options) {
  if (count == 0) count = available_cpus();
  loops_.reserve(count);
  shards_.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    loops_.push_back(new_event_loop());
    loops_.back()->set_debug(options_.debug);
    loops_.back()->set_busy_poll(options_.busy_poll);
    shards_.push_back(std::make_unique<Shard>());
  }
}

Shards::~Shards() {
  for (auto& loop : loops_) {
    if (!loop->is_closed()) loop->close();  // never run
  }
}

Shards* Shards::current() noexcept { return current_shards; }
std::size_t Shards::current_index() noexcept { return current_shard; }

void Shards::run(Main main) {
  detail::check_no_running_loop("Shards.run()");
  {
    std::lock_guard lock(mutex_);
    if (ran_) throw RuntimeError("Shards.run() was already called");
    ran_ = running_ = true;
  }
  failures_.assign(size(), nullptr);

  // The calling thread's loop: told when each shard ends, and owner of SIGINT and SIGTERM.
  std::unique_ptr<EventLoop> supervisor = new_event_loop();
  std::size_t running = size();
  std::optional<Future<void>> all_ended = supervisor->create_future<void>();
  auto shard_ended = [&] {
    supervisor->call_soon_threadsafe([&] {
      if (--running == 0) all_ended->set_result();
    });
  };
  std::vector<int> handled;
  if (options_.handle_signals) {
    for (int sig : {SIGINT, SIGTERM}) {
      if (!detail::SignalHandlers::has_default_disposition(sig)) continue;
      try {
        supervisor->add_signal_handler(sig, [this, sig, &supervisor] {
          supervisor->remove_signal_handler(sig);  // a second one meets the default disposition
          int none = 0;
          stop_signal_.compare_exchange_strong(none, sig, std::memory_order_acq_rel);
          stop_all();
        });
        handled.push_back(sig);
      } catch (const RuntimeError&) {  // another loop handles it: it is theirs
      }
    }
  }

  std::vector<std::thread> threads;
  threads.reserve(size());
  for (std::size_t i = 0; i < size(); ++i) {
    try {
      threads.emplace_back([this, i, &main, &shard_ended] { run_shard(i, main, shard_ended); });
    } catch (...) {
      record_failure(i, std::current_exception());
      running -= size() - i;  // these never start; their loops are closed by the destructor
      break;
    }
  }
  if (running > 0) supervisor->run_until_complete(*all_ended);
  for (std::thread& thread : threads) thread.join();
  {
    std::lock_guard lock(mutex_);
    running_ = false;
  }
  all_ended.reset();
  for (int sig : handled) supervisor->remove_signal_handler(sig);
  supervisor->close();

  std::vector<std::exception_ptr> failed;
  for (std::exception_ptr& error : failures_) {
    if (error) failed.push_back(std::move(error));
  }
  if (failed.size() == 1) std::rethrow_exception(failed.front());
  if (failed.size() > 1) throw ExceptionGroup("unhandled errors in shards", std::move(failed));
  if (stop_signal() == SIGINT) throw KeyboardInterrupt();
}

void Shards::run_shard(std::size_t index, const Main& main, const std::function<void()>& ended) {
  EventLoop& loop = *loops_[index];
  Shard& shard = *shards_[index];
  current_shards = this;
  current_shard = index;
  set_event_loop(&loop);
  try {
    if (options_.pin) pin_this_thread(index);
    shard.main.emplace(loop.create_task(main(index)));
    if (stopping_.load(std::memory_order_acquire)) shard.main->cancel();
    loop.run_until_complete(Future<void>(*shard.main));
  } catch (const CancelledError&) {
    if (!stopping_.load(std::memory_order_acquire)) record_failure(index, std::current_exception());
  } catch (...) {
    record_failure(index, std::current_exception());
  }
  shard.main.reset();
  detail::shutdown_run(loop, options_.executor_shutdown_timeout);
  set_event_loop(nullptr);
  current_shards = nullptr;
  current_shard = 0;
  ended();
}

void Shards::record_failure(std::size_t index, std::exception_ptr error) {
  {
    std::lock_guard lock(mutex_);
    failures_[index] = std::move(error);
  }
  stop_all();
}

void Shards::stop_all() noexcept {
  if (stopping_.exchange(true, std::memory_order_acq_rel)) return;
  std::lock_guard lock(mutex_);
  if (!running_) return;  // not started (the shards cancel their mains at once) or over
  for (std::size_t i = 0; i < size(); ++i) {
    try {
      loops_[i]->call_soon_threadsafe([this, i] { cancel_main(i); });
    } catch (...) {  // that shard has ended, its loop is closed
    }
  }
}

void Shards::cancel_main(std::size_t index) noexcept {
  if (std::optional<Task<void>>& main = shards_[index]->main) main->cancel();
}

void run_sharded(std::size_t count, Shards::Main main, ShardOptions options) {
  Shards(count, options).run(std::move(main));
}

}  // namespace asyncio
