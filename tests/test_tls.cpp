// TLS (asyncio/ssl.hpp, ssl= on connections and servers, start_tls) on real sockets: our client
// and server together, against openssl s_server / s_client and curl; certificate verification
// and its errors; the handshake and shutdown timeouts; garbage, truncated records and a close
// without close_notify; flow control over 100 MB; STARTTLS; 1,000 connections at once.
// Certificates are made at run time (support/test_certificates.hpp).
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "support/asyncio_test.hpp"
#include "support/test_certificates.hpp"

namespace {

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio::StreamReader;
using asyncio::StreamWriter;
using asyncio_test::TestCertificates;
namespace ssl = asyncio::ssl;

using Field = std::pair<std::string, std::string>;

const TestCertificates& certs() { return TestCertificates::get(); }

std::shared_ptr<ssl::SSLContext> server_context(const TestCertificates::Pair& pair) {
  auto context = ssl::create_default_context(ssl::Purpose::CLIENT_AUTH);
  context->load_cert_chain(pair.cert, pair.key);
  return context;
}
std::shared_ptr<ssl::SSLContext> server_context() { return server_context(certs().server); }

std::shared_ptr<ssl::SSLContext> client_context() {
  return ssl::create_default_context(ssl::Purpose::SERVER_AUTH, certs().ca);
}

std::uint16_t port_of(const asyncio::Server& server) { return server.addresses().at(0).port(); }

/// Echoes each line until EOF, then closes.
Coro<void> echo_lines(StreamReader reader, StreamWriter writer) {
  while (auto line = co_await reader.anext()) {
    writer.write(*line);
    co_await writer.drain();
  }
  writer.close();
  co_await writer.wait_closed();
}

asyncio::ServerOptions tls_server_options(std::shared_ptr<ssl::SSLContext> context) {
  asyncio::ServerOptions options;
  options.ssl = std::move(context);
  return options;
}

asyncio::ConnectionOptions tls_client_options(std::shared_ptr<ssl::SSLContext> context,
                                              std::optional<std::string> hostname = "localhost") {
  asyncio::ConnectionOptions options;
  options.ssl = std::move(context);
  options.server_hostname = std::move(hostname);
  return options;
}

/// A free loopback port (for a server another program opens).
std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t size = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  ::close(fd);
  return ntohs(address.sin_port);
}

/// Reads `reader` until a line containing `text` (or EOF); returns everything read.
Coro<std::string> read_until_text(StreamReader reader, std::string text) {
  std::string all;
  while (auto line = co_await reader.anext()) {
    all += *line;
    if (line->find(text) != std::string::npos) break;
  }
  co_return all;
}

using TLSTest = asyncio_test::LoopFixture;

