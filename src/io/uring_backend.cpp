// UringBackend: the ring, readiness as poll requests, submitting and reaping, cancelling, the
// provided-buffer ring, and closing (see the header's notes).
#include "io/uring_backend.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cassert>
#include <cerrno>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "asyncio/detail/scheduler.hpp"
#include "asyncio/detail/syscall.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/exceptions.hpp"
#include "io/io_backend_parts.hpp"

namespace asyncio::detail {

namespace {

// What a ring asks of the kernel, most wanted first: SUBMIT_ALL (a failing submission does not
// hold back the ones after it), COOP_TASKRUN with TASKRUN_FLAG (completions are produced when
// the loop enters the kernel anyway, and the flag says when it must). Older kernels get fewer.
// A single-thread loop first asks for SINGLE_ISSUER with DEFER_TASKRUN (6.1): completions are
// produced only when the loop waits for them, in one batch.
constexpr unsigned single_thread_flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER |
                                         IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG |
                                         IORING_SETUP_CQSIZE;
constexpr unsigned setup_flags[] = {
    single_thread_flags,
    IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG |
        IORING_SETUP_CQSIZE,
    IORING_SETUP_CQSIZE,
    0,
};

// ThreadSanitizer does not see a ring's memory mapped and unmapped: liburing makes those system
// calls itself, not through libc. A ring mapped where another thread's closed ring was looks to
// it like memory two threads wrote unsynchronized. Under ThreadSanitizer, closing a ring
// releases and opening one acquires one counter, which orders the two as the kernel does.
#if defined(__SANITIZE_THREAD__)
#define ASYNCIO_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ASYNCIO_UNDER_TSAN 1
#endif
#endif
#ifdef ASYNCIO_UNDER_TSAN
std::atomic<unsigned> rings_closed{0};
void ring_mapped() noexcept { (void)rings_closed.load(std::memory_order_acquire); }
void ring_unmapping() noexcept { rings_closed.fetch_add(1, std::memory_order_release); }
#else
void ring_mapped() noexcept {}
void ring_unmapping() noexcept {}
#endif

}  // namespace

UringBackend::UringBackend(Scheduler& scheduler) noexcept : scheduler_(scheduler) {}

std::unique_ptr<UringBackend> UringBackend::create(Scheduler& scheduler,
                                                   const IoUringOptions& options, int& error) {
  std::unique_ptr<UringBackend> backend(new UringBackend(scheduler));
  backend->buffer_count_ = std::bit_ceil(std::clamp(options.receive_buffers, 1u, 32768u));
  backend->buffer_size_ = std::max(options.receive_buffer_size, 1u);
  const unsigned entries = options.entries;
  for (unsigned flags : setup_flags) {
    if (flags == single_thread_flags && !options.single_thread) continue;
    io_uring_params params{};
    params.flags = flags;
    params.cq_entries = entries * 8;  // room for bursts of completions without overflow
    const int result = io_uring_queue_init_params(entries, &backend->ring_, &params);
    error = -result;
    if (result == 0) {
      ring_mapped();
      // The loop relies on: completions kept when the queue overflows, the timeout passed to
      // the wait itself (no timeout request), and polls that a cancellation can find.
      constexpr unsigned needed = IORING_FEAT_NODROP | IORING_FEAT_EXT_ARG | IORING_FEAT_FAST_POLL;
      if ((params.features & needed) != needed) {
        ring_unmapping();
        io_uring_queue_exit(&backend->ring_);
        error = 0;
        return nullptr;
      }
      backend->ring_open_ = true;
      if (flags == single_thread_flags) backend->owner_ = std::this_thread::get_id();
      return backend;
    }
  }
  return nullptr;  // ENOSYS (no io_uring), EPERM (refused by policy), ENOMEM...
}

UringBackend::~UringBackend() { close(); }

bool UringBackend::debug() const noexcept { return scheduler_.debug(); }

// --- Submitting ----------------------------------------------------------------------------------

io_uring_sqe& UringBackend::prepare(Request* request) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  while (!sqe) {
    // The submission queue is full: hand it to the kernel now and take a fresh entry.
    const int submitted = io_uring_submit(&ring_);
    if (submitted < 0 && submitted != -EBUSY && submitted != -EINTR && submitted != -EAGAIN)
      throw_errno(-submitted, "io_uring_submit");
    if (submitted == -EBUSY) reap();  // the completion queue is full: make room
    sqe = io_uring_get_sqe(&ring_);
  }
  io_uring_sqe_set_data(sqe, request);
  return *sqe;
}

