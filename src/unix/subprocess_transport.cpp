// subprocess_exec / subprocess_shell: a child (spawn.hpp) and a SubprocessTransport over it,
// CPython's BaseSubprocessTransport. Each pipe is a StreamTransport whose protocol (PipeProtocol)
// hands what happens on it to the SubprocessProtocol with the pipe's fd number; the loop's
// ChildWatcher reports the exit. connection_lost comes once the child exited and every pipe is
// closed.
#include <signal.h>

#include <cerrno>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "asyncio/connections.hpp"
#include "asyncio/detail/loop_link.hpp"
#include "asyncio/detail/stream_transport.hpp"
#include "asyncio/detail/syscall.hpp"
#include "asyncio/event_loop.hpp"
#include "unix/child_watcher.hpp"
#include "unix/spawn.hpp"

namespace asyncio::detail {

namespace {

class ChildTransport;

/// The protocol of one of the child's pipes: forwards to the ChildTransport, which outlives it
/// (it keeps itself alive until every pipe has told it it is closed).
class PipeProtocol final : public Protocol {
 public:
  PipeProtocol(ChildTransport* owner, int fd) noexcept : owner_(owner), fd_(fd) {}
  void data_received(std::string_view data) override;
  void connection_lost(std::exception_ptr exc) override;
  void pause_writing() override;
  void resume_writing() override;