TEST_F(TLSTest, ClientAndServerExchangeDataAndReportTheSession) {
  run([&]() -> Coro<void> {
    auto context = server_context();
    context->set_alpn_protocols(std::vector<std::string>{"h2", "http/1.1"});
    std::optional<std::string> seen_name;
    asyncio::Server server = co_await asyncio::start_server(
        [&](StreamReader reader, StreamWriter writer) -> Coro<void> {
          auto object = std::any_cast<ssl::SSLObject>(writer.get_extra_info("ssl_object"));
          seen_name = object.server_name();
          co_await echo_lines(reader, writer);
        },
        "127.0.0.1", 0, tls_server_options(context));
    auto client = client_context();
    client->set_alpn_protocols(std::vector<std::string>{"http/1.1", "h2"});
    auto [reader, writer] =
        co_await asyncio::open_connection("127.0.0.1", port_of(server), tls_client_options(client));
    writer.write("hello over TLS\n");
    EXPECT_EQ(co_await reader.readline(), "hello over TLS\n");
    EXPECT_EQ(seen_name, "localhost");
    auto object = std::any_cast<ssl::SSLObject>(writer.get_extra_info("ssl_object"));
    EXPECT_EQ(object.version(), "TLSv1.3");
    EXPECT_EQ(std::any_cast<std::optional<std::string>>(writer.get_extra_info("alpn_protocol")),
              "h2");  // the server's preference
    auto cipher = std::any_cast<std::optional<ssl::CipherInfo>>(writer.get_extra_info("cipher"));
    if (!cipher) co_return ADD_FAILURE() << "no cipher";
    EXPECT_EQ(cipher->protocol, "TLSv1.3");
    EXPECT_GT(cipher->secret_bits, 0);
    auto peer =
        std::any_cast<std::optional<ssl::PeerCertificate>>(writer.get_extra_info("peercert"));
    if (!peer) co_return ADD_FAILURE() << "no certificate";
    EXPECT_EQ(peer->subject.back(), Field("commonName", "localhost"));
    EXPECT_EQ(peer->issuer.back().second, "asyncio test CA");
    EXPECT_EQ(peer->subject_alt_name.at(0), Field("DNS", "localhost"));
    EXPECT_EQ(peer->subject_alt_name.at(1), Field("IP Address", "127.0.0.1"));
    EXPECT_NE(peer->not_after.find("GMT"), std::string::npos);
    EXPECT_EQ(std::any_cast<std::shared_ptr<ssl::SSLContext>>(writer.get_extra_info("sslcontext")),
              client);
    EXPECT_FALSE(std::any_cast<std::optional<std::string>>(writer.get_extra_info("compression")));
    EXPECT_EQ(std::any_cast<asyncio::SocketAddress>(writer.get_extra_info("peername")).port(),
              port_of(server));
    EXPECT_FALSE(writer.can_write_eof());
    EXPECT_THROW(writer.write_eof(), asyncio::NotImplementedError);
    // Python's SSL transport marks: 512 KiB high, a quarter of it low, also when reset.
    using Limits = std::pair<std::size_t, std::size_t>;
    asyncio::Transport& transport = writer.get_transport();
    EXPECT_EQ(transport.get_write_buffer_limits(), Limits(128 * 1024, 512 * 1024));
    transport.set_write_buffer_limits(1000);
    EXPECT_EQ(transport.get_write_buffer_limits(), Limits(250, 1000));
    transport.set_write_buffer_limits();
    EXPECT_EQ(transport.get_write_buffer_limits(), Limits(128 * 1024, 512 * 1024));
    writer.close();
    co_await writer.wait_closed();
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_F(TLSTest, TLS12CanBeChosen) {
  run([&]() -> Coro<void> {
    asyncio::Server server = co_await asyncio::start_server(echo_lines, "127.0.0.1", 0,
                                                            tls_server_options(server_context()));
    auto client = client_context();
    client->set_maximum_version(ssl::TLSVersion::TLSv1_2);
    auto [reader, writer] =
        co_await asyncio::open_connection("127.0.0.1", port_of(server), tls_client_options(client));
    writer.write("twelve\n");
    EXPECT_EQ(co_await reader.readline(), "twelve\n");
    EXPECT_EQ(std::any_cast<ssl::SSLObject>(writer.get_extra_info("ssl_object")).version(),
              "TLSv1.2");
    writer.close();
    co_await writer.wait_closed();
    server.close();
    co_await server.wait_closed();
  }());
}

// --- Against real peers --------------------------------------------------------------------------

struct OpenSSLPeer : TLSTest, ::testing::WithParamInterface<const char*> {};

TEST_P(OpenSSLPeer, OurClientTalksToOpensslSServer) {
  const std::string version = GetParam();
  run([&]() -> Coro<void> {
    const std::uint16_t port = free_port();
    const std::vector<std::string> args{"s_server",
                                        "-accept",
                                        "127.0.0.1:" + std::to_string(port),
                                        "-cert",
                                        certs().server.cert,
                                        "-key",
                                        certs().server.key,
                                        "-alpn",
                                        "h2,http/1.1",
                                        "-" + version,
                                        "-naccept",
                                        "1"};
    asyncio::SubprocessOptions options{.stdin = asyncio::subprocess::PIPE,
                                       .stdout = asyncio::subprocess::PIPE,
                                       .stderr = asyncio::subprocess::DEVNULL};
    asyncio::Process process = co_await asyncio::create_subprocess_exec("openssl", args, options);
    co_await read_until_text(*process.stdout, "ACCEPT");  // listening now
    auto client = client_context();
    client->set_alpn_protocols(std::vector<std::string>{"h2"});
    auto [reader, writer] =
        co_await asyncio::open_connection("127.0.0.1", port, tls_client_options(client));
    writer.write("from our client\n");
    const std::string seen = co_await read_until_text(*process.stdout, "from our client");
    EXPECT_NE(seen.find("from our client"), std::string::npos);
    process.stdin->write("from s_server\n");  // s_server sends its stdin to the client
    EXPECT_EQ(co_await reader.readline(), "from s_server\n");
    auto object = std::any_cast<ssl::SSLObject>(writer.get_extra_info("ssl_object"));
    EXPECT_EQ(object.version(), version == "tls1_3" ? "TLSv1.3" : "TLSv1.2");
    EXPECT_EQ(object.selected_alpn_protocol(), "h2");
    writer.close();
    co_await writer.wait_closed();
    process.kill();
    co_await process.wait();
  }());
}

TEST_P(OpenSSLPeer, OpensslSClientTalksToOurServer) {
  const std::string version = GetParam();
  run([&]() -> Coro<void> {
    auto context = server_context();
    context->set_alpn_protocols(std::vector<std::string>{"http/1.1"});
    std::optional<std::string> seen_name;
    asyncio::Server server = co_await asyncio::start_server(
        [&](StreamReader reader, StreamWriter writer) -> Coro<void> {
          seen_name =
              std::any_cast<ssl::SSLObject>(writer.get_extra_info("ssl_object")).server_name();
          auto line = co_await reader.readline();
          writer.write("echo: " + line);
          writer.close();  // close_notify: s_client then ends cleanly
          co_await writer.wait_closed();
        },
        "127.0.0.1", 0, tls_server_options(context));
    const std::vector<std::string> args{"s_client",
                                        "-connect",
                                        "127.0.0.1:" + std::to_string(port_of(server)),
                                        "-CAfile",
                                        certs().ca,
                                        "-servername",
                                        "localhost",
                                        "-verify_return_error",
                                        "-alpn",
                                        "http/1.1",
                                        "-" + version};
    asyncio::SubprocessOptions options{.stdin = asyncio::subprocess::PIPE,
                                       .stdout = asyncio::subprocess::PIPE,
                                       .stderr = asyncio::subprocess::DEVNULL};
    asyncio::Process process = co_await asyncio::create_subprocess_exec("openssl", args, options);
    process.stdin->write("from s_client\n");
    const std::string seen = co_await read_until_text(*process.stdout, "echo: from s_client");
    EXPECT_NE(seen.find("echo: from s_client"), std::string::npos);
    EXPECT_NE(seen.find("Verify return code: 0 (ok)"), std::string::npos);
    EXPECT_NE(seen.find("ALPN protocol: http/1.1"), std::string::npos);
    EXPECT_NE(seen.find(version == "tls1_3" ? "TLSv1.3" : "TLSv1.2"), std::string::npos);
    EXPECT_EQ(seen_name, "localhost");
    process.stdin->close();
    EXPECT_EQ(co_await process.wait(), 0);
    server.close();
    co_await server.wait_closed();
  }());
}

INSTANTIATE_TEST_SUITE_P(Versions, OpenSSLPeer, ::testing::Values("tls1_2", "tls1_3"));

TEST_F(TLSTest, CurlGetsAPageFromOurServer) {
  run([&]() -> Coro<void> {
    auto context = server_context();
    context->set_alpn_protocols(std::vector<std::string>{"http/1.1"});
    asyncio::Server server = co_await asyncio::start_server(
        [](StreamReader reader, StreamWriter writer) -> Coro<void> {
          while (auto line = co_await reader.anext()) {
            if (*line == "\r\n") break;
          }
          writer.write(
              "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\nhello, TLS!\n");
          co_await writer.drain();
          writer.close();
        },
        "127.0.0.1", 0, tls_server_options(context));
    const std::string port = std::to_string(port_of(server));
    const std::vector<std::string> args{"-sS",
                                        "--cacert",
                                        certs().ca,
                                        "--resolve",
                                        "localhost:" + port + ":127.0.0.1",
                                        "https://localhost:" + port + "/"};
    asyncio::Process process = co_await asyncio::create_subprocess_exec(
        "curl", args, {.stdout = asyncio::subprocess::PIPE});
    auto [out, err] = co_await process.communicate();
    EXPECT_EQ(out, "hello, TLS!\n");
    EXPECT_EQ(process.returncode(), 0);
    server.close();
    co_await server.wait_closed();
  }());
}

// --- Verification --------------------------------------------------------------------------------

/// The verify code a client gets from a server presenting `pair`.
Coro<long> verify_failure(const TestCertificates::Pair& pair, std::string hostname,
                          std::shared_ptr<ssl::SSLContext> client) {
  asyncio::Server server = co_await asyncio::start_server(echo_lines, "127.0.0.1", 0,
                                                          tls_server_options(server_context(pair)));
  long code = -1;
  try {
    co_await asyncio::open_connection("127.0.0.1", port_of(server),
                                      tls_client_options(client, hostname));
    ADD_FAILURE() << "the handshake succeeded";
  } catch (const ssl::SSLCertVerificationError& error) {
    code = error.verify_code();
    EXPECT_NE(std::string(error.what()).find("certificate verify failed: "), std::string::npos);
    EXPECT_NE(std::string(error.what()).find(error.verify_message()), std::string::npos);
  }
  server.close();
  co_await server.wait_closed();
  co_return code;
}

TEST_F(TLSTest, VerificationFailuresNameTheirReason) {
  run([&]() -> Coro<void> {
    EXPECT_EQ(co_await verify_failure(certs().expired, "localhost", client_context()),
              X509_V_ERR_CERT_HAS_EXPIRED);
    EXPECT_EQ(co_await verify_failure(certs().server, "other.example", client_context()),
              X509_V_ERR_HOSTNAME_MISMATCH);
    EXPECT_EQ(co_await verify_failure(certs().other_ca_server, "localhost", client_context()),
              X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    EXPECT_EQ(co_await verify_failure(certs().self_signed, "localhost", client_context()),
              X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
    // Nothing trusted at all: the CA is unknown.
    EXPECT_EQ(co_await verify_failure(certs().server, "localhost",
                                      ssl::SSLContext::create(ssl::Protocol::TLS_CLIENT)),
              X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  }());
  // A server's failed handshakes are not reported (Python logs them in debug mode only).
  EXPECT_TRUE(reports.empty());
}

TEST_F(TLSTest, HostnameMismatchSaysWhichName) {
  run([&]() -> Coro<void> {
    asyncio::Server server = co_await asyncio::start_server(echo_lines, "127.0.0.1", 0,
                                                            tls_server_options(server_context()));
    try {
      co_await asyncio::open_connection("127.0.0.1", port_of(server),
                                        tls_client_options(client_context(), "other.example"));
      ADD_FAILURE() << "connected";
    } catch (const ssl::SSLCertVerificationError& error) {
      EXPECT_EQ(error.verify_message(),
                "Hostname mismatch, certificate is not valid for 'other.example'.");
    }
    // An address as server_hostname is checked against the IP addresses.
    auto [reader, writer] = co_await asyncio::open_connection(
        "127.0.0.1", port_of(server), tls_client_options(client_context(), std::nullopt));
    writer.close();
    co_await writer.wait_closed();
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_F(TLSTest, CertNoneConnectsToAnyCertificate) {
  run([&]() -> Coro<void> {
    asyncio::Server server = co_await asyncio::start_server(
        echo_lines, "127.0.0.1", 0, tls_server_options(server_context(certs().self_signed)));
    auto client = ssl::SSLContext::create(ssl::Protocol::TLS_CLIENT);
    EXPECT_THROW(client->set_verify_mode(ssl::VerifyMode::CERT_NONE), std::invalid_argument);
    client->set_check_hostname(false);
    client->set_verify_mode(ssl::VerifyMode::CERT_NONE);
    auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port_of(server),
                                                              tls_client_options(client, ""));
    writer.write("anyone\n");
    EXPECT_EQ(co_await reader.readline(), "anyone\n");
    // Not verified: Python's getpeercert() gives nothing then.
    EXPECT_FALSE(
        std::any_cast<std::optional<ssl::PeerCertificate>>(writer.get_extra_info("peercert")));
    writer.close();
    co_await writer.wait_closed();
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_F(TLSTest, ClientCertificatesRequiredByTheServerAreChecked) {
  run([&]() -> Coro<void> {
    auto context = server_context();
    context->load_verify_locations(certs().ca);
    context->set_verify_mode(ssl::VerifyMode::CERT_REQUIRED);
    std::vector<std::string> clients;
    asyncio::Server server = co_await asyncio::start_server(
        [&](StreamReader reader, StreamWriter writer) -> Coro<void> {
          auto peer =
              std::any_cast<std::optional<ssl::PeerCertificate>>(writer.get_extra_info("peercert"));
          clients.push_back(peer ? peer->subject.back().second : "none");
          co_await echo_lines(reader, writer);
        },
        "127.0.0.1", 0, tls_server_options(context));
    auto with_cert = client_context();
    with_cert->load_cert_chain(certs().client.cert, certs().client.key);
    {
      auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port_of(server),
                                                                tls_client_options(with_cert));
      writer.write("mine\n");
      EXPECT_EQ(co_await reader.readline(), "mine\n");
      writer.close();
      co_await writer.wait_closed();
    }
    // Without one, TLS 1.3 finishes the client's handshake first; the server's alert ends the
    // connection at the first read.
    auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port_of(server),
                                                              tls_client_options(client_context()));
    writer.write("no certificate\n");
    EXPECT_THROW(co_await reader.readline(), ssl::SSLError);
    EXPECT_EQ(clients, std::vector<std::string>{"test client"});
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_F(TLSTest, AnSniCallbackChoosesTheCertificate) {
  run([&]() -> Coro<void> {
    auto localhost = server_context();
    auto fallback = server_context(certs().other_ca_server);  // a CA the client does not trust
    std::vector<std::string> names;
    fallback->set_sni_callback([&](ssl::SSLObject&, std::string_view name) {
      names.emplace_back(name);
      return name == "localhost" ? localhost : nullptr;
    });
    asyncio::Server server =
        co_await asyncio::start_server(echo_lines, "127.0.0.1", 0, tls_server_options(fallback));
    auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port_of(server),
                                                              tls_client_options(client_context()));
    writer.write("by name\n");
    EXPECT_EQ(co_await reader.readline(), "by name\n");
    writer.close();
    co_await writer.wait_closed();
    // No name sent (an address as the host): the callback keeps the fallback, which fails.
    EXPECT_THROW(
        co_await asyncio::open_connection("127.0.0.1", port_of(server),
                                          tls_client_options(client_context(), std::nullopt)),
        ssl::SSLCertVerificationError);
    EXPECT_EQ(names, (std::vector<std::string>{"localhost", ""}));
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_F(TLSTest, ContextsLoadEncryptedKeysAndCaData) {
  auto context = ssl::create_default_context(ssl::Purpose::CLIENT_AUTH);
  EXPECT_THROW(context->load_cert_chain(certs().encrypted.cert, certs().encrypted.key, "wrong"),
               ssl::SSLError);
  EXPECT_THROW(context->load_cert_chain(certs().encrypted.cert, certs().encrypted.key),
               ssl::SSLError);
  context->load_cert_chain(certs().encrypted.cert, certs().encrypted.key, "secret");
  std::string pem;
  {
    std::FILE* in = std::fopen(certs().ca.c_str(), "r");
    char chunk[4096];
    for (std::size_t n; (n = std::fread(chunk, 1, sizeof chunk, in)) > 0;) pem.append(chunk, n);
    std::fclose(in);
  }
  auto client = ssl::create_default_context(ssl::Purpose::SERVER_AUTH, "", "", pem);
  EXPECT_THROW(client->load_verify_locations(), std::invalid_argument);
  EXPECT_THROW(client->load_verify_locations("", "", "not a certificate"), ssl::SSLError);
  run([&]() -> Coro<void> {
    asyncio::Server server =
        co_await asyncio::start_server(echo_lines, "127.0.0.1", 0, tls_server_options(context));
    auto [reader, writer] =
        co_await asyncio::open_connection("127.0.0.1", port_of(server), tls_client_options(client));
    writer.write("encrypted key\n");
    EXPECT_EQ(co_await reader.readline(), "encrypted key\n");
    writer.close();
    co_await writer.wait_closed();
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_F(TLSTest, UnixSocketsCarryTLSToo) {
  const std::string path = certs().directory + "/tls.sock";
  run([&]() -> Coro<void> {
    asyncio::Server server =
        co_await asyncio::start_unix_server(echo_lines, path, tls_server_options(server_context()));
    auto [reader, writer] =
        co_await asyncio::open_unix_connection(path, tls_client_options(client_context()));
    writer.write("over a Unix socket\n");
    EXPECT_EQ(co_await reader.readline(), "over a Unix socket\n");
    writer.close();
    co_await writer.wait_closed();
    server.close();
    co_await server.wait_closed();
  }());
}

/// A Protocol that records what it is told.
struct Recorder : asyncio::Protocol {
  std::shared_ptr<asyncio::Transport> transport;
  std::string received, events;
  std::exception_ptr lost_with;
  void connection_made(std::shared_ptr<asyncio::Transport> t) override {
    transport = std::move(t);
    events += 'm';
  }
  void data_received(std::string_view data) override { received += data; }
  bool eof_received() override {
    events += 'e';
    return false;
  }
  void connection_lost(std::exception_ptr exc) override {
    events += 'l';
    lost_with = exc;
  }
  bool lost() const { return !events.empty() && events.back() == 'l'; }
};

/// A BufferedProtocol echo with a small buffer: records are handed over in many pieces.
struct BufferedEcho : asyncio::BufferedProtocol {
  std::shared_ptr<asyncio::Transport> transport;
  char buffer[5];
  void connection_made(std::shared_ptr<asyncio::Transport> t) override { transport = std::move(t); }
  std::span<char> get_buffer(std::size_t) override { return buffer; }
  void buffer_updated(std::size_t n) override { transport->write(std::string_view(buffer, n)); }
};

TEST_F(TLSTest, ProtocolsRunOverTLS) {
  run([&]() -> Coro<void> {
    asyncio::Server server =
        co_await asyncio::create_server([] { return std::make_shared<BufferedEcho>(); },
                                        "127.0.0.1", 0, tls_server_options(server_context()));
    auto [transport, client] = co_await asyncio::create_connection(
        [] { return std::make_shared<Recorder>(); }, "127.0.0.1", port_of(server),
        tls_client_options(client_context()));
    EXPECT_EQ(client->events, "m");
    EXPECT_EQ(client->transport, transport);
    const std::string sent = "records cut into five-byte pieces and back\n";
    transport->write(sent);
    co_await asyncio_test::wait_until([&] { return client->received.size() == sent.size(); }, 10s,
                                      "the echo");
    EXPECT_EQ(client->received, sent);
    transport->close();
    co_await asyncio_test::wait_until([&] { return client->lost(); }, 10s, "connection_lost");
    EXPECT_EQ(client->events, "ml");
    EXPECT_EQ(client->lost_with, nullptr);
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_F(TLSTest, LoopLevelStartTlsUpgradesATransport) {
  run([&]() -> Coro<void> {
    asyncio::Server server = co_await asyncio::start_server(
        [&](StreamReader reader, StreamWriter writer) -> Coro<void> {
          co_await reader.readline();  // "STARTTLS"
          co_await writer.start_tls(server_context());
          co_await echo_lines(reader, writer);
        },
        "127.0.0.1", 0);
    auto [raw, recorder] = co_await asyncio::create_connection(
        [] { return std::make_shared<Recorder>(); }, "127.0.0.1", port_of(server));
    raw->write("STARTTLS\n");
    asyncio::StartTLSOptions upgrade{.server_hostname = "localhost"};
    std::shared_ptr<asyncio::Transport> secure =
        co_await asyncio::start_tls(raw, recorder, client_context(), upgrade);
    EXPECT_NE(secure, raw);
    // The plain transport now feeds the TLS layer, which calls the protocol.
    EXPECT_EQ(std::dynamic_pointer_cast<asyncio::Transport>(raw->get_protocol()), secure);
    EXPECT_EQ(secure->get_protocol(), recorder);
    secure->write("upgraded\n");
    co_await asyncio_test::wait_until([&] { return recorder->received == "upgraded\n"; }, 10s,
                                      "the echo");
    EXPECT_EQ(recorder->events, "m");  // no second connection_made
    secure->close();
    co_await asyncio_test::wait_until([&] { return recorder->lost(); }, 10s, "connection_lost");
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_F(TLSTest, StartTlsNestsTLSWithinTLS) {
  run([&]() -> Coro<void> {
    asyncio::Server server = co_await asyncio::start_server(
        [&](StreamReader reader, StreamWriter writer) -> Coro<void> {
          EXPECT_EQ(co_await reader.readline(), "STARTTLS\n");
          writer.write("go\n");
          co_await writer.start_tls(server_context());  // the inner session
          co_await echo_lines(reader, writer);
        },
        "127.0.0.1", 0, tls_server_options(server_context()));
    auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port_of(server),
                                                              tls_client_options(client_context()));
    auto outer = std::any_cast<ssl::SSLObject>(writer.get_extra_info("ssl_object"));
    writer.write("STARTTLS\n");
    EXPECT_EQ(co_await reader.readline(), "go\n");
    asyncio::StartTLSOptions inner{.server_hostname = "localhost"};
    co_await writer.start_tls(client_context(), inner);
    auto session = std::any_cast<ssl::SSLObject>(writer.get_extra_info("ssl_object"));
    EXPECT_NE(session.native_handle(), outer.native_handle());
    writer.write("twice wrapped\n");
    EXPECT_EQ(co_await reader.readline(), "twice wrapped\n");
    writer.close();
    co_await writer.wait_closed();
    server.close();
    co_await server.wait_closed();
  }());
}

// Python's start_tls resumes reading: the handshake needs the peer's records.
TEST_F(TLSTest, StartTlsOnAConnectionWhoseReadingIsPausedCompletes) {
  run([&]() -> Coro<void> {
    asyncio::Server server = co_await asyncio::start_server(
        [&](StreamReader reader, StreamWriter writer) -> Coro<void> {
          EXPECT_EQ(co_await reader.readline(), "STARTTLS\n");
          writer.write("go\n");
          co_await writer.start_tls(server_context());
          co_await echo_lines(reader, writer);
        },
        "127.0.0.1", 0);
    auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port_of(server));
    writer.write("STARTTLS\n");
    EXPECT_EQ(co_await reader.readline(), "go\n");
    writer.get_transport().pause_reading();  // by the application
    asyncio::StartTLSOptions upgrade{.server_hostname = "localhost"};
    co_await asyncio::wait_for(writer.start_tls(client_context(), upgrade), 10s);
    writer.write("secure\n");
    EXPECT_EQ(co_await reader.readline(), "secure\n");
    writer.close();
    co_await writer.wait_closed();
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_F(TLSTest, AStartTlsThatCannotBeginLosesNoBytes) {
  run([&]() -> Coro<void> {
    asyncio::Server server = co_await asyncio::start_server(
        [&](StreamReader reader, StreamWriter writer) -> Coro<void> {
          co_await reader.readline();
          writer.write("first\nsecond\n");
          co_await echo_lines(reader, writer);
        },
        "127.0.0.1", 0);
    auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port_of(server));
    writer.write("hello\n");
    EXPECT_EQ(co_await reader.readline(), "first\n");
    // A client context that checks host names, and no name: refused before anything is taken.
    EXPECT_THROW(co_await writer.start_tls(client_context()), std::invalid_argument);
    EXPECT_EQ(co_await reader.readline(), "second\n");
    writer.write("still plain\n");
    EXPECT_EQ(co_await reader.readline(), "still plain\n");
    writer.close();
    co_await writer.wait_closed();
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_F(TLSTest, ConnectAcceptedSocketServesTLS) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  run([&]() -> Coro<void> {
    asyncio::ConnectionOptions server_side;
    server_side.ssl = server_context();
    auto serving = asyncio::create_task(asyncio::connect_accepted_socket(
        [] { return std::make_shared<BufferedEcho>(); }, fds[0], server_side));
    auto [raw, client] = co_await asyncio::connect_accepted_socket(
        [] { return std::make_shared<Recorder>(); }, fds[1]);
    asyncio::StartTLSOptions upgrade{.server_hostname = "localhost"};
    auto secure = co_await asyncio::start_tls(raw, client, client_context(), upgrade);
    co_await serving;  // its handshake is done too
    secure->write("over a socket pair\n");
    co_await asyncio_test::wait_until([&] { return client->received == "over a socket pair\n"; },
                                      10s, "the echo");
    secure->close();
    co_await asyncio_test::wait_until([&] { return client->lost(); }, 10s, "connection_lost");
  }());
}

TEST_F(TLSTest, DebugModeReportsAServersFailedHandshake) {
  loop->set_debug(true);
  run([&]() -> Coro<void> {
    asyncio::Server server = co_await asyncio::start_server(
        echo_lines, "127.0.0.1", 0, tls_server_options(server_context(certs().self_signed)));
    EXPECT_THROW(co_await asyncio::open_connection("127.0.0.1", port_of(server),
                                                   tls_client_options(client_context())),
                 ssl::SSLCertVerificationError);
    co_await asyncio_test::wait_until([&] { return reported("SSL handshake failed") > 0; }, 10s,
                                      "the report");
    server.close();
    co_await server.wait_closed();
  }());
  EXPECT_THROW(client_context()->set_sni_callback(nullptr), std::invalid_argument);
}

TEST_F(TLSTest, SendfileOverTLSWritesTheFileThroughTheTransport) {
  constexpr std::size_t size = 3 * 1024 * 1024 + 17;
  const std::string path = certs().directory + "/sendfile.bin";
  std::string content(size, '\0');
  for (std::size_t i = 0; i < size; ++i) content[i] = static_cast<char>(i * 7 + i / 251);
  {
    std::FILE* out = std::fopen(path.c_str(), "w");
    std::fwrite(content.data(), 1, content.size(), out);
    std::fclose(out);
  }
  const int file = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(file, 0);
  run([&]() -> Coro<void> {
    std::string received;
    asyncio::Server server = co_await asyncio::start_server(
        [&](StreamReader reader, StreamWriter writer) -> Coro<void> {
          received = co_await reader.readexactly(size + 6);
          writer.write("ack\n");
          co_await writer.drain();
          co_await reader.read();  // until the client closes
        },
        "127.0.0.1", 0, tls_server_options(server_context()));
    auto [transport, client] = co_await asyncio::create_connection(
        [] { return std::make_shared<Recorder>(); }, "127.0.0.1", port_of(server),
        tls_client_options(client_context()));
    transport->write("header");
    EXPECT_THROW(co_await loop->sendfile(transport, file, 0, std::nullopt, false),
                 asyncio::SendfileNotAvailableError);
    EXPECT_EQ(co_await loop->sendfile(transport, file), size);
    EXPECT_EQ(::lseek(file, 0, SEEK_CUR), static_cast<off_t>(size));
    // The protocol has its transport back, reading on: the server's answer reaches it.
    EXPECT_EQ(transport->get_protocol(), client);
    co_await asyncio_test::wait_until([&] { return client->received == "ack\n"; }, 10s, "the ack");
    EXPECT_EQ(received, "header" + content);
    transport->close();
    co_await asyncio_test::wait_until([&] { return client->lost(); }, 10s, "connection_lost");
    EXPECT_EQ(client->events, "ml");
    server.close();
    co_await server.wait_closed();
  }());
  ::close(file);
}

// --- Timeouts and bad peers ----------------------------------------------------------------------

TEST_F(TLSTest, APeerThatSendsNothingIsCutOffByTheHandshakeTimeout) {
  run([&]() -> Coro<void> {
    bool handled = false;
    auto options = tls_server_options(server_context());
    options.ssl_handshake_timeout = 200ms;
    asyncio::Server server = co_await asyncio::start_server(
        [&](StreamReader, StreamWriter) -> Coro<void> {
          handled = true;
          co_return;
        },
        "127.0.0.1", 0, options);
    auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port_of(server));
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(co_await asyncio::wait_for(reader.read(), 10s), "");  // closed by the server
    EXPECT_GE(std::chrono::steady_clock::now() - start, 150ms);
    EXPECT_FALSE(handled);
    writer.close();
    server.close();
    co_await server.wait_closed();
    // And a client whose server never answers.
    asyncio::Server silent = co_await asyncio::start_server(
        [](StreamReader reader, StreamWriter) -> Coro<void> { co_await reader.read(); },
        "127.0.0.1", 0);
    auto client = tls_client_options(client_context());
    client.ssl_handshake_timeout = 250ms;
    try {
      co_await asyncio::open_connection("127.0.0.1", port_of(silent), client);
      ADD_FAILURE() << "connected";
    } catch (const std::system_error& error) {
      EXPECT_EQ(error.code().value(), ECONNABORTED);
      // The seconds as Python prints a float.
      EXPECT_NE(std::string(error.what()).find("SSL handshake is taking longer than 0.25 seconds"),
                std::string::npos)
          << error.what();
    }
    silent.close();
    silent.abort_clients();
    co_await silent.wait_closed();
  }());
}

TEST_F(TLSTest, APeerThatVanishesDuringShutdownIsCutOffByTheShutdownTimeout) {
  run([&]() -> Coro<void> {
    std::exception_ptr closed_with;
    auto elapsed = std::chrono::steady_clock::duration::zero();
    auto options = tls_server_options(server_context());
    options.ssl_shutdown_timeout = 200ms;
    asyncio::Server server = co_await asyncio::start_server(
        [&](StreamReader reader, StreamWriter writer) -> Coro<void> {
          co_await reader.readline();
          const auto start = std::chrono::steady_clock::now();
          writer.close();
          try {
            co_await writer.wait_closed();
          } catch (...) {
            closed_with = std::current_exception();
          }
          elapsed = std::chrono::steady_clock::now() - start;
        },
        "127.0.0.1", 0, options);
    auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port_of(server),
                                                              tls_client_options(client_context()));
    writer.get_transport().pause_reading();  // never reads the close_notify, never answers it
    writer.write("bye\n");
    co_await asyncio_test::wait_until([&] { return elapsed.count() != 0; }, 10s, "the shutdown");
    EXPECT_GE(elapsed, 150ms);
    if (!closed_with) co_return ADD_FAILURE() << "closed cleanly";
    EXPECT_THROW(std::rethrow_exception(closed_with), asyncio::TimeoutError);
    writer.abort();
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_F(TLSTest, ClosingWhileReadingIsPausedStillHearsThePeersCloseNotify) {
  run([&]() -> Coro<void> {
    auto elapsed = std::chrono::steady_clock::duration::zero();
    std::exception_ptr closed_with;
    auto options = tls_server_options(server_context());
    options.ssl_shutdown_timeout = 10s;
    asyncio::Server server = co_await asyncio::start_server(
        [&](StreamReader reader, StreamWriter writer) -> Coro<void> {
          co_await reader.readexactly(1);
          // The client sends far more than the reader's limit: reading pauses, nothing is read.
          co_await asyncio_test::wait_until([&] { return !writer.get_transport().is_reading(); },
                                            10s, "reading to pause");
          const auto start = std::chrono::steady_clock::now();
          writer.close();
          try {
            co_await writer.wait_closed();
          } catch (...) {
            closed_with = std::current_exception();
          }
          elapsed = std::chrono::steady_clock::now() - start;
        },
        "127.0.0.1", 0, options);
    auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port_of(server),
                                                              tls_client_options(client_context()));
    writer.write(std::string(1 << 20, 'x'));
    EXPECT_EQ(co_await asyncio::wait_for(reader.read(), 10s), "");  // the server's close_notify
    co_await asyncio_test::wait_until([&] { return elapsed.count() != 0; }, 10s, "the shutdown");
    EXPECT_LT(elapsed, 5s);  // not the shutdown timeout
    EXPECT_FALSE(closed_with);
    writer.close();
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_F(TLSTest, GarbageInsteadOfAClientHelloClosesTheConnection) {
  run([&]() -> Coro<void> {
    bool handled = false;
    asyncio::Server server = co_await asyncio::start_server(
        [&](StreamReader, StreamWriter) -> Coro<void> {
          handled = true;
          co_return;
        },
        "127.0.0.1", 0, tls_server_options(server_context()));
    auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port_of(server));
    writer.write("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    co_await asyncio::wait_for(reader.read(), 10s);  // an alert, or nothing, then EOF
    EXPECT_TRUE(co_await asyncio::wait_for(reader.read(), 10s) == "");
    EXPECT_FALSE(handled);
    writer.close();
    // And our client given a plain-text answer instead of a ServerHello.
    asyncio::Server plain = co_await asyncio::start_server(
        [](StreamReader reader, StreamWriter writer) -> Coro<void> {
          co_await reader.read(1);
          writer.write("220 this is not TLS\r\n");
          co_await writer.drain();
          co_await reader.read();
        },
        "127.0.0.1", 0);
    EXPECT_THROW(co_await asyncio::open_connection("127.0.0.1", port_of(plain),
                                                   tls_client_options(client_context())),
                 ssl::SSLError);
    plain.close();
    plain.abort_clients();
    co_await plain.wait_closed();
    server.close();
    co_await server.wait_closed();
  }());
}

/// The server's reader, after the client sent `line` over TLS and then `raw` bytes straight on
/// the socket, and shut its sending side without close_notify.
Coro<void> end_without_close_notify(std::string raw, std::string& got, std::exception_ptr& failed) {
  bool done = false;
  asyncio::Server server = co_await asyncio::start_server(
      [&](StreamReader reader, StreamWriter) -> Coro<void> {
        try {
          got = co_await reader.read();
        } catch (...) {
          failed = std::current_exception();
        }
        done = true;
      },
      "127.0.0.1", 0, tls_server_options(server_context()));
  auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port_of(server),
                                                            tls_client_options(client_context()));
  writer.write("before the end\n");
  co_await writer.drain();
  const int fd = std::any_cast<int>(writer.get_extra_info("socket"));
  if (!raw.empty()) {
    EXPECT_EQ(::send(fd, raw.data(), raw.size(), 0), static_cast<ssize_t>(raw.size()));
  }
  ::shutdown(fd, SHUT_WR);
  co_await asyncio_test::wait_until([&] { return done; }, 10s, "the server's read");
  writer.abort();
  server.close();
  co_await server.wait_closed();
}

TEST_F(TLSTest, ACloseWithoutCloseNotifyIsAnEOFBetweenRecords) {
  run([&]() -> Coro<void> {
    std::string got;
    std::exception_ptr failed;
    co_await end_without_close_notify("", got, failed);
    EXPECT_EQ(got, "before the end\n");
    EXPECT_FALSE(failed);
  }());
}

TEST_F(TLSTest, ATruncatedRecordIsAnSSLEOFError) {
  run([&]() -> Coro<void> {
    std::string got;
    std::exception_ptr failed;
    co_await end_without_close_notify(std::string("\x17\x03\x03\x01", 4), got, failed);
    if (!failed) co_return ADD_FAILURE() << "no error";
    EXPECT_THROW(std::rethrow_exception(failed), ssl::SSLEOFError);
  }());
}

TEST_F(TLSTest, OptionsThatNeedSslRaiseWithoutIt) {
  run([&]() -> Coro<void> {
    asyncio::ConnectionOptions options;
    options.server_hostname = "localhost";
    EXPECT_THROW(co_await asyncio::open_connection("127.0.0.1", 1, options), std::invalid_argument);
    asyncio::ConnectionOptions timeout;
    timeout.ssl_handshake_timeout = 1s;
    EXPECT_THROW(co_await asyncio::open_connection("127.0.0.1", 1, timeout), std::invalid_argument);
    EXPECT_THROW(co_await asyncio::open_unix_connection(
                     "/nonexistent", tls_client_options(client_context(), std::nullopt)),
                 std::invalid_argument);
    // A client context cannot serve.
    EXPECT_THROW(co_await asyncio::start_server(echo_lines, "127.0.0.1", 0,
                                                tls_server_options(client_context())),
                 ssl::SSLError);
    EXPECT_THROW(client_context()->load_cert_chain("/nonexistent.pem"), std::system_error);
    EXPECT_THROW(client_context()->set_ciphers("NOTHING-AT-ALL"), ssl::SSLError);
  }());
}

// --- Flow control, STARTTLS, many connections ----------------------------------------------------

TEST_F(TLSTest, HundredMegabytesToASlowReaderKeepMemoryBounded) {
  constexpr std::size_t total = 100 * 1024 * 1024;
  constexpr std::size_t chunk = 64 * 1024;
  run([&]() -> Coro<void> {
    std::size_t most_buffered = 0;
    asyncio::Server server = co_await asyncio::start_server(
        [&](StreamReader, StreamWriter writer) -> Coro<void> {
          const std::string block(chunk, 'x');
          for (std::size_t sent = 0; sent < total; sent += chunk) {
            writer.write(block);
            most_buffered = std::max(most_buffered, writer.get_write_buffer_size());
            co_await writer.drain();
          }
          writer.close();
          co_await writer.wait_closed();
        },
        "127.0.0.1", 0, tls_server_options(server_context()));
    auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port_of(server),
                                                              tls_client_options(client_context()));
    std::size_t received = 0, most_unread = 0;
    for (;;) {
      std::string data = co_await reader.read(4096);  // small reads: the slow side
      if (data.empty()) break;
      received += data.size();
      most_unread = std::max(most_unread, reader.buffered());
    }
    EXPECT_EQ(received, total);
    // One write's records beyond the high-water mark (Python's SSL default, 512 KiB), at most.
    EXPECT_LE(most_buffered, 512 * 1024 + chunk + 4096);
    EXPECT_LE(most_unread, 2 * asyncio::DEFAULT_LIMIT + 256 * 1024);
    writer.close();
    co_await writer.wait_closed();
    server.close();
    co_await server.wait_closed();
  }());
}

// A handler that returns with bytes still buffered drops the last handles: as Python's
// StreamWriter.__del__, that closes the connection after those bytes, with close_notify.
TEST_F(TLSTest, DroppingTheHandlesSendsTheBufferedBytesThenCloseNotify) {
  constexpr std::size_t total = 4 * 1024 * 1024;
  run([&]() -> Coro<void> {
    bool handler_returned = false;
    std::size_t left_buffered = 0;
    asyncio::Server server = co_await asyncio::start_server(
        [&](StreamReader, StreamWriter writer) -> Coro<void> {
          writer.write(std::string(total, 'x'));
          left_buffered = writer.get_write_buffer_size();
          handler_returned = true;
          co_return;
        },
        "127.0.0.1", 0, tls_server_options(server_context()));
    auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port_of(server),
                                                              tls_client_options(client_context()));
    co_await asyncio_test::wait_until([&] { return handler_returned; }, 10s, "the handler");
    EXPECT_GT(left_buffered, 0u);  // the client read nothing yet: most of it waits
    std::size_t received = 0;
    try {
      for (;;) {
        std::string data = co_await asyncio::wait_for(reader.read(64 * 1024), 10s);
        if (data.empty()) break;  // close_notify
        received += data.size();
      }
    } catch (const std::exception& error) {
      ADD_FAILURE() << "after " << received << " bytes: " << error.what();
    }
    EXPECT_EQ(received, total);
    writer.close();
    co_await writer.wait_closed();
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_F(TLSTest, StartTlsUpgradesAPlainTextConnection) {
  run([&]() -> Coro<void> {
    auto context = server_context();
    asyncio::Server server = co_await asyncio::start_server(
        [&](StreamReader reader, StreamWriter writer) -> Coro<void> {
          EXPECT_EQ(co_await reader.readline(), "EHLO client\r\n");
          writer.write("250 hello\r\n");
          EXPECT_EQ(co_await reader.readline(), "STARTTLS\r\n");
          writer.write("220 go ahead\r\n");
          co_await writer.start_tls(context);
          EXPECT_TRUE(writer.get_extra_info("ssl_object").has_value());
          co_await echo_lines(reader, writer);
        },
        "127.0.0.1", 0);
    auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port_of(server));
    writer.write("EHLO client\r\n");
    EXPECT_EQ(co_await reader.readline(), "250 hello\r\n");
    writer.write("STARTTLS\r\n");
    EXPECT_EQ(co_await reader.readline(), "220 go ahead\r\n");
    EXPECT_FALSE(writer.get_extra_info("ssl_object").has_value());
    // A variable: g++ 12 destroys an aggregate temporary in a co_await expression twice.
    asyncio::StartTLSOptions options{.server_hostname = "localhost"};
    co_await writer.start_tls(client_context(), options);
    writer.write("secret\n");
    EXPECT_EQ(co_await reader.readline(), "secret\n");
    EXPECT_EQ(std::any_cast<ssl::SSLObject>(writer.get_extra_info("ssl_object")).version(),
              "TLSv1.3");
    writer.close();
    co_await writer.wait_closed();
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_F(TLSTest, AThousandConnectionsHandshakeAndEcho) {
  // The select backend watches descriptors below FD_SETSIZE (1024) only: 2 x 400 then.
  const char* selector = std::getenv("ASYNCIO_SELECTOR");
  const bool select_backend = selector && std::string(selector) == "select";
  const int n = select_backend ? 400 : 1000;
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit raised = saved;
  raised.rlim_cur = std::min<rlim_t>(saved.rlim_max, 4 * n + 256);
  ::setrlimit(RLIMIT_NOFILE, &raised);
  if (raised.rlim_cur < static_cast<rlim_t>(2 * n + 64)) GTEST_SKIP() << "too few descriptors";
  run([&]() -> Coro<void> {
    asyncio::ServerOptions options = tls_server_options(server_context());
    options.backlog = 1024;
    asyncio::Server server = co_await asyncio::start_server(echo_lines, "127.0.0.1", 0, options);
    auto client = client_context();
    int echoed = 0;
    auto one = [&](int i) -> Coro<void> {
      auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port_of(server),
                                                                tls_client_options(client));
      const std::string line = "connection " + std::to_string(i) + "\n";
      writer.write(line);
      if (co_await reader.readline() == line) ++echoed;
      writer.close();
      co_await writer.wait_closed();
    };
    std::vector<asyncio::Task<void>> tasks;
    for (int i = 0; i < n; ++i) tasks.push_back(asyncio::create_task(one(i)));
    for (auto& task : tasks) co_await task;
    EXPECT_EQ(echoed, n);
    server.close();
    co_await server.wait_closed();
  }());
  ::setrlimit(RLIMIT_NOFILE, &saved);
}

TEST_F(TLSTest, ClosingTheLoopWithTLSConnectionsOpenLeaksNothing) {
  run([&]() -> Coro<void> {
    asyncio::Server server = co_await asyncio::start_server(echo_lines, "127.0.0.1", 0,
                                                            tls_server_options(server_context()));
    auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port_of(server),
                                                              tls_client_options(client_context()));
    writer.write("open\n");
    EXPECT_EQ(co_await reader.readline(), "open\n");
    // The connection is left open; the loop closes it (LeakSanitizer checks the SSL objects).
  }());
  loop->close();
}

}  // namespace