void UringBackend::flush_submissions() noexcept {
  while (io_uring_sq_ready(&ring_) > 0) {
    const int submitted = io_uring_submit(&ring_);
    if (submitted == -EBUSY) {
      reap();
    } else if (submitted < 0 && submitted != -EINTR && submitted != -EAGAIN) {
      return;
    }
  }
}

void UringBackend::cancel(Request* request) noexcept {
  try {
    io_uring_sqe& sqe = prepare(nullptr);
    io_uring_prep_cancel(&sqe, request, 0);  // its own completion (no request) tells nobody
  } catch (...) {
    // The ring failed: the request ends when the ring is closed.
  }
}

void UringBackend::cancel_now(Request* request) noexcept {
  if (!ring_open_) return;
  flush_submissions();  // the kernel can cancel only what it was given
  io_uring_sync_cancel_reg reg{};
  reg.addr = reinterpret_cast<std::uint64_t>(request);
  reg.timeout.tv_sec = -1;
  reg.timeout.tv_nsec = -1;
  while (io_uring_register_sync_cancel(&ring_, &reg) == -EINTR) {
  }
}

void UringBackend::count_in_flight(int fd, int change) noexcept {
  if (fd < 0) return;
  if (static_cast<std::size_t>(fd) >= fds_.size()) fds_.resize(static_cast<std::size_t>(fd) + 1);
  fds_[fd].in_flight += static_cast<std::uint32_t>(change);
  in_flight_ += static_cast<std::size_t>(change);
}

// --- Readiness -----------------------------------------------------------------------------------

namespace {

void check_pollable(int fd) {
  struct stat status;
  if (::fstat(fd, &status) != 0) throw_errno(errno, "add_watcher");
  if (S_ISREG(status.st_mode) || S_ISDIR(status.st_mode)) throw_errno(EPERM, "add_watcher");
}

}  // namespace

void UringBackend::add_watcher(int fd, int direction, IoWatcher* watcher, bool replace) {
  if (closed_) throw_loop_closed();
  if (fd < 0) throw std::invalid_argument("Invalid file descriptor: " + std::to_string(fd));
  if (static_cast<std::size_t>(fd) >= fds_.size()) fds_.resize(static_cast<std::size_t>(fd) + 1);
  FdWatch* watch = &fds_[fd];
  if (watch->watchers[direction] && !replace) {
    throw RuntimeError("fd " + std::to_string(fd) + " already has a " +
                       (direction == reader ? "reader" : "writer"));
  }
  const bool new_fd = !watch->watchers[reader] && !watch->watchers[writer];
  // A poll request learns of a bad fd only when the kernel runs it, and finds a regular file or
  // a directory always ready: ask now for an fd nobody watches yet, so that these are errors
  // here, as epoll's (EBADF, EPERM), not a watcher called forever.
  if (new_fd) check_pollable(fd);
  IoWatcher* old = std::exchange(watch->watchers[direction], watcher);
  if (new_fd) ++watched_fds_;
  disarm(*watch, direction);
  arm(fd, direction);
  if (old) old->notify(IoWatcher::Event::removed);
}

IoWatcher* UringBackend::detach_watcher(int fd, int direction) noexcept {
  if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) return nullptr;
  FdWatch& watch = fds_[fd];
  IoWatcher* old = std::exchange(watch.watchers[direction], nullptr);
  if (old) {
    disarm(watch, direction);
    if (!watch.watchers[reader] && !watch.watchers[writer]) --watched_fds_;
  }
  return old;
}

