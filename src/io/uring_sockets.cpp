// UringBackend's socket operations (the loop's sock_*): each is one submission (a send as many
// as the socket takes to send it all), awaited by the task until its completion arrives. Pipes
// (ENOTSOCK) and sendfile go the readiness way (readiness_ops.hpp), through poll requests.
//
// A cancelled task keeps waiting for its request's completion (the cancellation goes to the
// kernel, IORING_OP_ASYNC_CANCEL), so the buffer it lent is the kernel's no longer when the
// task goes on; a request that completed before the cancellation reached it still ends in
// CancelledError (as a Python task whose awaited future was already done). A frame destroyed
// with its request in flight (its loop closing) cancels it synchronously.
#include <sys/socket.h>

#include <cerrno>
#include <coroutine>
#include <cstring>
#include <exception>
#include <memory>
#include <utility>

#include "asyncio/coro.hpp"
#include "asyncio/detail/scheduler.hpp"
#include "asyncio/detail/syscall.hpp"
#include "asyncio/detail/task_base.hpp"
#include "asyncio/socket_address.hpp"
#include "io/readiness_ops.hpp"
#include "io/uring_backend.hpp"

namespace asyncio::detail {

namespace {

class Operation;

/// One operation's request, with what the kernel reads or writes besides the caller's buffer.
struct OperationRequest : UringBackend::Request {
  OperationRequest(UringBackend* backend, int fd) noexcept
      : Request(&on_complete), backend(backend), fd(fd) {}
  static void on_complete(Request* request, int result, unsigned flags);

  UringBackend* backend;
  int fd;
  Operation* waiter = nullptr;  // null once orphaned (the awaiting frame was destroyed)
  bool done = false;
  sockaddr_storage address{};
  socklen_t address_size = sizeof address;
  msghdr message{};
  iovec piece{};
};

/// What a task awaits for one request: `co_await Operation(backend, prepare)` gives the
/// completion's result (a count, an fd, or -errno). prepare(sqe, request) fills the submission.
class Operation final : public WaitTarget {
 public:
  template <class Prepare>
  Operation(UringBackend& backend, int fd, Prepare prepare) : backend_(backend) {
    auto request = std::make_unique<OperationRequest>(&backend, fd);
    prepare(backend.prepare(request.get()), *request);
    request->waiter = this;
    request_ = request.release();
    backend.count_in_flight(fd, 1);
  }
  Operation(const Operation&) = delete;
  Operation& operator=(const Operation&) = delete;
  ~Operation() {
    if (!request_) return;
    if (request_->done) {
      delete request_;
    } else {  // the frame goes while the kernel may still use its memory
      request_->waiter = nullptr;
      backend_.cancel_now(request_);
    }
  }

  bool await_ready() const noexcept { return false; }
  template <AsyncioPromise P>
  void await_suspend(std::coroutine_handle<P>) {
    task_ = running_task();
    task_->begin_wait(this);
  }
  int await_resume() {
    task_->end_wait();
    return request_->done ? result_ : -ECANCELED;
  }
  /// The request's memory (the peer's address of an accept or a recvmsg).
  OperationRequest& request() noexcept { return *request_; }

  CancelOutcome cancel_wait(TaskBase*, const std::exception_ptr&) override {
    if (request_->done) return CancelOutcome::too_late;
    if (!cancelling_) {
      cancelling_ = true;
      backend_.cancel(request_);  // the task goes on when the request's completion arrives
    }
    return CancelOutcome::aborted;
  }

  void complete(int result) {
    result_ = result;
    // The loop is reaping completions, no task is running: step the task right away.
    task_->step();
  }

