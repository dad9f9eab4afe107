// The inspection socket (inspection_server.hpp), and the EventLoop methods that turn it on and off.
#include "debug/inspection_server.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <stdexcept>

#include "asyncio/detail/syscall.hpp"
#include "debug/task_dump.hpp"

namespace asyncio::detail {

namespace {

constexpr std::size_t max_command = 64;
constexpr auto client_timeout = std::chrono::seconds(30);  // to send a command, or to read on

}  // namespace

struct InspectionServer::Client {
  OwnedFd fd;
  std::string in;
  std::string out;
  std::size_t sent = 0;
  std::unique_ptr<TaskDump> dump;
  TimerHandle deadline;
  bool writing = false;
};

std::string inspection_directory() {
  if (const char* dir = std::getenv("ASYNCIO_INSPECT_DIR"); dir && *dir) return dir;
  return "/tmp/asyncio-" + std::to_string(geteuid());
}

std::string default_inspection_path(unsigned n) {
  const std::string dir = inspection_directory();
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) throw_errno(errno, "mkdir " + dir);
  struct stat info {};
  if (::lstat(dir.c_str(), &info) != 0) throw_errno(errno, "stat " + dir);
  // Another user's directory, or one others may write to, could hand our socket to them.
  if (!S_ISDIR(info.st_mode) || info.st_uid != geteuid() || (info.st_mode & 077) != 0)
    throw_errno(EACCES, "inspection directory " + dir +
                            " must be a directory of this user's that only it may use (mode 0700)");
  return dir + "/" + std::to_string(getpid()) + "." + std::to_string(n) + ".sock";
}

InspectionServer::InspectionServer(EventLoop& loop, const InspectionOptions& options)
    : loop_(loop), path_(options.path) {
  if (path_.empty()) {
    static std::atomic<unsigned> counter{0};
    path_ = default_inspection_path(counter.fetch_add(1));
  }
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path_.size() >= sizeof address.sun_path)
    throw std::invalid_argument("inspection socket path too long: " + path_);
  std::memcpy(address.sun_path, path_.c_str(), path_.size() + 1);
  OwnedFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) throw_errno(errno, "socket");
  // Made with no permission for anyone, then opened to its owner: never reachable by others.
  if (::fchmod(fd.get(), 0600) != 0) throw_errno(errno, "fchmod");
  ::unlink(path_.c_str());  // a socket left by a process that had this pid
  const mode_t old_mask = ::umask(0177);
  const int bound = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address);
  const int bind_error = errno;
  ::umask(old_mask);
  if (bound != 0) throw_errno(bind_error, "bind " + path_);
  if (::chmod(path_.c_str(), 0600) != 0 || ::listen(fd.get(), 16) != 0) {
    const int error = errno;
    ::unlink(path_.c_str());
    throw_errno(error, "inspection socket " + path_);
  }
  listener_ = std::move(fd);
  try {
    loop_.add_reader(listener_.get(), [this] { accept_clients(); });
    if (options.dump_signal != 0) {
      loop_.add_signal_handler(options.dump_signal, [&loop] { print_all_tasks(loop, std::cerr); });
      dump_signal_ = options.dump_signal;
    }
  } catch (...) {
    loop_.remove_reader(listener_.get());
    ::unlink(path_.c_str());
    throw;
  }
}

InspectionServer::~InspectionServer() {
  while (!clients_.empty()) close_client(clients_.back().get());
  if (!loop_.is_closed()) {
    loop_.remove_reader(listener_.get());
    if (dump_signal_ != 0) loop_.remove_signal_handler(dump_signal_);
  }
  ::unlink(path_.c_str());
}

void InspectionServer::accept_clients() {
  for (;;) {
    sockaddr_storage address{};
    socklen_t size = sizeof address;
    int accepted;
    try {
      accepted = accept_connection(listener_.get(), address, size);
    } catch (const std::system_error&) {
      return;  // EMFILE and the like: the client waits in the backlog until later
    }
    if (accepted < 0) return;
    OwnedFd fd(accepted);
    ucred peer{};
    socklen_t peer_size = sizeof peer;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &peer, &peer_size) != 0 ||
        peer.uid != geteuid())
      continue;  // another user: closed unanswered
    auto client = std::make_unique<Client>();
    client->fd = std::move(fd);
    Client* raw = client.get();
    clients_.push_back(std::move(client));
    loop_.add_reader(raw->fd.get(), [this, raw] { on_readable(raw); });
    arm_deadline(raw);
  }
}