void UringBackend::arm(int fd, int direction) {
  auto poll = std::make_unique<Poll>(this, fd, direction);
  io_uring_prep_poll_add(&prepare(poll.get()), fd, direction == reader ? POLLIN : POLLOUT);
  fds_[fd].polls[direction] = poll.release();
  ++polls_;
}

// The watcher moved on: its poll, if any, is orphaned and cancelled.
void UringBackend::disarm(FdWatch& watch, int direction) noexcept {
  Poll* poll = std::exchange(watch.polls[direction], nullptr);
  if (!poll) return;
  poll->orphaned = true;
  cancel(poll);
}

void UringBackend::Poll::on_complete(Request* request, int result, unsigned) {
  auto* poll = static_cast<Poll*>(request);
  UringBackend* backend = poll->backend;
  const int fd = poll->fd, direction = poll->direction;
  const bool orphaned = poll->orphaned;
  --backend->polls_;
  if (!orphaned) {
    assert(backend->fds_[fd].polls[direction] == poll);  // the watcher's poll
    backend->fds_[fd].polls[direction] = nullptr;
  }
  delete poll;
  if (orphaned) return;
  FdWatch& watch = backend->fds_[fd];
  IoWatcher* watcher = watch.watchers[direction];
  if (!watcher) return;
  if (result < 0) {
    // The kernel refused to poll the fd (closed behind the loop's back, say): the watcher
    // cannot be woken by it any more; it learns now and meets the error itself.
    backend->scheduler_.loop().call_exception_handler(
        {"Cannot watch fd " + std::to_string(fd),
         std::make_exception_ptr(errno_error(-result, "poll")),
         {}});
    if (backend->detach_watcher(fd, direction)) watcher->notify(IoWatcher::Event::removed);
    return;
  }
  notify_watcher(backend->scheduler_, watcher, fd);
  // Level-triggered: a watcher still there is polled again (the table may have moved).
  FdWatch& after = backend->fds_[fd];
  if (after.watchers[direction] == watcher && !after.polls[direction] && !backend->closed_) {
    try {
      backend->arm(fd, direction);
    } catch (...) {
      backend->scheduler_.loop().call_exception_handler(
          {"Cannot watch fd " + std::to_string(fd), std::current_exception(), {}});
    }
  }
}

void UringBackend::drop_watchers() noexcept {
  for (FdWatch& watch : fds_) drop_watchers(watch);
}

void UringBackend::drop_watchers(FdWatch& watch) noexcept {
  const bool watched = watch.watchers[reader] || watch.watchers[writer];
  IoWatcher* taken[2] = {std::exchange(watch.watchers[reader], nullptr),
                         std::exchange(watch.watchers[writer], nullptr)};
  disarm(watch, reader);
  disarm(watch, writer);
  if (watched) --watched_fds_;
  for (IoWatcher* w : taken) {
    if (w) w->notify(IoWatcher::Event::removed);
  }
}

void UringBackend::close_fd(int fd) noexcept {
  if (fd >= 0 && static_cast<std::size_t>(fd) < fds_.size() && ring_open_) {
    FdWatch& watch = fds_[fd];
    drop_watchers(watch);  // (its owner removed them already; their polls are cancelled)
    if (watch.in_flight > 0) {
      try {
        io_uring_sqe& sqe = prepare(nullptr);
        io_uring_prep_cancel_fd(&sqe, fd, IORING_ASYNC_CANCEL_ALL);
      } catch (...) {
      }
    }
    // A request holds its file open: the cancellations go to the kernel before the close, so
    // that the peer sees the connection end now.
    flush_submissions();
  }
  ::close(fd);
}

// --- Waiting and reaping -------------------------------------------------------------------------

void UringBackend::check_can_run_here() const {
  if (owner_ != std::thread::id() && owner_ != std::this_thread::get_id()) {
    throw RuntimeError(
        "this loop's io_uring ring is single-thread (IoUringOptions::single_thread): it can run "
        "only on the thread that made it");
  }
}

