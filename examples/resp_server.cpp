// A Redis-protocol (RESP2) server: redis-cli and redis-benchmark talk to it as to redis-server
// 7, for the commands of resp/commands.hpp, on one loop with one keyspace in memory (no
// persistence). Each connection is a BufferedProtocol: the transport reads into the
// connection's own buffer, every complete request in it is parsed in place (resp/
// request_parser.hpp: arguments are views of that buffer) and run at once, and the replies of
// one read go out in one write, so a pipelined batch costs one read and one write. Malformed
// input gets redis-server's "-ERR Protocol error: ..." and the connection is closed after it.
// Expired keys are removed when looked up, and by a sweep every 100 ms.
//   example_resp_server [PORT]
// PORT is 6379 by default; 0 lets the OS pick a free one (the "Serving on" line tells which).
// Ctrl-C (SIGINT) or SIGTERM stops it.
//   redis-cli -p 6379 set greeting hello
//   redis-benchmark -p 6379 -t set,get,incr,lpush,lpop -c 50 -n 100000 -P 16 -q
#include <asyncio/asyncio.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "resp/commands.hpp"
#include "resp/keyspace.hpp"
#include "resp/reply.hpp"
#include "resp/request_parser.hpp"
#include "stop_signals.hpp"

namespace {

using namespace std::chrono_literals;

/// One client connection: its bytes not yet run, its parser, and the replies of one read.
class RespConnection : public asyncio::BufferedProtocol {
 public:
  explicit RespConnection(resp::CommandExecutor& executor) : executor_(executor) {}

  void connection_made(std::shared_ptr<asyncio::Transport> transport) override {
    transport_ = std::move(transport);
  }

  /// Free room after the unrun bytes: at least kReadSize, the buffer doubled when it has less.
  std::span<char> get_buffer(std::size_t) override {
    if (capacity_ - end_ < kReadSize) {
      std::size_t capacity = capacity_ * 2;
      while (capacity - end_ < kReadSize) capacity *= 2;
      grow_to(capacity);
    }
    return {buffer_.get() + end_, capacity_ - end_};
  }

  void buffer_updated(std::size_t nbytes) override {
    end_ += nbytes;
    run_requests();
  }

  // While the client does not read its replies, read no more requests from it.
  void pause_writing() override { transport_->pause_reading(); }
  void resume_writing() override { transport_->resume_reading(); }

 private:
  static constexpr std::size_t kReadSize = 16 * 1024;  // redis-server's PROTO_IOBUF_LEN
  // At most this much of one unfinished request is held; past it the client is dropped, as
  // redis-server drops one over its client-query-buffer-limit.
  static constexpr std::size_t kMaxRequestBytes = std::size_t{1} << 30;
  // An idle connection's buffer shrinks back to this after a large request.
  static constexpr std::size_t kIdleCapacity = 4 * kReadSize;

  /// Parses and runs every complete request in [begin_, end_), then sends their replies in one
  /// write and keeps the unfinished request's bytes at the front of the buffer.
  void run_requests() {
    bool close = false;
    while (begin_ < end_) {
      const std::string_view input(buffer_.get() + begin_, end_ - begin_);
      const auto status = parser_.parse(input);
      if (status == resp::RequestParser::Status::incomplete) break;
      if (status == resp::RequestParser::Status::error) {
        resp::reply::error(replies_, "ERR " + parser_.error());
        close = true;
        break;
      }
      const auto arguments = parser_.arguments();
      if (!arguments.empty() &&
          executor_.execute(arguments, replies_) == resp::CommandExecutor::After::close) {
        close = true;
      }
      begin_ += parser_.consumed();
      if (close) break;
    }
    if (!replies_.empty()) {
      transport_->write(replies_);
      replies_.clear();
    }
    if (close) {
      transport_->close();  // after the replies
      return;
    }
    if (begin_ == end_) {
      begin_ = end_ = 0;
      if (capacity_ > kIdleCapacity) grow_to(kIdleCapacity);
    } else if (begin_ > 0) {
      std::memmove(buffer_.get(), buffer_.get() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (end_ > kMaxRequestBytes) transport_->abort();
  }

  /// Moves the unrun bytes into a buffer of `capacity` bytes (at least as many as they are).
  void grow_to(std::size_t capacity) {
    auto bigger = std::make_unique_for_overwrite<char[]>(capacity);
    if (end_ > begin_) std::memcpy(bigger.get(), buffer_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
    buffer_ = std::move(bigger);
    capacity_ = capacity;
  }

  resp::CommandExecutor& executor_;
  std::shared_ptr<asyncio::Transport> transport_;
  resp::RequestParser parser_;
  // The received bytes not yet run are [begin_, end_) of buffer_ (capacity_ bytes); between
  // reads begin_ is 0, and they are the unfinished request the parser has partly read.
  std::unique_ptr<char[]> buffer_ = std::make_unique_for_overwrite<char[]>(kIdleCapacity);
  std::size_t capacity_ = kIdleCapacity;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  std::string replies_;  // the replies of the requests run since the last write
};

/// Removes expired keys that nobody looks up: every 100 ms, up to 20 batches of 1,000 entries,
/// going on to the next batch only while a quarter or more of the last one had expired (as
/// redis-server's active expiry cycle does).
asyncio::Coro<> sweep_expired_keys(resp::Keyspace& keyspace) {
  constexpr std::size_t kBatch = 1000;
  for (;;) {
    co_await asyncio::sleep(100ms);
    for (int batch = 0; batch < 20 && keyspace.sweep(kBatch) >= kBatch / 4; ++batch) {
    }
  }
}

asyncio::Coro<> main_coro(int port) {
  resp::Keyspace keyspace;
  resp::CommandExecutor executor(keyspace);
  asyncio::Server server = co_await asyncio::create_server(
      [&executor] { return std::make_shared<RespConnection>(executor); }, "127.0.0.1",
      static_cast<std::uint16_t>(port), {.backlog = 511});  // redis-server's tcp-backlog
  for (const asyncio::SocketAddress& address : server.addresses())
    std::printf("Serving on %s\n", address.to_string().c_str());
  asyncio::Task<void> sweeper = asyncio::create_task(sweep_expired_keys(keyspace));
  asyncio::create_task(close_on_stop_signal(server));
  co_await server.serve_forever();
  co_await server.wait_closed();
  sweeper.cancel();
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each line out at once, also into a pipe or file
  const int port = argc > 1 ? std::atoi(argv[1]) : 6379;
  asyncio::run(main_coro(port));
}
