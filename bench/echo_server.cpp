// Our servers of the echo benchmarks (compare.py echo), in three forms:
//   echo_server PORT              streams: each connection's handler reads up to 64 KiB with
//                                 reader.read, writes it back with writer.write and waits in
//                                 writer.drain, until end of file;
//   echo_server PORT --protocol   a Protocol: data_received writes the bytes back;
//   echo_server PORT --buffered   a BufferedProtocol: the transport reads into the protocol's
//                                 64 KiB buffer, and buffer_updated writes them back from there.
// The protocol forms pause reading while the transport's write buffer is over its high-water
// mark, as drain() does for the streams. With --tls CERT KEY every form serves TLS (ssl= with a
// CLIENT_AUTH default context and that certificate; compare.py tls_echo). Listens on
// 127.0.0.1:PORT (backlog 1024); exits with status 0 on SIGINT or SIGTERM. With --shards N it
// serves the port from N loops on N threads, each listening with SO_REUSEPORT (compare.py
// sharding).
#include <asyncio/asyncio.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include "stop_signals.hpp"  // examples/stop_signals.hpp: close_on_stop_signal(server)

namespace {

asyncio::Coro<> echo(asyncio::StreamReader reader, asyncio::StreamWriter writer) {
  try {
    for (;;) {
      std::string data = co_await reader.read(65536);
      if (data.empty()) break;
      writer.write(data);
      co_await writer.drain();
    }
  } catch (const std::system_error&) {       // reset by the peer
  } catch (const asyncio::ssl::SSLError&) {  // a TLS peer that broke off mid-record
  }
  writer.close();
  co_await writer.wait_closed();
}

/// What both protocol forms share: the transport, and reads paused while writes back up.
template <class Base>
struct EchoBase : Base {
  std::shared_ptr<asyncio::Transport> transport;
  void connection_made(std::shared_ptr<asyncio::Transport> t) override { transport = std::move(t); }
  void pause_writing() override { transport->pause_reading(); }
  void resume_writing() override { transport->resume_reading(); }
};

struct EchoProtocol final : EchoBase<asyncio::Protocol> {
  void data_received(std::string_view data) override { transport->write(data); }
};

struct EchoBuffered final : EchoBase<asyncio::BufferedProtocol> {
  std::array<char, 64 * 1024> buffer;
  std::span<char> get_buffer(std::size_t) override { return buffer; }
  void buffer_updated(std::size_t n) override {
    transport->write(std::string_view(buffer.data(), n));
  }
};

asyncio::Coro<asyncio::Server> listen(int port, std::string_view form,
                                      std::shared_ptr<asyncio::ssl::SSLContext> tls,
                                      bool reuse_port = false) {
  asyncio::ServerOptions options{.backlog = 1024, .reuse_port = reuse_port};
  options.ssl = std::move(tls);
  const auto at = static_cast<std::uint16_t>(port);
  if (form == "--protocol")
    co_return co_await asyncio::create_server([] { return std::make_shared<EchoProtocol>(); },
                                              "127.0.0.1", at, options);
  if (form == "--buffered")
    co_return co_await asyncio::create_server([] { return std::make_shared<EchoBuffered>(); },
                                              "127.0.0.1", at, options);
  co_return co_await asyncio::start_server(echo, "127.0.0.1", at, options);
}

asyncio::Coro<> serve(int port, std::string form, std::shared_ptr<asyncio::ssl::SSLContext> tls) {
  asyncio::Server server = co_await listen(port, form, std::move(tls));
  asyncio::create_task(close_on_stop_signal(server));
  co_await server.serve_forever();
}

/// One shard's server with --shards: Shards owns SIGINT and SIGTERM, and stops every shard.
asyncio::Coro<> serve_shard(int port, std::string form) {
  asyncio::Server server = co_await listen(port, form, nullptr, true);
  co_await server.serve_forever();
}

}  // namespace

int main(int argc, char** argv) {
  std::string form;
  std::shared_ptr<asyncio::ssl::SSLContext> tls;
  int shards = -1;  // none: one loop, on this thread
  bool usage = argc < 2;
  for (int i = 2; i < argc && !usage; ++i) {
    const std::string_view arg = argv[i];
    if ((arg == "--protocol" || arg == "--buffered") && form.empty()) {
      form = arg;
    } else if (arg == "--tls" && i + 2 < argc && !tls) {
      tls = asyncio::ssl::create_default_context(asyncio::ssl::Purpose::CLIENT_AUTH);
      tls->load_cert_chain(argv[i + 1], argv[i + 2]);
      i += 2;
    } else if (arg == "--shards" && i + 1 < argc && shards < 0 && !tls) {
      shards = std::atoi(argv[++i]);
    } else {
      usage = true;
    }
  }
  if (usage) {
    std::fprintf(stderr, "usage: %s PORT [--protocol | --buffered] [--tls CERT KEY | --shards N]\n",
                 argv[0]);
    return 2;
  }
  if (shards >= 0) {
    const int port = std::atoi(argv[1]);
    try {
      asyncio::run_sharded(static_cast<std::size_t>(shards),
                           [&](std::size_t) { return serve_shard(port, form); });
    } catch (const asyncio::KeyboardInterrupt&) {  // Ctrl-C stopped every shard: a normal end
    }
    return 0;
  }
  asyncio::run(serve(std::atoi(argv[1]), form, std::move(tls)));
}
