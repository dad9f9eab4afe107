// Python's "TCP echo client using streams" over TLS: connects with a default client context
// (the server's certificate verified, against CAFILE when given, else the system's store; the
// host name checked), sends a message, prints the reply and what the session is, closes.
//   example_tls_echo_client HOST PORT [MESSAGE] [--cafile CAFILE] [--servername NAME]
//   (e.g. against `openssl s_server -accept 8443 -cert c.pem -key k.pem` or a TLS echo server)
#include <asyncio/asyncio.hpp>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "repr.hpp"

namespace {

asyncio::Coro<> tls_echo_client(std::string host, int port, std::string message, std::string cafile,
                                std::optional<std::string> servername) {
  // ctx = ssl.create_default_context(cafile=cafile)
  auto context = asyncio::ssl::create_default_context(asyncio::ssl::Purpose::SERVER_AUTH, cafile);
  asyncio::ConnectionOptions options;
  options.ssl = context;
  options.server_hostname = servername;  // unset: the host name connected to
  // reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
  auto [reader, writer] =
      co_await asyncio::open_connection(host, static_cast<std::uint16_t>(port), options);
  auto session = std::any_cast<asyncio::ssl::SSLObject>(writer.get_extra_info("ssl_object"));
  const auto cipher = session.cipher();
  std::printf("Connected: %s, %s\n", session.version().c_str(),
              cipher ? cipher->name.c_str() : "?");

  std::printf("Send: %s\n", repr(message).c_str());
  writer.write(message);
  co_await writer.drain();
  std::string data = co_await reader.read(100);
  std::printf("Received: %s\n", repr(data).c_str());

  std::printf("Close the connection\n");
  writer.close();  // close_notify, then the socket
  co_await writer.wait_closed();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s HOST PORT [MESSAGE] [--cafile CAFILE] [--servername NAME]\n",
                 argv[0]);
    return 2;
  }
  std::string message = "Hello World!";
  std::string cafile;
  std::optional<std::string> servername;
  for (int i = 3; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--cafile" && i + 1 < argc) {
      cafile = argv[++i];
    } else if (arg == "--servername" && i + 1 < argc) {
      servername = argv[++i];
    } else {
      message = argv[i];
    }
  }
  try {
    asyncio::run(tls_echo_client(argv[1], std::atoi(argv[2]), message, cafile, servername));
  } catch (const asyncio::ssl::SSLCertVerificationError& error) {
    std::fprintf(stderr, "error: %s (verify code %ld)\n", error.what(), error.verify_code());
    return 1;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "error: %s\n", error.what());
    return 1;
  }
}
