// Soak test: 5,000 TCP connections open at once on 127.0.0.1 (10,000 descriptors in this one
// process: both ends are ours), echoing through asyncio::start_server while client tasks and
// server handler tasks are cancelled at seeded random points. At the end every byte is
// accounted for on both sides, every connection is closed on both sides, no descriptor is left
// open, and memory is back near where it started.
//
// How it runs. A warm-up round of 32 connections first (so that the allocator's first growth is
// not counted), then the main round on the same loop:
//   1. open: 5,000 client tasks connect, at most 256 at a time (a Semaphore), and wait for a go
//      signal. Nothing is sent or closed before it, so once every client has connected and the
//      server has started 5,000 handlers, the server holds exactly 5,000 live connections: the
//      test checks active_connections() and the fd count there.
//   2. traffic: each client sends a 4-byte header naming it, then 1 to 6 messages of seeded sizes
//      (1 B to 192 KiB), some written in pieces, and reads every echo back, checking its bytes.
//      Some clients and handlers shrink their socket's send buffer, so that drain() waits. About
//      10 % of the clients are cancelled (mid-write, while draining, mid-read, or by a timer at a
//      random moment), 6 % of the handlers too (through the task each recorded with
//      current_task()), and 100 more clients are cancelled before starting, while waiting for a
//      connect slot, or while connecting. A cancelled client closes (half of them gracefully,
//      waiting for wait_closed()) or aborts its connection; a cancelled handler's connection is
//      aborted.
//   3. close: 5 % of the clients keep their connection open after their last echo, until
//      server.close() and close_clients() close it; wait_closed() returns,
//      active_connections() is 0, every task has finished.
// Then the records of both sides are matched up (check_accounting).
//
// Bounds. Every wait has a deadline, from one budget of 80 s for the main round, plus a few
// seconds for each closing step after a missed one; a missed deadline fails the test, saying
// what was still pending, and everything left is cancelled or aborted, inside CTest's 120 s.
// Measured: about 4 s in a release build, about 20 s with g++ -O0 and ASan + UBSan, about 15 s
// with ThreadSanitizer, all with the full 5,000 connections.
//
// The select backend cannot watch descriptors at or above FD_SETSIZE (1024): under
// ASYNCIO_SELECTOR=select the same test runs with 400 connections, which keeps every descriptor
// below 1024. RLIMIT_NOFILE's soft limit is raised to the hard limit for the test and restored
// afterwards; the test is skipped when the hard limit is below what it needs.
//
// Every plan comes from one seed, so a run is reproducible up to the interleaving of events.
// For experiments: ASYNCIO_SOAK_SEED=n picks another seed, ASYNCIO_SOAK_CONNECTIONS=n another
// count.
#include <malloc.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "support/asyncio_test.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SOAK_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SOAK_SANITIZED 1
#endif
#endif

#ifdef SOAK_SANITIZED
// The sanitizer runtimes' count of bytes allocated and not yet freed (declared here: g++ ships no
// <sanitizer/allocator_interface.h>).
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#endif

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio::StreamReader;
using asyncio::StreamWriter;

namespace {

constexpr std::size_t kFullConnections = 5000;
constexpr std::size_t kSelectConnections = 400;  // 2 x 400 fds + a few stay below FD_SETSIZE
constexpr std::size_t kWarmUpConnections = 32;
constexpr std::uint64_t kDefaultSeed = 0x50a4'7e57'2024'0001;
std::uint64_t run_seed = kDefaultSeed;      // set by the test from ASYNCIO_SOAK_SEED
constexpr std::size_t kConnectSlots = 256;  // connects in flight at once
constexpr std::size_t kExtraSlots =
    4;  // the same for the clients cancelled before or while connecting
constexpr int kBacklog = 1024;
// For the whole main round. When it runs out, up to 25 s more go to cancelling and closing
// what is left, still inside CTest's timeout of 120 s.
constexpr auto kBudget = 80s;
constexpr auto kGrace = 5s;  // for each closing step after a missed deadline
constexpr std::size_t kHighWater =
    64 * 1024;  // a writer's default high-water mark (docs/streams.md)

// --- Seeded pseudo-random numbers --------------------------------------------------------------

/// splitmix64: small, fast and good enough to pick sizes and cancellation points.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
    z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
    return z ^ (z >> 31);
  }
  /// Uniform in [lo, hi].
  std::size_t between(std::size_t lo, std::size_t hi) {
    return lo + static_cast<std::size_t>(next() % (hi - lo + 1));
  }
  /// True with probability per_mille / 1000.
  bool chance(unsigned per_mille) { return next() % 1000 < per_mille; }

 private:
  std::uint64_t state_;
};

std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  return Rng(a * 0x2545f4914f6cdd1d ^ b).next();
}

/// Message `index` of client `id`: `size` seeded bytes.
std::string make_message(std::size_t id, std::size_t index, std::size_t size) {
  Rng rng(mix(mix(run_seed, id), index));
  std::string bytes(size, '\0');
  for (std::size_t at = 0; at < size; at += 8) {
    const std::uint64_t word = rng.next();
    std::memcpy(bytes.data() + at, &word, std::min<std::size_t>(8, size - at));
  }
  return bytes;
}

std::string header_of(std::size_t id) {
  const auto v = static_cast<std::uint32_t>(id);
  const char bytes[4] = {static_cast<char>(v), static_cast<char>(v >> 8),
                         static_cast<char>(v >> 16), static_cast<char>(v >> 24)};
  return std::string(bytes, 4);
}

std::size_t id_of(const std::string& header) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i)
    v = (v << 8) | static_cast<unsigned char>(header[static_cast<std::size_t>(i)]);
  return v;
}

// --- What the process holds ---------------------------------------------------------------------

/// Open descriptors: the entries of /proc/self/fd (the directory's own one counts every time).
std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
    ++n;
  return n;
}

/// A field of /proc/self/status in KiB: "VmRSS" (resident now) or "VmHWM" (the most so far).
long status_kib(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0)
      return std::strtol(line.c_str() + field.size() + 1, nullptr, 10);
  }
  return -1;
}

