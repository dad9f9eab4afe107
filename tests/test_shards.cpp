// Shards and run_sharded: a thread and a loop per shard, 4 shards serving one reuse_port port
// (1,000 connections, every byte echoed, every shard serving some), one acceptor handing
// sockets to shards through channels, a failing shard stopping the others (and several making
// an ExceptionGroup), stop_all() from a plain thread with finally blocks run, SIGINT and
// SIGTERM, and misuse.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <latch>
#include <set>
#include <thread>

#include "support/asyncio_test.hpp"
#include "support/fds.hpp"
#include "support/signal_disposition.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;

namespace {

Coro<void> sleep_forever() { co_await asyncio::sleep(3600s); }

Coro<void> echo(asyncio::StreamReader reader, asyncio::StreamWriter writer) {
  for (;;) {
    std::string data = co_await reader.read(4096);
    if (data.empty()) break;
    writer.write(data);
    co_await writer.drain();
  }
  writer.close();
}

/// Opens `count` connections to 127.0.0.1:port at once, 200 at a time, sends each its own line
/// and reads it back; how many came back whole.
Coro<int> echo_clients(std::uint16_t port, int count) {
  int whole = 0;
  auto one = [&](int i) -> Coro<void> {
    auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port);
    const std::string line = "connection " + std::to_string(i) + "\n";
    writer.write(line);
    if (co_await reader.readline() == line) ++whole;
    writer.close();
    co_await writer.wait_closed();
  };
  for (int first = 0; first < count; first += 200) {
    std::vector<asyncio::Task<void>> batch;
    for (int i = first; i < std::min(count, first + 200); ++i) {
      batch.push_back(asyncio::create_task(one(i)));
    }
    for (auto& task : batch) co_await task;
  }
  co_return whole;
}

TEST(Shards, EachShardRunsOnAThreadAndALoopOfItsOwn) {
  asyncio::Shards shards(3);
  ASSERT_EQ(shards.size(), 3u);
  std::mutex mutex;
  std::set<std::thread::id> threads;
  std::set<asyncio::EventLoop*> loops;
  std::atomic<int> right_index{0};
  shards.run([&](std::size_t shard) -> Coro<void> {
    std::lock_guard lock(mutex);
    threads.insert(std::this_thread::get_id());
    loops.insert(&asyncio::get_running_loop());
    if (asyncio::Shards::current() == &shards && asyncio::Shards::current_index() == shard &&
        &shards.loop(shard) == &asyncio::get_running_loop()) {
      ++right_index;
    }
    co_return;
  });
  EXPECT_EQ(threads.size(), 3u);
  EXPECT_EQ(loops.size(), 3u);
  EXPECT_EQ(right_index, 3);
  EXPECT_FALSE(threads.contains(std::this_thread::get_id()));
  EXPECT_EQ(asyncio::Shards::current(), nullptr);
  EXPECT_TRUE(shards.loop(0).is_closed());
  EXPECT_GE(asyncio::available_cpus(), 1u);
}

TEST(Shards, FourShardsOnOneReusePortPortServeAThousandConnections) {
  constexpr int connections = 1000;
  asyncio::Shards shards(4);
  std::vector<std::atomic<int>> served(shards.size());
  asyncio::ConcurrentFuture<std::uint16_t> port;
  std::atomic<int> listening{0};
  int whole = 0;
  auto counted_echo = [&](asyncio::StreamReader r, asyncio::StreamWriter w) -> Coro<void> {
    ++served[asyncio::Shards::current_index()];
    co_await echo(std::move(r), std::move(w));
  };
  shards.run([&](std::size_t shard) -> Coro<void> {
    const asyncio::ServerOptions options{.reuse_port = true};
    std::uint16_t here = shard == 0 ? 0 : co_await asyncio::wrap_future(port);
    asyncio::Server server =
        co_await asyncio::start_server(counted_echo, "127.0.0.1", here, options);
    if (shard == 0) port.set_result(server.addresses().front().port());
    if (++listening == 4) {  // the last to listen runs the clients, then stops everybody
      whole = co_await asyncio::to_thread(
          [&] { return asyncio::run(echo_clients(port.result(), connections)); });
      shards.stop_all();
    }
    co_await server.serve_forever();
  });
  EXPECT_EQ(whole, connections);
  int total = 0;
  for (std::size_t i = 0; i < served.size(); ++i) {
    EXPECT_GT(served[i], 0) << "shard " << i << " served no connection";
    total += served[i];
  }
  EXPECT_EQ(total, connections);
}

TEST(Shards, OneAcceptorHandsSocketsToShardsRoundRobin) {
  constexpr int connections = 100;
  asyncio::Shards shards(3);
  std::vector<asyncio::Channel<int>> inboxes;  // accepted fds, one channel per serving shard
  for (std::size_t i = 0; i < shards.size(); ++i) inboxes.emplace_back(64);
  std::vector<std::atomic<int>> served(shards.size());
  int whole = 0;
  shards.run([&](std::size_t shard) -> Coro<void> {
    if (shard != 0) {  // a serving shard: takes its sockets until its channel closes
      std::vector<asyncio::Task<void>> clients;
      try {
        for (;;) {
          auto [reader, writer] = asyncio::open_stream(co_await inboxes[shard].get());
          ++served[shard];
          clients.push_back(asyncio::create_task(echo(std::move(reader), std::move(writer))));
        }
      } catch (const asyncio::QueueShutDown&) {
      }
      for (auto& client : clients) co_await client;
      co_return;
    }
    asyncio_test::Listener listener;
    auto& loop = asyncio::get_running_loop();
    asyncio::Future<int> clients = asyncio::to_thread(
        [port = listener.address.port()] { return asyncio::run(echo_clients(port, connections)); });
    for (int i = 0; i < connections; ++i) {
      auto [fd, address] = co_await loop.sock_accept(listener.fd);
      co_await inboxes[1 + i % 2].put(fd);
    }
    whole = co_await clients;
    for (auto& inbox : inboxes) inbox.close();
  });
  EXPECT_EQ(whole, connections);
  EXPECT_EQ(served[1], connections / 2);
  EXPECT_EQ(served[2], connections / 2);
}