void InspectionServer::arm_deadline(Client* client) {
  client->deadline.cancel();
  client->deadline = loop_.call_later(client_timeout, [this, client] { close_client(client); });
}

void InspectionServer::on_readable(Client* client) {
  char buffer[128];
  const ssize_t n =
      retry_on_eintr([&] { return ::recv(client->fd.get(), buffer, sizeof buffer, 0); });
  if (n < 0 && would_block(errno)) return;
  if (n <= 0) {  // the client left, or its connection failed, before sending a command
    close_client(client);
    return;
  }
  client->in.append(buffer, static_cast<std::size_t>(n));
  const std::size_t end = client->in.find('\n');
  if (end == std::string::npos) {
    if (client->in.size() > max_command) {
      loop_.remove_reader(client->fd.get());
      client->out = "error: command too long\n";
      client->writing = true;
      loop_.add_writer(client->fd.get(), [this, client] { on_writable(client); });
    }
    return;
  }
  std::string command = client->in.substr(0, std::min(end, max_command + 1));
  if (!command.empty() && command.back() == '\r') command.pop_back();
  loop_.remove_reader(client->fd.get());
  start_reply(client, command);
}

void InspectionServer::start_reply(Client* client, const std::string& command) {
  if (command == "ps") {
    client->dump = std::make_unique<TaskDump>(loop_, TaskDump::Kind::table);
  } else if (command == "pstree") {
    client->dump = std::make_unique<TaskDump>(loop_, TaskDump::Kind::tree);
  } else if (command == "tasks") {
    client->dump = std::make_unique<TaskDump>(loop_, TaskDump::Kind::tasks);
  } else if (command == "stats") {
    client->out = format_prometheus(loop_.stats());
  } else {
    std::string shown;
    for (char c : command) shown += (c >= 0x20 && c < 0x7f) ? c : '?';
    client->out = "error: unknown command '" + shown + "' (ps, pstree, tasks, stats)\n";
  }
  client->writing = true;
  loop_.add_writer(client->fd.get(), [this, client] { on_writable(client); });
}

void InspectionServer::on_writable(Client* client) {
  if (client->sent == client->out.size()) {
    client->out.clear();
    client->sent = 0;
    if (client->dump && !client->dump->next(client->out, slice_tasks)) client->dump.reset();
    if (client->out.empty() && !client->dump) {
      close_client(client);  // all written
      return;
    }
  }
  const ssize_t n = retry_on_eintr([&] {
    return ::send(client->fd.get(), client->out.data() + client->sent,
                  client->out.size() - client->sent, MSG_NOSIGNAL | MSG_DONTWAIT);
  });
  if (n < 0) {
    if (!would_block(errno)) close_client(client);  // EPIPE, ECONNRESET: the client left
    return;
  }
  client->sent += static_cast<std::size_t>(n);
  arm_deadline(client);
}

void InspectionServer::close_client(Client* client) {
  client->deadline.cancel();
  if (!loop_.is_closed()) {
    if (client->writing)
      loop_.remove_writer(client->fd.get());
    else
      loop_.remove_reader(client->fd.get());
  }
  auto found =
      std::find_if(clients_.begin(), clients_.end(),
                   [client](const std::unique_ptr<Client>& c) { return c.get() == client; });
  if (found != clients_.end()) clients_.erase(found);
}

}  // namespace asyncio::detail

namespace asyncio {

void EventLoop::enable_inspection() { enable_inspection(InspectionOptions{}); }

void EventLoop::enable_inspection(const InspectionOptions& options) {
  check_open();
  check_thread();
  disable_inspection();
  inspection_ = std::make_unique<detail::InspectionServer>(*this, options);
  scheduler_.set_inspected(true);
}

void EventLoop::enable_inspection_from_environment() noexcept {
  try {
    try {
      enable_inspection();
    } catch (const RuntimeError&) {  // the signal is another loop's: this one goes without
      enable_inspection(InspectionOptions{.path = {}, .dump_signal = 0});
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "asyncio: ASYNCIO_INSPECT=1: inspection not enabled: %s\n", e.what());
  }
}

void EventLoop::disable_inspection() noexcept {
  inspection_.reset();
  scheduler_.set_inspected(false);
}

std::string EventLoop::inspection_path() const {
  return inspection_ ? inspection_->path() : std::string();
}

}  // namespace asyncio