/// Bytes the program has allocated and not freed: ASan's and TSan's allocators count them;
/// glibc's mallinfo2 gives the bytes in use in its arenas and in mmapped blocks.
std::size_t live_heap_bytes() {
#ifdef SOAK_SANITIZED
  return __sanitizer_get_current_allocated_bytes();
#else
  const struct mallinfo2 info = ::mallinfo2();
  return info.uordblks + info.hblkhd;
#endif
}

/// The kernel's count of connections dropped because a listening socket's accept queue was full
/// (TcpExt ListenOverflows in /proc/net/netstat), or -1. It counts every socket of the network
/// namespace, so the test reports it rather than asserting on it.
long listen_overflows() {
  std::ifstream netstat("/proc/net/netstat");
  std::string names, values;
  while (std::getline(netstat, names) && std::getline(netstat, values)) {
    if (names.rfind("TcpExt:", 0) != 0) continue;
    std::istringstream n(names), v(values);
    std::string name, value;
    while (n >> name && v >> value) {
      if (name == "ListenOverflows") return std::strtol(value.c_str(), nullptr, 10);
    }
  }
  return -1;
}

/// Raises RLIMIT_NOFILE's soft limit to the hard limit (to the kernel's nr_open when the hard
/// limit is unlimited), and puts it back when destroyed.
class RaisedFdLimit {
 public:
  RaisedFdLimit() {
    ::getrlimit(RLIMIT_NOFILE, &saved_);
    rlimit raised = saved_;
    raised.rlim_cur = raised.rlim_max;
    if (raised.rlim_cur == RLIM_INFINITY) {
      std::ifstream nr_open("/proc/sys/fs/nr_open");
      unsigned long most = 0;
      raised.rlim_cur = nr_open >> most ? most : saved_.rlim_cur;
    }
    ::setrlimit(RLIMIT_NOFILE, &raised);
  }
  ~RaisedFdLimit() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
  RaisedFdLimit(const RaisedFdLimit&) = delete;
  RaisedFdLimit& operator=(const RaisedFdLimit&) = delete;

  rlim_t hard() const noexcept { return saved_.rlim_max; }
  /// The soft limit now.
  static rlim_t soft() {
    rlimit now{};
    ::getrlimit(RLIMIT_NOFILE, &now);
    return now.rlim_cur;
  }

 private:
  rlimit saved_{};
};

// --- Plans and records --------------------------------------------------------------------------

/// Where a task is cancelled. The armed points schedule the cancel with call_soon just before
/// the await they name, so it lands while the task is suspended there (or, when that await
/// does not suspend, at the next one).
enum class CancelAt {
  never,
  before_start,  // cancelled right after create_task: the body never runs
  slot,          // waiting for a connect slot
  connecting,    // in open_connection
  mid_write,     // between two pieces of one message
  draining,      // in drain() after a large piece
  mid_read,      // waiting for an echo
  timer,         // by a timer, at a random moment of the traffic
};

struct ClientPlan {
  std::vector<std::size_t> sizes;   // message sizes
  std::vector<std::size_t> pieces;  // how many writes each message takes (1 to 3)
  std::size_t read_chunk = 0;       // read(n)'s n
  bool small_buffers = false;       // SO_SNDBUF 4 KiB and write limits 4 KiB / 1 KiB: drain() waits
  CancelAt cancel = CancelAt::never;
  std::size_t cancel_message = 0;             // which message an armed cancel lands in
  std::chrono::milliseconds cancel_delay{0};  // for CancelAt::timer
  bool graceful_close = false;  // when cancelled: close() and wait_closed(), else abort()
  bool linger = false;  // after the last echo, keep the connection open until the server closes it
};

enum class ClientEnd { not_started, running, complete, cut, cancelled, failed };
const char* const kClientEndNames[] = {"not started", "running",   "complete",
                                       "cut",         "cancelled", "failed"};
void PrintTo(ClientEnd end, std::ostream* out) { *out << kClientEndNames[static_cast<int>(end)]; }

/// The await a task is in (or was last in): where a cancellation landed.
enum class Phase { slot, connecting, go, writing, draining, reading, lingering, closing, count };
const char* const kPhaseNames[] = {"waiting for a slot", "connecting", "waiting for the go",
                                   "mid-write",          "draining",   "reading",
                                   "lingering",          "closing"};

struct ClientRecord {
  ClientPlan plan;
  std::uint64_t planned = 0;   // header + every message
  std::uint64_t sent = 0;      // bytes handed to write()
  std::uint64_t received = 0;  // echoed bytes read and checked
  bool connected = false;
  ClientEnd end = ClientEnd::not_started;
  bool task_cancelled = false;  // the task ended cancelled
  Phase phase = Phase::slot;    // the await it is in
  std::string detail;           // what cut it short, or what failed
};

struct ServerPlan {
  std::size_t read_size = 0;
  CancelAt cancel = CancelAt::never;  // mid_read, draining or timer
  std::size_t cancel_round = 0;    // the read it lands in (or the first waiting drain from it on)
  bool abort_on_cancel = false;    // abort() explicitly, else dropping the handles aborts
  bool small_send_buffer = false;  // SO_SNDBUF 4 KiB and write limits 4 KiB / 1 KiB: drain() waits
};

enum class ServerEnd { running, clean, no_header, peer_error, cancelled };
const char* const kServerEndNames[] = {"running", "clean", "no header", "reset by the client",
                                       "cancelled"};
void PrintTo(ServerEnd end, std::ostream* out) { *out << kServerEndNames[static_cast<int>(end)]; }

struct ServerRecord {
  std::optional<std::size_t> id;  // the client, once its header arrived
  std::uint64_t read = 0, written = 0;
  ServerEnd end = ServerEnd::running;
  bool finished = false;         // the handler's frame is gone
  asyncio::TaskRef task;         // asyncio::current_task() of the handler
  Phase phase = Phase::reading;  // the await it is in (reading, draining or closing)
  std::string detail;
};

