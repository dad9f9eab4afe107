// Datagram endpoints: opening the socket (UDP, or Unix datagram), and the awaitable
// DatagramEndpoint over it, whose coroutines try the system call first and wait for readiness
// only when it would block; or a DatagramSocketTransport with a protocol (connections.hpp).
#include "asyncio/datagram.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <vector>

#include "asyncio/connections.hpp"
#include "asyncio/detail/datagram_transport.hpp"
#include "asyncio/detail/fd_waiter.hpp"
#include "asyncio/detail/owned_fd.hpp"
#include "asyncio/detail/syscall.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/getaddrinfo.hpp"
#include "asyncio/task.hpp"

namespace asyncio {

struct DatagramEndpoint::State {
  EventLoop* loop;
  int fd;  // -1 once closed
  SocketAddress peer;

  State(EventLoop& loop, int fd, SocketAddress peer) noexcept
      : loop(&loop), fd(fd), peer(std::move(peer)) {}
  ~State() { close(); }
  // A waiting receiver or sender is woken by the removal, and finds fd == -1.
  void close() noexcept {
    if (fd < 0) return;
    loop->remove_reader(fd);
    loop->remove_writer(fd);
    loop->io_backend().close_fd(fd);
    fd = -1;
  }
  int open_fd() const {
    if (fd < 0) detail::throw_errno(EBADF, "datagram endpoint is closed");
    return fd;
  }
};

namespace {

using State = DatagramEndpoint::State;

Coro<std::pair<std::string, SocketAddress>> receive(std::shared_ptr<State> state,
                                                    std::size_t max_size) {
  std::string data(max_size, '\0');
  for (;;) {
    const int fd = state->open_fd();  // again after each wait: close() wakes the waiter
    if (std::optional<SocketAddress> sender = detail::try_recvfrom(fd, data))
      co_return std::pair{std::move(data), std::move(*sender)};
    co_await state->loop->wait_readable(fd);
  }
}

Coro<void> send_to(std::shared_ptr<State> state, std::string data, const SocketAddress* address) {
  for (;;) {
    const int fd = state->open_fd();
    if (detail::try_sendto(fd, data, address) >= 0) co_return;
    co_await state->loop->wait_writable(fd);
  }
}

Coro<void> send_to_address(std::shared_ptr<State> state, std::string data, SocketAddress address) {
  co_await send_to(std::move(state), std::move(data), &address);
}

Coro<std::string> receive_connected(std::shared_ptr<State> state, std::size_t max_size) {
  auto [data, sender] = co_await receive(std::move(state), max_size);
  co_return std::move(data);
}

/// A UDP socket of `family`, with the options set, bound to `local` and connected to `remote`
/// when given; the fd, or the error that stopped it.
using detail::OwnedFd;

OwnedFd open_socket(int family, const DatagramOptions& options, const SocketAddress* local,
                    const SocketAddress* remote) {
  OwnedFd fd(::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) detail::throw_errno(errno, "socket");
  const int one = 1;
  if (options.reuse_port &&
      ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
    detail::throw_errno(errno, "setsockopt(SO_REUSEPORT)");
  }
  if (options.allow_broadcast &&
      ::setsockopt(fd.get(), SOL_SOCKET, SO_BROADCAST, &one, sizeof one) < 0) {
    detail::throw_errno(errno, "setsockopt(SO_BROADCAST)");
  }
  if (local && ::bind(fd.get(), local->data(), local->size()) < 0)
    detail::throw_errno(errno, "bind");
  // connect(2) on a UDP socket only records the peer: it never blocks.
  if (remote && ::connect(fd.get(), remote->data(), remote->size()) < 0)
    detail::throw_errno(errno, "connect");
  return fd;
}

}  // namespace

Coro<std::pair<std::string, SocketAddress>> DatagramEndpoint::recvfrom(std::size_t max_size) {
  return receive(state_, max_size);
}
Coro<std::string> DatagramEndpoint::recv(std::size_t max_size) {
  return receive_connected(state_, max_size);
}
Coro<void> DatagramEndpoint::sendto(std::string data, SocketAddress address) {
  return send_to_address(state_, std::move(data), std::move(address));
}
Coro<void> DatagramEndpoint::send(std::string data) {
  return send_to(state_, std::move(data), nullptr);
}

void DatagramEndpoint::close() noexcept { state_->close(); }
bool DatagramEndpoint::is_closing() const noexcept { return state_->fd < 0; }
SocketAddress DatagramEndpoint::sockname() const {
  return SocketAddress::local_of(state_->open_fd());
}
SocketAddress DatagramEndpoint::peername() const { return state_->peer; }
int DatagramEndpoint::socket() const noexcept { return state_->fd; }

Coro<std::pair<detail::OwnedFd, std::optional<SocketAddress>>> detail::open_datagram_socket(
    DatagramOptions options) {
  if (!options.local_path.empty() || !options.remote_path.empty()) {  // a Unix datagram socket
    std::optional<SocketAddress> local, remote;
    if (!options.local_path.empty()) {
      struct stat existing;
      if (options.local_path[0] != '\0' && ::stat(options.local_path.c_str(), &existing) == 0 &&
          S_ISSOCK(existing.st_mode)) {
        ::unlink(options.local_path.c_str());  // a stale socket file, as Python removes it
      }
      local = SocketAddress::unix_path(options.local_path);
    }
    if (!options.remote_path.empty()) remote = SocketAddress::unix_path(options.remote_path);
    OwnedFd fd =
        open_socket(AF_UNIX, options, local ? &*local : nullptr, remote ? &*remote : nullptr);
    co_return std::pair(std::move(fd), std::move(remote));
  }
  const bool bind = !options.local_host.empty() || options.local_port != 0;
  const bool connect = !options.remote_host.empty();
  std::vector<AddressInfo> locals, remotes;
  if (bind)
    locals = co_await getaddrinfo(options.local_host, options.local_port, options.family,
                                  SOCK_DGRAM, 0, AI_PASSIVE);
  if (connect)
    remotes =
        co_await getaddrinfo(options.remote_host, options.remote_port, options.family, SOCK_DGRAM);
  // Pairs of (local, remote) of one family, in the resolver's order, as Python tries them.
  std::vector<int> families;
  for (const std::vector<AddressInfo>* list : std::array{&locals, &remotes}) {
    for (const AddressInfo& info : *list) {
      if (std::find(families.begin(), families.end(), info.family) == families.end())
        families.push_back(info.family);
    }
  }
  if (!bind && !connect) families.push_back(options.family == AF_UNSPEC ? AF_INET : options.family);
  std::error_code last(EADDRNOTAVAIL, std::generic_category());
  bool paired = false;  // some family had each address asked for
  for (int family : families) {
    auto first_of = [family](const std::vector<AddressInfo>& list) -> const SocketAddress* {
      for (const AddressInfo& info : list) {
        if (info.family == family) return &info.address;
      }
      return nullptr;
    };
    const SocketAddress* local = first_of(locals);
    const SocketAddress* remote = first_of(remotes);
    if ((bind && !local) || (connect && !remote)) continue;
    paired = true;
    try {
      OwnedFd fd = open_socket(family, options, local, remote);
      co_return std::pair(std::move(fd), remote ? std::optional(*remote) : std::nullopt);
    } catch (const std::system_error& error) {
      last = error.code();
    }
  }
  // Python's ValueError: the local and the remote address have no family in common.
  if (!paired) throw std::invalid_argument("can not get address information");
  throw std::system_error(last, "create_datagram_endpoint");
}

Coro<DatagramEndpoint> create_datagram_endpoint(DatagramOptions options) {
  auto [fd, peer] = co_await detail::open_datagram_socket(std::move(options));
  auto state = std::make_shared<DatagramEndpoint::State>(get_running_loop(), fd.get(),
                                                         peer.value_or(SocketAddress()));
  fd.release();  // now the endpoint's
  co_return DatagramEndpoint(std::move(state));
}

Coro<detail::DatagramConnection> detail::create_datagram_endpoint(DatagramProtocolFactory factory,
                                                                  DatagramOptions options) {
  auto [fd, peer] = co_await open_datagram_socket(std::move(options));
  auto protocol = factory();
  auto transport =
      DatagramSocketTransport::open(get_running_loop(), std::move(fd), std::move(peer), protocol);
  co_return DatagramConnection(std::move(transport), std::move(protocol));
}

}  // namespace asyncio