 private:
  UringBackend& backend_;
  OperationRequest* request_ = nullptr;
  TaskBase* task_ = nullptr;
  int result_ = 0;
  bool cancelling_ = false;  // the cancellation was submitted
};

void OperationRequest::on_complete(Request* request, int result, unsigned) {
  auto* self = static_cast<OperationRequest*>(request);
  self->done = true;
  self->backend->count_in_flight(self->fd, -1);
  if (self->waiter)
    self->waiter->complete(result);
  else
    delete self;  // orphaned
}

/// A failed operation's result as the exception Python raises.
[[noreturn]] void fail(int result, const char* what) { throw_errno(-result, what); }

}  // namespace

Coro<std::pair<int, SocketAddress>> UringBackend::accept(int fd) {
  check_nonblocking(debug(), fd);
  for (;;) {
    Operation accepting(*this, fd, [fd](io_uring_sqe& sqe, OperationRequest& request) {
      io_uring_prep_accept(&sqe, fd, reinterpret_cast<sockaddr*>(&request.address),
                           &request.address_size, SOCK_NONBLOCK | SOCK_CLOEXEC);
    });
    const int result = co_await accepting;
    if (result >= 0) {
      OperationRequest& request = accepting.request();
      co_return std::pair{result, SocketAddress(reinterpret_cast<sockaddr*>(&request.address),
                                                request.address_size)};
    }
    // A connection that went away before it was accepted is skipped, as accept(2)'s callers do.
    if (result != -ECONNABORTED && result != -EPROTO && result != -EINTR && result != -EAGAIN)
      fail(result, "accept");
  }
}

Coro<void> UringBackend::connect(int fd, SocketAddress address) {
  check_nonblocking(debug(), fd);
  Operation connecting(*this, fd, [fd, &address](io_uring_sqe& sqe, OperationRequest& request) {
    std::memcpy(&request.address, address.data(), address.size());
    io_uring_prep_connect(&sqe, fd, reinterpret_cast<sockaddr*>(&request.address), address.size());
  });
  // Submitted now, not with the loop's next wait: as Python's sock_connect, the connection is
  // under way once the task has taken its step (a peer may be waiting for it without the loop).
  flush_submissions();
  const int result = co_await connecting;
  if (result < 0) fail(result, "connect");
}

Coro<std::size_t> UringBackend::recv_into(int fd, std::span<std::byte> buffer) {
  check_nonblocking(debug(), fd);
  for (;;) {
    Operation receiving(*this, fd, [fd, buffer](io_uring_sqe& sqe, OperationRequest&) {
      io_uring_prep_recv(&sqe, fd, buffer.data(), buffer.size(), 0);
    });
    const int result = co_await receiving;
    if (result >= 0) co_return static_cast<std::size_t>(result);
    if (result == -ENOTSOCK) co_return co_await readiness_ops::recv_into(*this, false, fd, buffer);
    if (result != -EINTR && result != -EAGAIN) fail(result, "recv");
  }
}

Coro<void> UringBackend::send_all(int fd, std::string_view data) {
  check_nonblocking(debug(), fd);
  while (!data.empty()) {
    Operation sending(*this, fd, [fd, data](io_uring_sqe& sqe, OperationRequest&) {
      io_uring_prep_send(&sqe, fd, data.data(), data.size(), MSG_NOSIGNAL);
    });
    const int result = co_await sending;
    if (result >= 0) {
      data.remove_prefix(static_cast<std::size_t>(result));  // a short send: the rest goes next
    } else if (result == -ENOTSOCK) {
      co_await readiness_ops::send_all(*this, false, fd, data);
      co_return;
    } else if (result != -EINTR && result != -EAGAIN) {
      fail(result, "send");
    }
  }
}

namespace {

/// A recvmsg of one datagram into `buffer`, with room for the sender's address.
void prepare_recvmsg(io_uring_sqe& sqe, OperationRequest& request, int fd, std::span<char> buffer) {
  request.piece = {buffer.data(), buffer.size()};
  request.message.msg_name = &request.address;
  request.message.msg_namelen = sizeof request.address;
  request.message.msg_iov = &request.piece;
  request.message.msg_iovlen = 1;
  io_uring_prep_recvmsg(&sqe, fd, &request.message, 0);
}

SocketAddress sender_of(const OperationRequest& request) {
  return SocketAddress(reinterpret_cast<const sockaddr*>(&request.address),
                       request.message.msg_namelen);
}

}  // namespace

Coro<std::pair<std::size_t, SocketAddress>> UringBackend::recvfrom_into(int fd,
                                                                        std::span<char> buffer) {
  check_nonblocking(debug(), fd);
  for (;;) {
    Operation receiving(*this, fd, [fd, buffer](io_uring_sqe& sqe, OperationRequest& request) {
      prepare_recvmsg(sqe, request, fd, buffer);
    });
    const int result = co_await receiving;
    if (result >= 0)
      co_return std::pair{static_cast<std::size_t>(result), sender_of(receiving.request())};
    if (result != -EINTR && result != -EAGAIN) fail(result, "recvfrom");
  }
}

Coro<std::pair<std::string, SocketAddress>> UringBackend::recvfrom(int fd, std::size_t max_bytes) {
  std::string data(max_bytes, '\0');
  auto [size, sender] = co_await recvfrom_into(fd, data);
  data.resize(size);
  co_return std::pair{std::move(data), std::move(sender)};
}

Coro<std::size_t> UringBackend::sendto(int fd, std::string_view data, SocketAddress address) {
  check_nonblocking(debug(), fd);
  for (;;) {
    Operation sending(*this, fd,
                      [fd, data, &address](io_uring_sqe& sqe, OperationRequest& request) {
                        std::memcpy(&request.address, address.data(), address.size());
                        request.piece = {const_cast<char*>(data.data()), data.size()};
                        request.message.msg_name = &request.address;
                        request.message.msg_namelen = address.size();
                        request.message.msg_iov = &request.piece;
                        request.message.msg_iovlen = 1;
                        io_uring_prep_sendmsg(&sqe, fd, &request.message, MSG_NOSIGNAL);
                      });
    const int result = co_await sending;
    if (result >= 0) co_return static_cast<std::size_t>(result);
    if (result != -EINTR && result != -EAGAIN) fail(result, "sendto");
  }
}

Coro<void> UringBackend::sendfile(int fd, int file, std::int64_t offset, std::size_t count,
                                  std::size_t& sent) {
  return readiness_ops::sendfile(*this, debug(), fd, file, offset, count, sent);
}

}  // namespace asyncio::detail