ServerPlan server_plan(std::size_t id, bool chaos) {
  Rng rng(mix(run_seed ^ 0x5e4e4, id));
  ServerPlan plan;
  const std::size_t reads[] = {100, 1500, 16384, 65536};
  plan.read_size = reads[rng.between(0, 3)];
  plan.abort_on_cancel = rng.chance(500);
  plan.small_send_buffer = rng.chance(100);
  const std::size_t roll = rng.between(0, 999);
  if (chaos && roll < 20) {
    plan.cancel = CancelAt::mid_read;
  } else if (chaos && roll < 40) {  // with a small buffer, so that the drain waits
    plan.cancel = CancelAt::draining;
    plan.small_send_buffer = true;
    plan.read_size = 65536;
  }  // timer cancels of handlers are picked by the main task (run_round)
  plan.cancel_round = plan.cancel == CancelAt::draining ? 0 : rng.between(0, 5);
  return plan;
}

ClientPlan client_plan(std::size_t id, bool chaos, bool extra) {
  Rng rng(mix(run_seed, id));
  ClientPlan plan;
  const std::size_t count = extra ? rng.between(1, 2) : rng.between(1, 6);
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t roll = rng.between(0, 999);
    std::size_t size;
    if (roll < 850) {
      size = rng.between(1, 2048);
    } else if (roll < 970) {
      size = rng.between(2049, 16384);
    } else {
      size = rng.between(64 * 1024, 192 * 1024);
    }
    plan.sizes.push_back(size);
    plan.pieces.push_back(size >= 3 && rng.chance(300) ? rng.between(2, 3) : 1);
  }
  const std::size_t chunks[] = {16, 500, 4096, 65536};
  plan.read_chunk = chunks[rng.between(0, 3)];
  plan.small_buffers = rng.chance(100);
  plan.graceful_close = rng.chance(500);
  plan.linger = !extra && rng.chance(50);
  if (!chaos || plan.linger) return plan;
  const std::size_t roll = rng.between(0, 999);
  if (extra) {
    plan.cancel = roll < 333   ? CancelAt::before_start
                  : roll < 667 ? CancelAt::slot
                               : CancelAt::connecting;
  } else if (roll < 25) {
    plan.cancel = CancelAt::mid_write;
  } else if (roll < 50) {
    plan.cancel = CancelAt::draining;
  } else if (roll < 75) {
    plan.cancel = CancelAt::mid_read;
  } else if (roll < 100) {
    plan.cancel = CancelAt::timer;
    plan.cancel_delay = std::chrono::milliseconds(rng.between(0, 1500));
  }
  plan.cancel_message = rng.between(0, count - 1);
  if (plan.cancel == CancelAt::mid_write) {  // it needs a message of several pieces
    std::size_t& size = plan.sizes[plan.cancel_message];
    size = std::max<std::size_t>(size, 3);
    plan.pieces[plan.cancel_message] = std::max<std::size_t>(plan.pieces[plan.cancel_message], 2);
  } else if (plan.cancel == CancelAt::draining) {  // and a piece that outgrows the high-water mark
    plan.sizes[plan.cancel_message] = rng.between(128 * 1024, 192 * 1024);
    plan.pieces[plan.cancel_message] = 1;
    plan.small_buffers = true;
  }
  return plan;
}

/// One round: its plans, its records, and the signals between its tasks.
struct Round {
  Round(std::size_t connections, std::size_t extras, bool chaos)
      : connections(connections), chaos(chaos) {
    clients.resize(connections + extras);
    for (std::size_t id = 0; id < clients.size(); ++id) {
      ClientRecord& record = clients[id];
      record.plan = client_plan(id, chaos, id >= connections);
      record.planned = 4;
      for (std::size_t size : record.plan.sizes) record.planned += size;
    }
    servers.resize(clients.size());  // at most one connection per client; never reallocated
    for (const ClientRecord& record : clients) lingerers += record.plan.linger;
    if (lingerers == 0) all_lingering.set();
  }

  /// A lingering client waits for the server's close now, or has finished.
  void lingerer_ready() {
    if (++lingerers_ready == lingerers) all_lingering.set();
  }

  const std::size_t connections;  // clients 0..connections-1 are open together at the peak
  const bool chaos;               // cancel tasks (the warm-up round does not)
  std::vector<ClientRecord> clients;
  std::vector<ServerRecord> servers;
  std::size_t servers_used = 0;
  std::size_t unexpected_connections = 0;  // accepted beyond the records (none should be)
  bool gave_up = false;  // a deadline passed: what was left was cancelled or aborted
  asyncio::Server* server = nullptr;
  std::uint16_t port = 0;
  asyncio::Semaphore connect_slots{static_cast<std::int64_t>(kConnectSlots)};
  asyncio::Semaphore extra_slots{
      static_cast<std::int64_t>(kExtraSlots)};  // the extra clients mostly wait
  std::size_t connected = 0;
  std::size_t handlers_started = 0;
  std::size_t lingerers = 0;        // clients that wait for the server to close their connection
  std::size_t lingerers_ready = 0;  // of those, how many wait now, or have finished
  asyncio::Event all_lingering;
  std::size_t peak_active = 0;
  // drain() calls made with the write buffer above the high-water mark, so that they wait
  std::size_t client_drains_waited = 0, server_drains_waited = 0;
  asyncio::Event all_connected, all_accepted, go;
};

// --- Clients ------------------------------------------------------------------------------------

/// Schedules the cancellation of `task` for the next loop iteration.
void cancel_soon(asyncio::TaskRef task) {
  asyncio::get_running_loop().call_soon([task]() mutable { task.cancel(); });
}

