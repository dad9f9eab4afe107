// create_connection (one address after another, or Happy Eyeballs), create_unix_connection and
// connect_accepted_socket: a connected socket, then a transport with the factory's protocol.
// CPython's base_events.create_connection and staggered.staggered_race are the models.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "asyncio/connections.hpp"
#include "asyncio/detail/connect.hpp"
#include "asyncio/detail/stream_transport.hpp"
#include "asyncio/detail/syscall.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/getaddrinfo.hpp"
#include "asyncio/task.hpp"
#include "asyncio/tasks.hpp"
#include "tls/tls_setup.hpp"

namespace asyncio::detail {

namespace {

void set_nodelay(int fd, int family) {
  if (family == AF_INET || family == AF_INET6) {
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
}

/// Binds `fd` to the first local address of `family` that takes it.
void bind_local(int fd, int family, const std::vector<AddressInfo>& local) {
  std::vector<std::system_error> errors;
  for (const AddressInfo& info : local) {
    if (info.family != family) continue;
    if (::bind(fd, info.address.data(), info.address.size()) == 0) return;
    errors.emplace_back(errno, std::generic_category(),
                        "error while attempting to bind on address " + info.address.to_string());
  }
  if (!errors.empty()) throw errors.front();
  throw std::system_error(
      EADDRNOTAVAIL, std::generic_category(),
      "no matching local address with family=" + std::to_string(family) + " found");
}

/// One attempt: a new socket, bound when asked, connected to `target`; its fd.
Coro<int> connect_one(AddressInfo target, const std::vector<AddressInfo>* local) {
  OwnedFd fd(::socket(target.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, target.protocol));
  if (fd.get() < 0) throw_errno(errno, "socket");
  if (local && !local->empty()) bind_local(fd.get(), target.family, *local);
  try {
    co_await get_running_loop().sock_connect(fd.get(), target.address);
  } catch (const std::system_error& error) {
    throw std::system_error(error.code(), "connect to " + target.address.to_string());
  }
  set_nodelay(fd.get(), target.family);
  co_return fd.release();
}

/// Python's error for several failed attempts: the one error, or all of them named.
[[noreturn]] void throw_connect_errors(const std::vector<std::exception_ptr>& errors) {
  if (errors.size() == 1) std::rethrow_exception(errors.front());
  std::string message = "Multiple exceptions:";
  std::error_code code;
  for (const std::exception_ptr& error : errors) {
    try {
      std::rethrow_exception(error);
    } catch (const std::system_error& e) {
      if (!code) code = e.code();
      message += std::string(" [") + e.what() + "]";
    } catch (const std::exception& e) {
      message += std::string(" [") + e.what() + "]";
    }
  }
  throw std::system_error(code ? code : std::make_error_code(std::errc::connection_refused),
                          message);
}

/// Tries the addresses one after another.
Coro<int> connect_in_turn(std::vector<AddressInfo> targets, std::vector<AddressInfo> local) {
  std::vector<std::exception_ptr> errors;
  for (const AddressInfo& target : targets) {
    try {
      co_return co_await connect_one(target, &local);
    } catch (const std::system_error&) {
      errors.push_back(std::current_exception());
    }
  }
  throw_connect_errors(errors);
}

/// RFC 8305: starts the next attempt when the last one failed or `delay` passed, whichever
/// comes first; the first connected socket wins, and the other attempts are cancelled (a
/// socket that connected too late is closed).
Coro<int> connect_racing(std::vector<AddressInfo> targets, std::vector<AddressInfo> local,
                         std::chrono::milliseconds delay) {
  EventLoop& loop = get_running_loop();
  std::vector<Task<int>> attempts;  // started and not finished when last looked at
  std::vector<std::exception_ptr> errors;
  std::size_t next = 0;
  int winner = -1;
  std::exception_ptr cancelled;
  try {
    while (winner < 0 && (next < targets.size() || !attempts.empty())) {
      if (next < targets.size())
        attempts.push_back(loop.create_task(connect_one(targets[next++], &local)));
      std::optional<Clock::duration> at_most;
      if (next < targets.size()) at_most = delay;
      co_await wait(attempts, at_most, FIRST_COMPLETED);
      std::erase_if(attempts, [&](Task<int>& attempt) {
        if (!attempt.done()) return false;
        if (attempt.exception()) {
          errors.push_back(attempt.exception());
        } else if (winner < 0) {
          winner = attempt.result();
        } else {
          loop.io_backend().close_fd(attempt.result());  // connected too late
        }
        return true;
      });
    }
  } catch (const CancelledError&) {
    cancelled = std::current_exception();
  }
  for (Task<int>& attempt : attempts) attempt.cancel();  // each closes its socket
  if (cancelled) {
    if (winner >= 0) loop.io_backend().close_fd(winner);
    std::rethrow_exception(cancelled);
  }
  if (winner < 0) throw_connect_errors(errors);
  co_return winner;
}

}  // namespace

std::vector<AddressInfo> interleave_addresses(std::vector<AddressInfo> addresses,
                                              int first_family_count) {
  std::vector<std::vector<AddressInfo>> by_family;  // in the order families first appear
  for (AddressInfo& info : addresses) {
    auto same = std::find_if(by_family.begin(), by_family.end(),
                             [&](const auto& list) { return list.front().family == info.family; });
    if (same == by_family.end())
      by_family.push_back({std::move(info)});
    else
      same->push_back(std::move(info));
  }
  std::vector<AddressInfo> reordered;
  std::vector<std::size_t> taken(by_family.size(), 0);
  if (!by_family.empty() && first_family_count > 1) {
    const std::size_t n = std::min<std::size_t>(first_family_count - 1, by_family[0].size());
    for (; taken[0] < n; ++taken[0]) reordered.push_back(std::move(by_family[0][taken[0]]));
  }
  for (bool more = true; more;) {
    more = false;
    for (std::size_t f = 0; f < by_family.size(); ++f) {
      if (taken[f] < by_family[f].size()) {
        reordered.push_back(std::move(by_family[f][taken[f]++]));
        more = true;
      }
    }
  }
  return reordered;
}

Coro<int> connect_to_any(std::vector<AddressInfo> targets, ConnectionOptions options) {
  if (targets.empty())
    throw std::system_error(EADDRNOTAVAIL, std::generic_category(),
                            "getaddrinfo() returned empty list");
  std::vector<AddressInfo> local;
  if (options.local_addr) {
    local = co_await getaddrinfo(options.local_addr->first, options.local_addr->second,
                                 options.family, SOCK_STREAM, 0, AI_PASSIVE);
    if (local.empty())
      throw std::system_error(EADDRNOTAVAIL, std::generic_category(),
                              "getaddrinfo() returned empty list");
  }
  int interleave = options.interleave;
  if (options.happy_eyeballs_delay && interleave == 0) interleave = 1;
  if (interleave > 0) targets = interleave_addresses(std::move(targets), interleave);
  if (options.happy_eyeballs_delay)
    co_return co_await connect_racing(std::move(targets), std::move(local),
                                      *options.happy_eyeballs_delay);
  co_return co_await connect_in_turn(std::move(targets), std::move(local));
}

/// A connected socket's transport, with a protocol from `factory`; with TLS over it when
/// `tls` has a context (then once the handshake is done).
Coro<StreamConnection> connection_over(ProtocolFactory& factory, OwnedFd fd, TLSSettings tls) {
  auto protocol = factory();
  EventLoop& loop = get_running_loop();
  if (!tls.context) {
    auto transport =
        StreamTransport::open(loop, std::move(fd), StreamTransport::Kind::socket, protocol);
    co_return StreamConnection(std::move(transport), std::move(protocol));
  }
  co_return StreamConnection(co_await open_tls(loop, std::move(fd), std::move(tls), protocol),
                             std::move(protocol));
}

Coro<StreamConnection> create_connection(ProtocolFactory factory, std::string host,
                                         std::uint16_t port, ConnectionOptions options) {
  TLSSettings tls = tls_settings(options, host, false);  // bad TLS options raise before connecting
  std::vector<AddressInfo> targets = co_await getaddrinfo(host, port, options.family, SOCK_STREAM);
  OwnedFd fd(co_await connect_to_any(std::move(targets), std::move(options)));
  co_return co_await connection_over(factory, std::move(fd), std::move(tls));
}

Coro<StreamConnection> create_unix_connection(ProtocolFactory factory, std::string path,
                                              ConnectionOptions options) {
  TLSSettings tls = tls_settings(options, "", false);
  AddressInfo target;
  target.family = AF_UNIX;
  target.address = SocketAddress::unix_path(path);
  OwnedFd fd(co_await connect_one(std::move(target), nullptr));
  co_return co_await connection_over(factory, std::move(fd), std::move(tls));
}

Coro<StreamConnection> connect_accepted_socket(ProtocolFactory factory, OwnedFd owned,
                                               ConnectionOptions options) {
  TLSSettings tls = tls_settings(options, "", true);
  const int fd = owned.get();
  if (is_socket_but_not_stream(fd)) {
    throw std::invalid_argument("A Stream Socket was expected, got fd " + std::to_string(fd));
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) throw_errno(errno, "fcntl");
  co_return co_await connection_over(factory, std::move(owned), std::move(tls));
}

}  // namespace asyncio::detail