 private:
  ChildTransport* owner_;
  int fd_;
};

class ChildTransport final : public SubprocessTransport,
                             public std::enable_shared_from_this<ChildTransport> {
 public:
  ChildTransport(EventLoop& loop, pid_t pid, std::shared_ptr<SubprocessProtocol> protocol) noexcept
      : loop_(&loop), pid_(pid), protocol_(std::move(protocol)), link_(&close_for_loop, this) {}

  /// Links itself to the loop (before its pipes, so that closing the loop reaches it first),
  /// opens the pipes, calls connection_made, and watches the child's exit.
  void start(SpawnedChild& child) {
    self_ = shared_from_this();
    loop_->open_transports().add(link_, -1);
    for (int fd = 0; fd < 3; ++fd) {
      if (child.pipes[fd].get() < 0) continue;
      pipes_[fd] = StreamTransport::open(
          *loop_, std::move(child.pipes[fd]),
          fd == 0 ? StreamTransport::Kind::write_pipe : StreamTransport::Kind::read_pipe,
          std::make_shared<PipeProtocol>(this, fd));
      ++open_pipes_;
    }
    std::weak_ptr<ChildTransport> weak = self_;
    loop_->child_watcher().watch(pid_, [weak](int returncode) {
      if (auto self = weak.lock()) self->exited(returncode);
    });
    call([&](SubprocessProtocol& p) { p.connection_made(self_); }, "connection_made");
  }

  // --- SubprocessTransport -------------------------------------------------------------------
  int get_pid() const noexcept override { return pid_; }
  std::optional<int> get_returncode() const noexcept override { return returncode_; }
  std::shared_ptr<Transport> get_pipe_transport(int fd) const noexcept override {
    return fd >= 0 && fd < 3 ? pipes_[fd] : nullptr;
  }
  void send_signal(int sig) override {
    signal_child(pid_, sig, returncode_.has_value(), finished_);
  }
  void terminate() override { send_signal(SIGTERM); }
  void kill() override { send_signal(SIGKILL); }

  // --- BaseTransport -------------------------------------------------------------------------
  std::any get_extra_info(std::string_view name) const override {
    if (name == "subprocess") return pid_;
    return {};
  }
  bool is_closing() const noexcept override { return closed_; }
  /// Python's close(): closes the pipes and kills the child if it still runs.
  void close() override {
    if (closed_) return;
    closed_ = true;
    for (auto& pipe : pipes_)
      if (pipe) pipe->close();
    if (!returncode_) ::kill(pid_, SIGKILL);
  }
  std::shared_ptr<BaseProtocol> get_protocol() const noexcept override { return protocol_; }
  void set_protocol(std::shared_ptr<BaseProtocol> protocol) override {
    auto child = std::dynamic_pointer_cast<SubprocessProtocol>(std::move(protocol));
    if (!child) throw std::invalid_argument("a subprocess transport needs a SubprocessProtocol");
    if (protocol_) protocol_ = std::move(child);
  }

  // --- From the pipes and the ChildWatcher ---------------------------------------------------
  void pipe_data(int fd, std::string_view data) {
    call([&](SubprocessProtocol& p) { p.pipe_data_received(fd, data); }, "pipe_data_received");
  }
  void pipe_lost(int fd, std::exception_ptr exc) {
    call([&](SubprocessProtocol& p) { p.pipe_connection_lost(fd, exc); }, "pipe_connection_lost");
    --open_pipes_;
    try_finish();
  }
  void pause_writing() {
    call([](SubprocessProtocol& p) { p.pause_writing(); }, "pause_writing");
  }
  void resume_writing() {
    call([](SubprocessProtocol& p) { p.resume_writing(); }, "resume_writing");
  }

 private:
  void exited(int returncode) {
    returncode_ = returncode;
    call([](SubprocessProtocol& p) { p.process_exited(); }, "process_exited");
    try_finish();
  }

  /// Calls the protocol; what it throws goes to the exception handler (CPython's callbacks
  /// run as loop callbacks, whose exceptions go there).
  template <class F>
  void call(F f, const char* what) noexcept {
    if (!protocol_) return;
    try {
      f(*protocol_);
    } catch (...) {
      loop_->call_exception_handler({std::string("Exception in protocol.") + what + "()",
                                     std::current_exception(), "SubprocessTransport"});
    }
  }

  // The child exited and every pipe is closed: connection_lost, from the loop (at once when
  // the loop is closing), and the transport lets go of itself.
  void try_finish() noexcept {
    if (finished_ || !returncode_ || open_pipes_ > 0) return;
    finished_ = true;  // (not closing: only close() makes it so, as Python's)
    loop_->open_transports().remove(link_);
    tell_from_loop(*loop_, std::move(self_), loop_closing_, [this] { connection_lost(); });
  }
  void connection_lost() noexcept {
    call([](SubprocessProtocol& p) { p.connection_lost(nullptr); }, "connection_lost");
    protocol_.reset();
  }

  // The loop is closing: its ChildWatcher killed and reaped the child already (process_exited
  // was called); the pipes, after this in the loop's list, are aborted next, and then
  // connection_lost comes at once.
  static void close_for_loop(void* owner) noexcept {
    auto* self = static_cast<ChildTransport*>(owner);
    self->loop_->open_transports().remove(self->link_);
    self->loop_closing_ = true;
    self->try_finish();
  }

  EventLoop* loop_;
  pid_t pid_;
  std::shared_ptr<SubprocessProtocol> protocol_;  // null once connection_lost was called
  std::shared_ptr<ChildTransport> self_;          // until connection_lost
  std::shared_ptr<StreamTransport> pipes_[3];
  LoopLink link_;
  int open_pipes_ = 0;  // pipes whose pipe_connection_lost has not come yet
  std::optional<int> returncode_;
  bool closed_ = false;  // close() was called: Python's _closed, what is_closing() says
  bool finished_ = false;
  bool loop_closing_ = false;
};

void PipeProtocol::data_received(std::string_view data) { owner_->pipe_data(fd_, data); }
void PipeProtocol::connection_lost(std::exception_ptr exc) { owner_->pipe_lost(fd_, exc); }
void PipeProtocol::pause_writing() { owner_->pause_writing(); }
void PipeProtocol::resume_writing() { owner_->resume_writing(); }

Coro<SubprocessConnection> start_child(SubprocessProtocolFactory factory, SpawnRequest request) {
  auto protocol = factory();
  SpawnedChild child = spawn_child(request);
  auto transport = std::make_shared<ChildTransport>(get_running_loop(), child.pid, protocol);
  transport->start(child);
  co_return SubprocessConnection(std::move(transport), std::move(protocol));
}

}  // namespace

// What the options point at is copied now, at the call, as create_subprocess_exec does.
Coro<SubprocessConnection> subprocess_exec(SubprocessProtocolFactory factory, std::string program,
                                           std::vector<std::string> args,
                                           const SubprocessOptions& options, bool shell) {
  if (shell) {
    std::vector<std::string> argv = {"/bin/sh", "-c", std::move(program)};
    return start_child(std::move(factory),
                       SpawnRequest("/bin/sh", std::move(argv), false, options));
  }
  args.insert(args.begin(), program);
  return start_child(std::move(factory),
                     SpawnRequest(std::move(program), std::move(args), true, options));
}

}  // namespace asyncio::detail