/// SO_SNDBUF of 4 KiB (the kernel makes it 8): big writes stay partly in the writer's buffer.
void shrink_send_buffer(const StreamWriter& writer) {
  const int size = 4096;
  ::setsockopt(writer.socket(), SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
}

struct ClientCut {
  std::string why;
};

/// Reads `expected.size()` echoed bytes and checks them; throws ClientCut at EOF.
Coro<void> read_echo(ClientRecord& record, StreamReader& reader, const std::string& expected) {
  std::size_t got = 0;
  while (got < expected.size()) {
    const std::size_t want = std::min(record.plan.read_chunk, expected.size() - got);
    record.phase = Phase::reading;
    const std::string chunk = co_await reader.read(static_cast<std::ptrdiff_t>(want));
    if (chunk.empty()) {
      throw ClientCut{"EOF after " + std::to_string(record.received) + " of " +
                      std::to_string(record.planned) + " bytes"};
    }
    if (std::string_view(expected).substr(got, chunk.size()) != chunk) {
      throw std::runtime_error("echo differs from what was sent, at byte " +
                               std::to_string(record.received + got));
    }
    got += chunk.size();
    record.received += chunk.size();
  }
}

/// Writes `bytes` and drains, counting drains that have to wait.
Coro<void> send(Round& round, ClientRecord& record, StreamWriter& writer, std::string_view bytes) {
  writer.write(bytes);
  record.sent += bytes.size();
  const std::size_t high = record.plan.small_buffers ? 4096 : kHighWater;
  if (writer.get_write_buffer_size() > high) ++round.client_drains_waited;
  record.phase = Phase::draining;
  co_await writer.drain();
}

/// One client: connect, wait for the go, send the header and each message, read each echo back,
/// then half-close and expect the server's EOF.
Coro<void> client(Round& round, std::size_t id) {
  ClientRecord& record = round.clients[id];
  const ClientPlan& plan = record.plan;
  record.end = ClientEnd::running;
  asyncio::TaskRef self = asyncio::current_task();
  const auto arm = [&](CancelAt at, std::size_t message) {
    if (plan.cancel == at && plan.cancel_message == message) cancel_soon(self);
  };
  struct LingerReady {  // counts a lingering client once: when it waits, or else when it ends
    Round* round;
    void operator()() {
      if (round) std::exchange(round, nullptr)->lingerer_ready();
    }
    ~LingerReady() { (*this)(); }
  } linger_ready{plan.linger ? &round : nullptr};
  std::optional<asyncio::StreamPair> connection;
  std::exception_ptr cancelled;
  try {
    {
      record.phase = Phase::slot;
      arm(CancelAt::slot, plan.cancel_message);
      auto slot =
          co_await (id < round.connections ? round.connect_slots : round.extra_slots).scoped();
      arm(CancelAt::connecting, plan.cancel_message);
      record.phase = Phase::connecting;
      connection.emplace(co_await asyncio::open_connection("127.0.0.1", round.port));
    }
    record.connected = true;
    if (id < round.connections && ++round.connected == round.connections) round.all_connected.set();
    record.phase = Phase::go;
    co_await round.go.wait();
    auto& [reader, writer] = *connection;
    if (plan.small_buffers) {  // the kernel takes little at a time: writes stay buffered in the
                               // writer
      shrink_send_buffer(writer);
      writer.set_write_buffer_limits(4096, 1024);
    }
    const std::string header = header_of(id);
    co_await send(round, record, writer, header);
    co_await read_echo(record, reader, header);
    for (std::size_t m = 0; m < plan.sizes.size(); ++m) {
      const std::string message = make_message(id, m, plan.sizes[m]);
      const std::size_t pieces = plan.pieces[m];
      std::size_t at = 0;
      for (std::size_t p = 0; p < pieces; ++p) {
        const std::size_t end =
            p + 1 == pieces ? message.size() : message.size() * (p + 1) / pieces;
        if (p > 0) {  // a yield between two pieces of one message
          if (p == 1) arm(CancelAt::mid_write, m);
          record.phase = Phase::writing;
          co_await asyncio::sleep(0s);
        }
        if (p + 1 == pieces) arm(CancelAt::draining, m);
        co_await send(round, record, writer, std::string_view(message).substr(at, end - at));
        at = end;
      }
      arm(CancelAt::mid_read, m);
      co_await read_echo(record, reader, message);
    }
    if (plan.linger) {  // the server's close() ends the connection: EOF
      record.phase = Phase::lingering;
      linger_ready();
    } else {  // our EOF ends the handler's loop, and its close() ours
      writer.write_eof();
      record.phase = Phase::closing;
    }
    const std::string after = co_await reader.read(1);
    if (!after.empty()) throw std::runtime_error("bytes after the last echo");
    record.phase = Phase::closing;
    writer.close();
    co_await writer.wait_closed();
    record.end = ClientEnd::complete;
  } catch (const asyncio::CancelledError&) {
    cancelled = std::current_exception();
    record.end = ClientEnd::cancelled;
  } catch (const ClientCut& cut) {
    record.end = ClientEnd::cut;
    record.detail = cut.why;
  } catch (const std::system_error& error) {
    record.end = ClientEnd::cut;
    record.detail = error.what();
  } catch (const std::exception& error) {
    record.end = ClientEnd::failed;
    record.detail = error.what();
  }
  if (!connection) {
    if (cancelled) std::rethrow_exception(cancelled);
    co_return;
  }
  StreamWriter& writer = connection->second;
  if (cancelled && plan.graceful_close) {
    // Python's `finally: writer.close(); await writer.wait_closed()`: the buffered bytes go out
    // first, so this waits for the server to read them.
    writer.close();
    try {
      co_await asyncio::wait_for(writer.wait_closed(), 20s);
    } catch (const std::system_error&) {  // the server went away first
    } catch (const asyncio::TimeoutError&) {
      record.end = ClientEnd::failed;
      record.detail = "close() after a cancellation did not finish within 20 s";
    }
  } else {
    writer.abort();
  }
  if (cancelled) std::rethrow_exception(cancelled);
}

// --- The server's handler -----------------------------------------------------------------------

/// Echoes until EOF: read(n), write, drain; then closes. Records what it read and wrote.
Coro<void> echo(Round& round, StreamReader reader, StreamWriter writer) {
  if (round.servers_used == round.servers.size()) {
    ++round.unexpected_connections;
    co_return;
  }
  ServerRecord& record = round.servers[round.servers_used++];
  record.task = asyncio::current_task();
  struct Finished {
    ServerRecord& record;
    ~Finished() { record.finished = true; }
  } finished{record};
  ++round.handlers_started;
  round.peak_active = std::max(round.peak_active, round.server->active_connections());
  if (round.handlers_started == round.connections) round.all_accepted.set();

  ServerPlan plan;
  std::exception_ptr cancelled;
  try {
    const std::string header = co_await reader.readexactly(4);
    record.read += 4;
    record.id = id_of(header);
    plan = server_plan(*record.id, round.chaos);
    if (plan.small_send_buffer) {
      shrink_send_buffer(writer);
      writer.set_write_buffer_limits(4096, 1024);
    }
    writer.write(header);
    record.written += 4;
    record.phase = Phase::draining;
    co_await writer.drain();
    for (std::size_t k = 0;; ++k) {
      if (plan.cancel == CancelAt::mid_read && plan.cancel_round == k) cancel_soon(record.task);
      record.phase = Phase::reading;
      const std::string data = co_await reader.read(static_cast<std::ptrdiff_t>(plan.read_size));
      if (data.empty()) break;
      record.read += data.size();
      writer.write(data);
      record.written += data.size();
      // A drain that will wait: the buffer is above the high-water mark.
      if (writer.get_write_buffer_size() > (plan.small_send_buffer ? 4096 : kHighWater)) {
        ++round.server_drains_waited;
        if (plan.cancel == CancelAt::draining && k >= plan.cancel_round) {
          cancel_soon(record.task);
          plan.cancel = CancelAt::never;
        }
      }
      record.phase = Phase::draining;
      co_await writer.drain();
    }
    record.phase = Phase::closing;
    writer.close();
    co_await writer.wait_closed();
    record.end = ServerEnd::clean;
  } catch (const asyncio::CancelledError&) {
    cancelled = std::current_exception();
    record.end = ServerEnd::cancelled;
  } catch (const asyncio::IncompleteReadError& error) {
    record.read += error.partial().size();
    record.end = ServerEnd::no_header;
  } catch (const std::system_error& error) {
    record.end = ServerEnd::peer_error;
    record.detail = error.what();
  }
  if (cancelled) {
    if (plan.abort_on_cancel) writer.abort();  // else dropping the last handle aborts it
    std::rethrow_exception(cancelled);
  }
}

// --- One round ----------------------------------------------------------------------------------

/// Awaits `block` until `deadline`; false when the deadline passed first.
template <class Block>
Coro<bool> before(asyncio::TimePoint deadline, Block block) {
  try {
    co_await asyncio::timeout_at(deadline, std::move(block));
  } catch (const asyncio::TimeoutError&) {
    co_return false;
  }
  co_return true;
}

/// Waits until every task in `tasks` is done, or `deadline`; gives how many are still pending.
Coro<std::size_t> wait_all(std::vector<asyncio::Task<void>> tasks, asyncio::TimePoint deadline) {
  if (tasks.empty()) co_return 0;
  const auto left =
      std::max<asyncio::Clock::duration>(deadline - asyncio::get_running_loop().time(), 1ms);
  auto [done, pending] = co_await asyncio::wait(std::move(tasks), left);
  co_return pending.size();
}

Coro<std::size_t> wait_all(std::vector<asyncio::TaskRef> tasks, asyncio::TimePoint deadline) {
  if (tasks.empty()) co_return 0;
  const auto left =
      std::max<asyncio::Clock::duration>(deadline - asyncio::get_running_loop().time(), 1ms);
  auto [done, pending] = co_await asyncio::wait(std::move(tasks), left);
  co_return pending.size();
}

struct Timings {
  double open_s = 0, traffic_s = 0, close_s = 0;
  long listen_overflows = 0;  // while the connections were opened
  std::size_t fds_at_peak = 0;
  std::size_t active_at_peak = 0;   // server.active_connections() once every client connected
  std::size_t active_at_close = 0;  // and when server.close() was called
};

std::string progress(const Round& round) {
  std::ostringstream out;
  std::size_t by_end[6] = {};
  for (const ClientRecord& c : round.clients) ++by_end[static_cast<int>(c.end)];
  out << round.connected << " of " << round.connections << " clients connected, "
      << round.handlers_started << " handlers started; clients not started " << by_end[0]
      << ", running " << by_end[1] << ", complete " << by_end[2] << ", cut " << by_end[3]
      << ", cancelled " << by_end[4] << ", failed " << by_end[5] << "; server active "
      << (round.server ? round.server->active_connections() : 0);
  return out.str();
}

Coro<Timings> run_round(Round& round, asyncio::TimePoint deadline) {
  Timings timings;
  asyncio::EventLoop& loop = asyncio::get_running_loop();
  asyncio::ServerOptions options;
  options.backlog = kBacklog;
  // The handler reads `round.server`, set below before any connection can be accepted (the
  // server accepts on a later loop iteration).
  asyncio::Server server = co_await asyncio::start_server(
      [&round](StreamReader reader, StreamWriter writer) {
        return echo(round, std::move(reader), std::move(writer));
      },
      "127.0.0.1", 0, options);
  round.server = &server;
  round.port = server.addresses().at(0).port();

  // 1. Open every connection. At most kConnectSlots connects are in flight, and the server
  // accepts up to `backlog` connections each time the loop finds its socket ready, so the
  // accept queue stays far below kBacklog (1024, under the usual somaxconn of 4096) and the
  // kernel drops no handshake (a dropped one would cost a second-long SYN retry). The kernel's
  // ListenOverflows counter is reported to show it.
  auto started = loop.time();
  const long overflows_before = listen_overflows();
  std::vector<asyncio::Task<void>> tasks;
  tasks.reserve(round.clients.size());
  for (std::size_t id = 0; id < round.connections; ++id)
    tasks.push_back(asyncio::create_task(client(round, id)));
  const bool opened = co_await before(deadline, [&round](asyncio::Timeout&) -> Coro<void> {
    co_await round.all_connected.wait();
    co_await round.all_accepted.wait();
  });
  timings.open_s = std::chrono::duration<double>(loop.time() - started).count();
  timings.listen_overflows = listen_overflows() - overflows_before;
  // Nothing has been sent or closed yet: this is the peak, every connection open on both sides.
  timings.fds_at_peak = open_fds();
  timings.active_at_peak = server.active_connections();
  round.peak_active = std::max(round.peak_active, timings.active_at_peak);
  EXPECT_EQ(timings.active_at_peak, round.connections)
      << "the server's live connections at the peak";
  if (!opened) {
    round.gave_up = true;
    ADD_FAILURE() << "connections not all open before the deadline: " << progress(round);
    for (auto& task : tasks) task.cancel();
  }

  // 2. Traffic, and the cancellations.
  started = loop.time();
  std::vector<asyncio::TimerHandle> timers;
  Rng chaos(mix(run_seed, 0xc4a05));
  if (opened && round.chaos) {
    for (std::size_t id = 0; id < round.connections; ++id) {
      const ClientPlan& plan = round.clients[id].plan;
      if (plan.cancel == CancelAt::timer) {
        timers.push_back(
            loop.call_later(plan.cancel_delay, [task = tasks[id]]() mutable { task.cancel(); }));
      }
    }
    for (std::size_t i = 0; i < round.servers_used;
         ++i) {  // 2 % of the handlers, by their recorded task
      if (!chaos.chance(20)) continue;
      const auto delay = std::chrono::milliseconds(chaos.between(0, 1500));
      timers.push_back(
          loop.call_later(delay, [task = round.servers[i].task]() mutable { task.cancel(); }));
    }
  }
  round.go.set();
  if (opened) {
    for (std::size_t id = round.connections; id < round.clients.size();
         ++id) {  // cancelled before or while connecting
      tasks.push_back(asyncio::create_task(client(round, id)));
      if (round.clients[id].plan.cancel == CancelAt::before_start) tasks.back().cancel();
    }
  }
  // Every client but the lingering ones ends by itself; those wait for the server's close.
  std::vector<asyncio::Task<void>> ending;
  for (std::size_t id = 0; id < tasks.size(); ++id) {
    if (!round.clients[id].plan.linger) ending.push_back(tasks[id]);
  }
  std::size_t pending = co_await wait_all(std::move(ending), deadline);
  const bool lingering = co_await before(
      deadline, [&round](asyncio::Timeout&) -> Coro<void> { co_await round.all_lingering.wait(); });
  timings.traffic_s = std::chrono::duration<double>(loop.time() - started).count();
  for (asyncio::TimerHandle& timer : timers) timer.cancel();
  if (pending > 0 || !lingering) {
    round.gave_up = true;
    ADD_FAILURE() << pending << " client tasks still running at the deadline, "
                  << round.lingerers_ready << " of " << round.lingerers
                  << " lingering ones waiting: " << progress(round);
  }

  // 3. Close the server, with the lingering clients' connections still open: it closes them,
  // and wait_closed() returns once they are all gone.
  started = loop.time();
  const std::size_t active_at_close = server.active_connections();
  if (!round.gave_up) {
    EXPECT_LE(active_at_close, round.lingerers) << "connections open that no client holds";
  }
  server.close();  // stops listening; the lingering connections stay open (Python's close())
  server.close_clients();
  const bool closed =
      co_await before(std::max(deadline, loop.time() + kGrace), server.wait_closed());
  if (!closed) {
    round.gave_up = true;
    ADD_FAILURE() << "server.wait_closed() did not return before the deadline; "
                  << server.active_connections() << " of " << active_at_close
                  << " connections still open";
    server.abort_clients();
  }
  EXPECT_EQ(server.active_connections(), 0u);
  pending = co_await wait_all(tasks, std::max(deadline, loop.time() + kGrace));
  if (pending > 0) {
    round.gave_up = true;
    ADD_FAILURE() << pending
                  << " client tasks still running after the server closed: " << progress(round);
    for (auto& task : tasks) task.cancel();
    pending = co_await wait_all(tasks, loop.time() + kGrace);
    EXPECT_EQ(pending, 0u) << "client tasks still running after being cancelled";
  }
  for (std::size_t id = 0; id < tasks.size(); ++id) {
    if (tasks[id].done()) round.clients[id].task_cancelled = tasks[id].cancelled();
  }
  tasks.clear();
  // No permit was lost to a client cancelled while waiting for one, or just after being handed
  // one: every permit can be taken again at once.
  for (auto [slots, count] : {std::pair{&round.connect_slots, kConnectSlots},
                              std::pair{&round.extra_slots, kExtraSlots}}) {
    std::size_t free = 0;
    while (free < count && !slots->locked()) {
      co_await slots->acquire();
      ++free;
    }
    EXPECT_EQ(free, count) << "connect slots lost";
    for (std::size_t i = 0; i < free; ++i) slots->release();
  }
  timings.active_at_close = active_at_close;
  std::vector<asyncio::TaskRef> handlers;
  for (std::size_t i = 0; i < round.servers_used; ++i) {
    if (!round.servers[i].task.done()) handlers.push_back(round.servers[i].task);
  }
  pending = co_await wait_all(std::move(handlers), std::max(deadline, loop.time() + kGrace));
  EXPECT_EQ(pending, 0u) << "handler tasks still running after the server closed";
  timings.close_s = std::chrono::duration<double>(loop.time() - started).count();
  for (std::size_t i = 0; i < round.servers_used; ++i)
    round.servers[i].task = {};  // frees the task states
  round.server = nullptr;
  co_return timings;
}

// --- The accounting -----------------------------------------------------------------------------

struct Tally {
  std::size_t complete = 0, cut = 0, cancelled = 0, never_started = 0;
  std::size_t lingered = 0;  // complete clients that the server's close() ended
  std::size_t clients_cancelled_in[static_cast<int>(Phase::count)] = {};
  std::size_t handlers_cancelled_in[static_cast<int>(Phase::count)] = {};
  std::size_t server_clean = 0, server_cancelled = 0, server_peer_error = 0, server_no_header = 0;
  std::uint64_t echoed = 0;  // bytes of complete connections, each way
};

/// Checks that every byte is accounted for, on both sides; gives the counts.
Tally check_accounting(const Round& round) {
  Tally tally;
  EXPECT_EQ(round.unexpected_connections, 0u);
  std::vector<const ServerRecord*> by_id(round.clients.size(), nullptr);
  std::size_t anonymous_cancelled = 0;
  for (std::size_t i = 0; i < round.servers_used; ++i) {
    const ServerRecord& s = round.servers[i];
    EXPECT_TRUE(s.finished) << "handler " << i << " never finished";
    EXPECT_LE(s.written, s.read) << "handler " << i;
    switch (s.end) {
      case ServerEnd::running:
        ADD_FAILURE() << "handler " << i << " has no outcome";
        break;
      case ServerEnd::clean:
        ++tally.server_clean;
        EXPECT_EQ(s.read, s.written)
            << "handler " << i << " (client " << s.id.value_or(0) << ") ended cleanly";
        break;
      case ServerEnd::cancelled:
        ++tally.server_cancelled;
        ++tally.handlers_cancelled_in[static_cast<int>(s.phase)];
        break;
      case ServerEnd::peer_error:
        ++tally.server_peer_error;
        break;
      case ServerEnd::no_header:
        ++tally.server_no_header;
        break;
    }
    if (!s.id) {
      anonymous_cancelled += s.end == ServerEnd::cancelled;
      continue;
    }
    if (*s.id >= round.clients.size() || by_id[*s.id]) {
      ADD_FAILURE() << "handler " << i << " got a bad or repeated client id " << *s.id;
      continue;
    }
    by_id[*s.id] = &s;
  }

  std::size_t cut_without_handler = 0;
  for (std::size_t id = 0; id < round.clients.size(); ++id) {
    const ClientRecord& c = round.clients[id];
    const ServerRecord* s = by_id[id];
    switch (c.end) {
      case ClientEnd::complete:
        ++tally.complete;
        tally.lingered += c.plan.linger && s != nullptr && s->end == ServerEnd::clean;
        tally.echoed += c.sent;
        break;
      case ClientEnd::cut:
        ++tally.cut;
        break;
      case ClientEnd::cancelled:
        ++tally.cancelled;
        ++tally.clients_cancelled_in[static_cast<int>(c.phase)];
        break;
      case ClientEnd::not_started:
        ++tally.never_started;
        break;
      default:
        break;
    }
    // Whatever happened, no echo differed from what was sent (checked as it arrived).
    EXPECT_NE(c.end, ClientEnd::failed) << "client " << id << ": " << c.detail;
    EXPECT_LE(c.received, c.sent) << "client " << id;
    // After a missed deadline everything left was cut short: the outcomes no longer match.
    if (round.gave_up) continue;

    if (id < round.connections) {
      EXPECT_TRUE(c.connected) << "client " << id << " never connected";
    }
    EXPECT_NE(c.end, ClientEnd::running) << "client " << id << " has no outcome";
    // A task ends cancelled exactly when its body saw the CancelledError (or never ran).
    EXPECT_EQ(c.task_cancelled, c.end == ClientEnd::cancelled || c.end == ClientEnd::not_started)
        << "client " << id;
    if (c.end == ClientEnd::complete) {
      EXPECT_EQ(c.sent, c.planned) << "client " << id;
      EXPECT_EQ(c.received, c.planned) << "client " << id;
      if (s == nullptr) {
        ADD_FAILURE() << "client " << id << " completed but no handler saw it";
      } else {  // the handler read it all and wrote it all back, even if it was cancelled
                // afterwards
        EXPECT_EQ(s->read, c.sent) << "client " << id;
        EXPECT_EQ(s->written, c.received) << "client " << id;
        EXPECT_TRUE(s->end == ServerEnd::clean || s->end == ServerEnd::cancelled)
            << "client " << id;
      }
    }
    if (c.end == ClientEnd::cut) {  // only a cancelled handler goes away before its client
      if (s == nullptr) {
        ++cut_without_handler;
      } else {
        EXPECT_EQ(s->end, ServerEnd::cancelled)
            << "client " << id << " was cut (" << c.detail << ")";
      }
    }
    if (s != nullptr && s->end == ServerEnd::clean) {
      EXPECT_TRUE(c.end == ClientEnd::complete || c.end == ClientEnd::cancelled)
          << "client " << id << " ended " << kClientEndNames[static_cast<int>(c.end)] << " ("
          << c.detail << ") though its handler ended cleanly";
    }
    if (s != nullptr && s->end == ServerEnd::peer_error) {  // only a cancelled client resets
      EXPECT_EQ(c.end, ClientEnd::cancelled)
          << "client " << id << "'s handler failed: " << s->detail;
    }
  }
  // A handler cancelled before the header arrived cuts a client whose id it never learnt.
  EXPECT_LE(cut_without_handler, anonymous_cancelled);
  return tally;
}

// --- The test -----------------------------------------------------------------------------------

std::size_t connections_wanted(bool select_backend) {
  if (const char* env = std::getenv("ASYNCIO_SOAK_CONNECTIONS"); env && *env) {
    return std::max<std::size_t>(std::strtoul(env, nullptr, 10), 1);
  }
  return select_backend ? kSelectConnections : kFullConnections;
}

TEST(SoakTest, ThousandsOfEchoConnectionsWithCancellations) {
  RaisedFdLimit limit;
  const bool select_backend = dynamic_cast<asyncio::selectors::SelectSelector*>(
                                  asyncio::selectors::make_default_selector().get()) != nullptr;
  const std::size_t connections = connections_wanted(select_backend);
  if (const char* env = std::getenv("ASYNCIO_SOAK_SEED"); env && *env)
    run_seed = std::strtoull(env, nullptr, 0);
  const std::size_t extras = std::max<std::size_t>(connections / 50, 2);
  // Both ends of every connection, plus the loop's, the listener and what the process has open.
  const std::size_t needed = 2 * (connections + extras) + open_fds() + 64;
  if (RaisedFdLimit::soft() < needed) {
    GTEST_SKIP() << "RLIMIT_NOFILE's hard limit is " << limit.hard() << ", and " << connections
                 << " connections need about " << needed << " descriptors";
  }
  if (select_backend && connections > kSelectConnections) {
    GTEST_SKIP() << "the select backend cannot watch fds >= FD_SETSIZE (1024)";
  }

  const std::size_t fds_before = open_fds();
  std::vector<asyncio::ExceptionContext> reports;
  std::optional<Round> round;
  Timings timings;
  long rss_start = 0, rss_after = 0, rss_end = 0, rss_high = 0;
  std::size_t heap_start = 0, heap_end = 0;
  {
    std::unique_ptr<asyncio::EventLoop> loop = asyncio::new_event_loop();
    loop->set_exception_handler(
        [&](asyncio::EventLoop&, const asyncio::ExceptionContext& c) { reports.push_back(c); });

    // Warm-up: a few connections, no cancellation.
    {
      Round warm_up(kWarmUpConnections, 0, false);
      loop->run_until_complete(run_round(warm_up, loop->time() + 20s));
      const Tally tally = check_accounting(warm_up);
      EXPECT_EQ(tally.complete, kWarmUpConnections);
    }
    round.emplace(connections, extras, true);
    ::malloc_trim(0);
    rss_start = status_kib("VmRSS");
    heap_start = live_heap_bytes();
    timings = loop->run_until_complete(run_round(*round, loop->time() + kBudget));
    rss_high = status_kib("VmHWM");
    rss_after = status_kib("VmRSS");
    ::malloc_trim(0);
    rss_end = status_kib("VmRSS");
    heap_end = live_heap_bytes();
  }  // the loop is gone
  const std::size_t fds_after = open_fds();

  const Tally tally = check_accounting(*round);
  EXPECT_EQ(fds_after, fds_before) << "descriptors leaked";
  if (!round->gave_up) {
    EXPECT_GE(timings.fds_at_peak, fds_before + 2 * connections) << "at the peak";
    // Every kind of ending happened (else the seed no longer tests them).
    EXPECT_GT(tally.complete, connections * 8 / 10);
    EXPECT_GT(tally.cancelled, 0u);
    EXPECT_GT(tally.cut, 0u);
    EXPECT_GT(tally.server_cancelled, 0u);
    EXPECT_GT(round->client_drains_waited, 0u);
    EXPECT_GT(round->server_drains_waited, 0u);
  }
  // Memory. Both figures are taken after malloc_trim(0), which hands glibc's free pages back to
  // the system: without it, the heap keeps the peak's freed buffers (about 100 MB here) only
  // because glibc does not trim pages below live blocks, which says nothing about this library.
  // What legitimately stays after the round:
  //  - the frame pool's slabs (pooled builds only): every slab grown at the peak, when some
  //    10,000 tasks were alive with their states and nested frames, is kept for reuse (measured
  //    at about 0.9 KiB per task, so under 2 KiB per connection; 3 KiB are allowed);
  //  - the loop's and the selector's per-fd tables, sized for the highest fd (~10,000), the
  //    loop's pool of callback nodes, and the strings the records keep: 4 MiB allowed.
  // A second round on the same loop adds almost nothing (about 30 KiB measured): that growth
  // is the pools reaching their size, not a leak per connection.
  const std::size_t heap_allowance =
      4 * 1024 * 1024 + (asyncio::detail::pooled_frames ? 3 * 1024 * connections : 0);
  EXPECT_LE(heap_end, heap_start + heap_allowance)
      << "bytes still allocated after every connection closed";
#ifndef SOAK_SANITIZED
  // Resident memory also counts pages that a few live blocks keep from being returned: 8 MiB
  // more are allowed for those. (Sanitizer builds keep freed blocks in a quarantine, up to
  // 256 MiB, and never return shadow memory, so their resident size says nothing here; the
  // count of live bytes above is exact there.)
  EXPECT_LE(rss_end, rss_start + static_cast<long>((heap_allowance + 8 * 1024 * 1024) / 1024))
      << "resident memory not back near its start";
#endif
  for (const asyncio::ExceptionContext& report : reports) {
    ADD_FAILURE() << "reported: " << report.message << ": " << asyncio_test::what(report.exception);
  }

  // What happened, for the log.
  const auto phases = [](const std::size_t(&counts)[static_cast<int>(Phase::count)]) {
    std::string text;
    for (int p = 0; p < static_cast<int>(Phase::count); ++p) {
      if (counts[p] == 0) continue;
      text += (text.empty() ? "" : ", ") + std::string(kPhaseNames[p]) + " " +
              std::to_string(counts[p]);
    }
    return text;
  };
  std::printf(
      "soak: seed %#llx; %zu connections, and %zu more cancelled before or while connecting\n",
      static_cast<unsigned long long>(run_seed), connections, extras);
  std::printf(
      "soak: %zu open at once at the peak (%zu at most); fds: %zu before, %zu at the peak, %zu "
      "after\n",
      timings.active_at_peak, round->peak_active, fds_before, timings.fds_at_peak, fds_after);
  std::printf(
      "soak: open %.2f s (listen overflows: %ld), traffic %.2f s, close %.2f s (%zu connections "
      "left)\n",
      timings.open_s, timings.listen_overflows, timings.traffic_s, timings.close_s,
      timings.active_at_close);
  std::printf(
      "soak: clients: complete %zu (%zu of them ended by server.close_clients()), cut by their "
      "handler "
      "%zu, "
      "cancelled %zu, never started %zu; %llu bytes echoed to complete ones\n",
      tally.complete, tally.lingered, tally.cut, tally.cancelled, tally.never_started,
      static_cast<unsigned long long>(tally.echoed));
  std::printf(
      "soak: handlers: clean %zu, cancelled %zu, reset by their client %zu, no header %zu\n",
      tally.server_clean, tally.server_cancelled, tally.server_peer_error, tally.server_no_header);
  std::printf("soak: clients cancelled while %s\n", phases(tally.clients_cancelled_in).c_str());
  std::printf("soak: handlers cancelled while %s\n", phases(tally.handlers_cancelled_in).c_str());
  std::printf("soak: drains that waited: %zu in clients, %zu in handlers\n",
              round->client_drains_waited, round->server_drains_waited);
  std::printf(
      "soak: VmRSS %ld KiB at the start, %ld KiB at most, %ld KiB after the round, %ld KiB after "
      "malloc_trim\n",
      rss_start, rss_high, rss_after, rss_end);
  std::printf("soak: heap in use: %zu KiB at the start, %zu KiB at the end (%zu KiB allowed)\n",
              heap_start / 1024, heap_end / 1024, (heap_start + heap_allowance) / 1024);
}

}  // namespace