void UringBackend::poll(std::optional<std::chrono::nanoseconds> timeout) {
  int result = 0;
  if (timeout && timeout->count() <= 0) {
    // No waiting: enter the kernel only to submit, or when it has completions to produce.
    const bool task_work = IO_URING_READ_ONCE(*ring_.sq.kflags) & IORING_SQ_TASKRUN;
    if (io_uring_sq_ready(&ring_) > 0 || task_work) result = io_uring_submit_and_get_events(&ring_);
  } else {
    io_uring_cqe* cqe = nullptr;
    __kernel_timespec wait{};
    if (timeout) {
      wait.tv_sec = timeout->count() / 1'000'000'000;
      wait.tv_nsec = timeout->count() % 1'000'000'000;
    }
    result = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, timeout ? &wait : nullptr, nullptr);
  }
  if (result < 0 && result != -ETIME && result != -EINTR && result != -EBUSY && result != -EAGAIN)
    throw_errno(-result, "io_uring_enter");
  reap();
}

// Hands each completion present now to its request (a request may submit more meanwhile; those
// are reaped by the next poll).
void UringBackend::reap() {
  for (unsigned ready = io_uring_cq_ready(&ring_); ready > 0; --ready) {
    io_uring_cqe* cqe = nullptr;
    if (io_uring_peek_cqe(&ring_, &cqe) != 0 || !cqe) break;
    auto* request = static_cast<Request*>(io_uring_cqe_get_data(cqe));
    const int result = cqe->res;
    const unsigned flags = cqe->flags;
    io_uring_cqe_seen(&ring_, cqe);
    if (request) request->complete(request, result, flags);
  }
}

// --- Provided buffers ----------------------------------------------------------------------------

bool UringBackend::supports_multishot_receive() noexcept {
  if (!buffers_ && !buffers_refused_ && ring_open_)
    buffers_refused_ = !setup_buffer_ring(buffer_count_, buffer_size_);
  return buffers_ != nullptr;
}

bool UringBackend::setup_buffer_ring(unsigned count, unsigned size) noexcept {
  const std::size_t ring_bytes = count * sizeof(io_uring_buf);
  void* ring =
      ::mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (ring == MAP_FAILED) return false;
  void* memory = ::mmap(nullptr, std::size_t{count} * size, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) {
    ::munmap(ring, ring_bytes);
    return false;
  }
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(ring);
  reg.ring_entries = count;
  reg.bgid = buffer_group;
  if (io_uring_register_buf_ring(&ring_, &reg, 0) != 0) {
    ::munmap(ring, ring_bytes);
    ::munmap(memory, std::size_t{count} * size);
    return false;
  }
  buffers_ = static_cast<io_uring_buf_ring*>(ring);
  buffer_memory_ = static_cast<char*>(memory);
  buffer_count_ = count;
  buffer_size_ = size;
  io_uring_buf_ring_init(buffers_);
  const int mask = io_uring_buf_ring_mask(count);
  for (unsigned id = 0; id < count; ++id) {
    io_uring_buf_ring_add(buffers_, buffer_memory_ + std::size_t{id} * size, size,
                          static_cast<unsigned short>(id), mask, static_cast<int>(id));
  }
  io_uring_buf_ring_advance(buffers_, static_cast<int>(count));
  return true;
}

std::string_view UringBackend::received(unsigned flags, int size) const noexcept {
  const unsigned id = flags >> IORING_CQE_BUFFER_SHIFT;
  return {buffer_memory_ + std::size_t{id} * buffer_size_, static_cast<std::size_t>(size)};
}

void UringBackend::recycle(unsigned flags) noexcept {
  if (flags & IORING_CQE_F_BUFFER) recycle_id(flags >> IORING_CQE_BUFFER_SHIFT);
}

void UringBackend::recycle(std::string_view piece) noexcept {
  recycle_id(static_cast<unsigned>(static_cast<std::size_t>(piece.data() - buffer_memory_) /
                                   buffer_size_));
}

