// libFuzzer harness for the TLS layer's server side (src/tls/tls_transport.cpp): arbitrary bytes
// arrive as a client's records. The layer runs over a transport that only records what it is
// asked (so no socket is involved), on a real loop, with a Protocol that counts what it is told.
// It must never crash, leak or loop; and whatever the bytes, the protocol hears connection_made
// at most once, nothing before it, and connection_lost exactly once when the connection ends.
//
// Input layout: the first byte is the flags: bit 0, the peer's EOF after the data; bit 1, the
// protocol pauses reading at its first data; bits 2-7, the size of the pieces the data is fed
// in (1 + value * 11 bytes). The rest is the data. The seeds (corpus/tls_server, made by
// make_corpus.py) are real ClientHellos.
#include <asyncio/asyncio.hpp>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "support/test_certificates.hpp"
#include "tls/tls_transport.hpp"

namespace {

/// The transport under the TLS layer: records what the layer does to it.
struct RecordingTransport final : asyncio::Transport {
  std::size_t written = 0;
  bool closed = false;
  bool reading = true;
  std::any get_extra_info(std::string_view) const override { return {}; }
  bool is_closing() const noexcept override { return closed; }
  void close() override { closed = true; }
  std::shared_ptr<asyncio::BaseProtocol> get_protocol() const noexcept override { return nullptr; }
  void set_protocol(std::shared_ptr<asyncio::BaseProtocol>) override {}
  bool is_reading() const noexcept override { return reading; }
  void pause_reading() override { reading = false; }
  void resume_reading() override { reading = true; }
  void write(std::string_view data) override { written += data.size(); }
  void writelines(std::span<const std::string_view> pieces) override {
    for (auto piece : pieces) write(piece);
  }
  void write_eof() override {}
  bool can_write_eof() const noexcept override { return true; }
  void abort() override { closed = true; }
  void set_write_buffer_limits(std::optional<std::size_t>, std::optional<std::size_t>) override {}
  std::size_t get_write_buffer_size() const noexcept override { return 0; }
  std::pair<std::size_t, std::size_t> get_write_buffer_limits() const noexcept override {
    return {0, 0};
  }
};

struct CountingProtocol final : asyncio::Protocol {
  int made = 0, lost = 0, eofs = 0;
  std::size_t received = 0;
  bool pause_at_data = false;
  std::shared_ptr<asyncio::Transport> transport;
  void connection_made(std::shared_ptr<asyncio::Transport> t) override {
    ++made;
    transport = std::move(t);
  }
  void data_received(std::string_view data) override {
    if (made != 1 || lost) std::abort();
    received += data.size();
    if (pause_at_data) transport->pause_reading();
  }
  bool eof_received() override {
    ++eofs;
    return false;
  }
  void connection_lost(std::exception_ptr) override {
    ++lost;
    transport.reset();
  }
};

std::unique_ptr<asyncio::EventLoop> loop;
std::shared_ptr<asyncio::ssl::SSLContext> context;

void run_ready_callbacks() {
  for (int i = 0; i < 3; ++i) {
    loop->call_soon([] { loop->stop(); });
    loop->run_forever();
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  loop = asyncio::new_event_loop();
  const auto& certificates = asyncio_test::TestCertificates::get();
  context = asyncio::ssl::create_default_context(asyncio::ssl::Purpose::CLIENT_AUTH);
  context->load_cert_chain(certificates.server.cert, certificates.server.key);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t flags = data[0];
  const std::size_t piece = 1 + (flags >> 2) * 11;
  auto protocol = std::make_shared<CountingProtocol>();
  protocol->pause_at_data = flags & 2;
  asyncio::detail::TLSSettings settings;
  settings.context = context;
  settings.server_side = true;
  auto below = std::make_shared<RecordingTransport>();
  {
    auto tls = asyncio::detail::TLSTransport::create(*loop, settings, protocol);
    tls->connection_made(below);
    for (std::size_t at = 1; at < size && !below->closed; at += piece) {
      const std::size_t n = std::min(piece, size - at);
      std::span<char> room = tls->get_buffer(n);
      if (room.size() < n) std::abort();
      std::memcpy(room.data(), data + at, n);
      tls->buffer_updated(n);
      run_ready_callbacks();
    }
    if ((flags & 1) && !below->closed) tls->eof_received();
    run_ready_callbacks();
    tls->connection_lost(nullptr);  // what the transport below does last, in every case
    run_ready_callbacks();
  }
  if (protocol->made > 1 || protocol->lost != protocol->made || protocol->eofs > 1) std::abort();
  return 0;
}