TEST(Shards, AFailingShardStopsTheOthersAndItsErrorIsRethrown) {
  asyncio::Shards shards(3);
  std::atomic<int> finally_ran{0};
  auto main = [&](std::size_t shard) -> Coro<void> {
    if (shard == 1) {
      co_await asyncio::sleep(10ms);
      throw std::runtime_error("shard 1 failed");
    }
    try {
      co_await sleep_forever();
    } catch (const asyncio::CancelledError&) {
      ++finally_ran;
      throw;
    }
  };
  try {
    shards.run(main);
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "shard 1 failed");
  }
  EXPECT_EQ(finally_ran, 2);
}

TEST(Shards, SeveralFailuresMakeAnExceptionGroupInShardOrder) {
  std::latch both_failing(2);  // neither fails before the other is about to
  try {
    asyncio::run_sharded(3, [&](std::size_t shard) -> Coro<void> {
      if (shard == 1) co_return co_await sleep_forever();
      both_failing.arrive_and_wait();
      throw std::runtime_error("shard " + std::to_string(shard));
    });
    ADD_FAILURE() << "no exception";
  } catch (const asyncio::ExceptionGroup& group) {
    ASSERT_EQ(group.exceptions().size(), 2u);
    EXPECT_EQ(asyncio_test::what(group.exceptions()[0]), "shard 0");
    EXPECT_EQ(asyncio_test::what(group.exceptions()[1]), "shard 2");
  }
}

TEST(Shards, StopAllFromAPlainThreadEndsEveryShardWithFinallyBlocksRun) {
  asyncio::Shards shards(4);
  std::latch started(4);
  std::atomic<int> finally_ran{0};
  std::thread stopper([&] {
    started.wait();
    shards.stop_all();
  });
  const auto begin = std::chrono::steady_clock::now();
  shards.run([&](std::size_t) -> Coro<void> {
    started.count_down();
    try {
      co_await sleep_forever();
    } catch (const asyncio::CancelledError&) {
      ++finally_ran;
      throw;
    }
  });
  stopper.join();
  EXPECT_EQ(finally_ran, 4);
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 30s);
  shards.stop_all();  // after run(): nothing
}

TEST(Shards, StopAllBeforeRunCancelsEveryMainBeforeItStarts) {
  asyncio::Shards shards(2);
  shards.stop_all();
  std::atomic<int> started{0};
  shards.run([&](std::size_t) -> Coro<void> {
    ++started;  // a task cancelled before its first step never runs (as in Python)
    co_await sleep_forever();
  });
  EXPECT_EQ(started, 0);
}

/// Sends `sig` to the calling thread itself, so that the C handler runs there and its eventfd
/// write wakes the supervisor's loop. Sent to the process, it may land on a thread asleep in
/// select() or poll(), where ThreadSanitizer may hold the handler back indefinitely (seen as a
/// hang under TSan only).
void signal_this_thread(int sig) { ::pthread_kill(::pthread_self(), sig); }

bool default_disposition(int sig) { return asyncio_test::disposition(sig) == SIG_DFL; }

TEST(Shards, SigintStopsEveryShardAndRaisesKeyboardInterrupt) {
  if (!default_disposition(SIGINT)) GTEST_SKIP() << "SIGINT is handled by someone else here";
  asyncio::Shards shards(2);
  std::latch started(2);
  std::thread signaller([&] {
    started.wait();
    signal_this_thread(SIGINT);
  });
  EXPECT_THROW(shards.run([&](std::size_t) -> Coro<void> {
    started.count_down();
    co_await sleep_forever();
  }),
               asyncio::KeyboardInterrupt);
  signaller.join();
  EXPECT_EQ(shards.stop_signal(), SIGINT);
  EXPECT_TRUE(default_disposition(SIGINT));
}

TEST(Shards, SigtermStopsEveryShardAndRunReturns) {
  if (!default_disposition(SIGTERM)) GTEST_SKIP() << "SIGTERM is handled by someone else here";
  asyncio::Shards shards(2);
  std::latch started(2);
  std::thread signaller([&] {
    started.wait();
    signal_this_thread(SIGTERM);
  });
  shards.run([&](std::size_t) -> Coro<void> {
    started.count_down();
    co_await sleep_forever();
  });
  signaller.join();
  EXPECT_EQ(shards.stop_signal(), SIGTERM);
  EXPECT_TRUE(default_disposition(SIGTERM));
}

TEST(Shards, RunTwiceOrFromARunningLoopRaisesRuntimeError) {
  asyncio::Shards shards(1);
  shards.run([](std::size_t) -> Coro<void> { co_return; });
  EXPECT_THROW(shards.run([](std::size_t) -> Coro<void> { co_return; }), asyncio::RuntimeError);
  auto nested = []() -> Coro<void> {
    asyncio::Shards inner(1);
    inner.run([](std::size_t) -> Coro<void> { co_return; });
    co_return;
  };
  EXPECT_THROW(asyncio::run(nested()), asyncio::RuntimeError);
}

}  // namespace