void UringBackend::recycle_id(unsigned id) noexcept {
  io_uring_buf_ring_add(buffers_, buffer_memory_ + std::size_t{id} * buffer_size_, buffer_size_,
                        static_cast<unsigned short>(id), io_uring_buf_ring_mask(buffer_count_), 0);
  io_uring_buf_ring_advance(buffers_, 1);
}

// --- Receiving a stream -------------------------------------------------------------------------

// A multishot receive: each completion carries one provided buffer of bytes, given back to the
// ring once the receiver has seen it; the last one (no IORING_CQE_F_MORE) ends it.
//
// What one recv(2) of a readiness backend would take at once (a 64 KiB message, say) comes as
// several completions, one per buffer, the kernel saying in all but the last that the socket
// still had bytes (IORING_CQE_F_SOCK_NONEMPTY). Those pieces are held, buffers and all, and
// handed over together with the last one: the receiver sees one read, and a protocol that
// answers each read answers once (one send instead of one per buffer). The next completion is
// sure to come: the socket has bytes and the receive is armed, or it ends with a completion of
// its own. At most `max_held` pieces wait, so that one connection cannot keep the ring dry.
struct IoBackend::Receive : UringBackend::Request {
  Receive(UringBackend* backend, int fd, Receiver* receiver) noexcept
      : Request(&on_complete), backend(backend), fd(fd), receiver(receiver) {}
  static void on_complete(Request* request, int result, unsigned flags);
  /// Hands the held pieces to the receiver (if any) and gives their buffers back.
  void hand_over_held();

  static constexpr unsigned max_held = 16;  // 256 KiB of the default 16 KiB buffers
  UringBackend* backend;
  int fd;
  Receiver* receiver;  // null once abandoned
  unsigned held_count = 0;
  std::array<std::string_view, max_held> held;  // held_count pieces, in the order they came
};

void IoBackend::Receive::hand_over_held() {
  struct GiveBack {  // also when the receiver throws
    Receive* self;
    ~GiveBack() {
      for (unsigned i = 0; i < self->held_count; ++i) self->backend->recycle(self->held[i]);
      self->held_count = 0;
    }
  } give_back{this};
  if (receiver) receiver->received({held.data(), held_count});
}

void IoBackend::Receive::on_complete(Request* request, int result, unsigned flags) {
  auto* self = static_cast<Receive*>(request);
  UringBackend* backend = self->backend;
  const bool more = flags & IORING_CQE_F_MORE;
  if (result > 0) {
    self->held[self->held_count++] = backend->received(flags, result);
    const bool rest_follows = more && (flags & IORING_CQE_F_SOCK_NONEMPTY) && self->receiver &&
                              self->held_count < max_held;
    if (rest_follows) return;
    self->hand_over_held();
  } else {
    if (self->held_count > 0) self->hand_over_held();
    backend->recycle(flags);
  }
  if (more) return;
  backend->count_in_flight(self->fd, -1);
  Receiver* receiver = self->receiver;
  delete self;
  if (!receiver) return;
  // Ended by a cancellation, a dry buffer ring, or the kernel's own choice: not the stream's end.
  if (result > 0 || result == -ECANCELED || result == -ENOBUFS) result = receive_stopped;
  receiver->receive_ended(result);
}

IoBackend::Receive* UringBackend::start_receive(int fd, Receiver& receiver) {
  if (closed_ || !supports_multishot_receive()) return nullptr;
  auto receive = std::make_unique<Receive>(this, fd, &receiver);
  io_uring_sqe& sqe = prepare(receive.get());
  io_uring_prep_recv_multishot(&sqe, fd, nullptr, 0, 0);
  sqe.flags |= IOSQE_BUFFER_SELECT;
  sqe.buf_group = buffer_group;
  count_in_flight(fd, 1);
  return receive.release();
}

// Submitted at once, not with the loop's next wait: until the kernel has the cancellation, the
// receive goes on taking the peer's bytes (on a ring without IORING_SETUP_DEFER_TASKRUN, at any
// system call of this thread) into the buffer ring, as far as its 16 MiB, and a paused reader
// would hold them all instead of leaving them to the peer's flow control.
void UringBackend::cancel_receive(Receive* receive) noexcept {
  cancel(receive);
  flush_submissions();
}

void UringBackend::abandon_receive(Receive* receive) noexcept {
  receive->receiver = nullptr;
  cancel(receive);
}

// --- Accepting connections
// ------------------------------------------------------------------------

// A multishot accept: each completion is a new connection's fd (or the error that ends it).
struct IoBackend::Accept : UringBackend::Request {
  Accept(UringBackend* backend, int fd, Acceptor* acceptor) noexcept
      : Request(&on_complete), backend(backend), fd(fd), acceptor(acceptor) {}
  static void on_complete(Request* request, int result, unsigned flags);
  UringBackend* backend;
  int fd;
  Acceptor* acceptor;  // null once abandoned
};

void IoBackend::Accept::on_complete(Request* request, int result, unsigned flags) {
  auto* self = static_cast<Accept*>(request);
  if (result >= 0) {
    if (self->acceptor)
      self->acceptor->accepted(result);
    else
      ::close(result);  // came after the server stopped accepting
  }
  if (flags & IORING_CQE_F_MORE) return;
  self->backend->count_in_flight(self->fd, -1);
  Acceptor* acceptor = self->acceptor;
  delete self;
  if (!acceptor) return;
  if (result >= 0 || result == -ECANCELED) result = receive_stopped;
  acceptor->accept_ended(result);
}

IoBackend::Accept* UringBackend::start_accept(int fd, Acceptor& acceptor) {
  if (closed_) return nullptr;
  auto accept = std::make_unique<Accept>(this, fd, &acceptor);
  io_uring_prep_multishot_accept(&prepare(accept.get()), fd, nullptr, nullptr,
                                 SOCK_NONBLOCK | SOCK_CLOEXEC);
  count_in_flight(fd, 1);
  return accept.release();
}

void UringBackend::abandon_accept(Accept* accept) noexcept {
  accept->acceptor = nullptr;
  cancel(accept);
}

// --- Closing -------------------------------------------------------------------------------------

void UringBackend::close() noexcept {
  if (closed_ && !ring_open_) return;
  closed_ = true;
  drop_watchers();
  if (!ring_open_) return;
  // Every request still in flight is cancelled, synchronously: the kernel touches none of
  // their memory afterwards. Their completions are reaped, which frees the orphaned ones.
  flush_submissions();
  io_uring_sync_cancel_reg reg{};
  reg.flags = IORING_ASYNC_CANCEL_ANY;
  reg.timeout.tv_sec = -1;
  reg.timeout.tv_nsec = -1;
  while (io_uring_register_sync_cancel(&ring_, &reg) == -EINTR) {
  }
  // Requests made by a thread that has exited since are cancelled by the kernel itself, and
  // their completions come from a kernel worker a few milliseconds later: wait for them too
  // (a second at most), so that no request's memory is left behind.
  for (int round = 0; round < 100; ++round) {
    if (round < 2) {
      io_uring_get_events(&ring_);
    } else {
      io_uring_cqe* cqe = nullptr;
      __kernel_timespec wait{.tv_sec = 0, .tv_nsec = 10'000'000};
      io_uring_wait_cqe_timeout(&ring_, &cqe, &wait);
    }
    try {
      reap();
    } catch (...) {
    }
    if (io_uring_cq_ready(&ring_) == 0 && round > 0 && polls_ == 0 && in_flight_ == 0) break;
  }
  if (buffers_) {
    io_uring_unregister_buf_ring(&ring_, buffer_group);
    ::munmap(buffers_, buffer_count_ * sizeof(io_uring_buf));
    ::munmap(buffer_memory_, std::size_t{buffer_count_} * buffer_size_);
    buffers_ = nullptr;
  }
  ring_unmapping();
  io_uring_queue_exit(&ring_);
  ring_open_ = false;
  fds_.clear();
  in_flight_ = 0;
}

}  // namespace asyncio::detail
