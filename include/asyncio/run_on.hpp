// asyncio::run_on(loop, coro): awaits a coroutine run as a task on another loop (one running
// on another thread), with cancellation carried both ways. The sharded form of Seastar's
// submit_to; in Python, run_coroutine_threadsafe followed by wrap_future.
//
// Implementation notes. A RemoteRun links the two loops. The awaiting task waits on it (it is
// the task's WaitTarget); the coroutine's start is posted to the target loop, which runs it as
// a task and posts the outcome back. Each loop's side is touched only on its own thread; what
// crosses is the outcome (written before the post that delivers it) and which came first, the
// outcome or a cancel (First, below). Every path delivers exactly one outcome: the task's,
// CancelledError when it was cancelled before it started, or RuntimeError when the target loop
// closed first (CancelledError if a cancel was asked for). Cancelling the awaiting task cancels
// the remote task and goes on waiting for its outcome, as awaiting a Task does in Python, so
// the coroutine never outlives the frame that awaits it (it may refer to it); a cancel that
// comes after the outcome is raised instead of it.
#pragma once

#include <atomic>
#include <coroutine>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "asyncio/coro.hpp"
#include "asyncio/detail/loop_threads.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/outcome.hpp"
#include "asyncio/task.hpp"

namespace asyncio {

namespace detail {

/// The untyped part of run_on's link (src/threads/run_on.cpp).
class RemoteRunBase : public LoopRef,
                      public WaitTarget,
                      public std::enable_shared_from_this<RemoteRunBase> {
 public:
  RemoteRunBase(EventLoop& target, EventLoop& origin) noexcept
      : LoopRef(target), origin_(&origin) {}

  // --- the origin loop's thread ---
  /// The awaiting task waits on this link; false when the start could not even be posted
  /// (the target is closed: the outcome is already there).
  bool wait(TaskBase* task);
  /// The awaiting frame is gone (its loop closed): nothing is delivered any more, and the
  /// remote task is cancelled.
  void abandon() noexcept;
  /// After the wait: throws a cancellation the task still has to raise.
  void end_wait();

 protected:
  // --- the target loop's thread ---
  /// Posts the outcome (already stored) to the origin loop, if it still waits.
  void send_to_origin() noexcept;
  /// Whether the awaiting side asked for the remote task to be cancelled (before the outcome).
  bool cancel_requested() const noexcept {
    return first_.load(std::memory_order_acquire) == First::cancel;
  }
  /// The outcome is stored (before it is posted): a cancellation from now on is too late.
  void outcome_stored() noexcept {
    First expected = First::neither;
    first_.compare_exchange_strong(expected, First::outcome, std::memory_order_acq_rel);
  }
  /// The loop's thread: posts the start of the coroutine (the typed part's).
  virtual void post_start() = 0;
  /// The target's thread: cancels the remote task if it runs.
  virtual void cancel_remote() noexcept = 0;

 private:
  CancelOutcome cancel_wait(TaskBase* task, const std::exception_ptr& error) override;
  /// Asks, once, for the remote task to be cancelled; false when the outcome came first.
  bool request_cancel() noexcept;
  void deliver() noexcept;

  // What came first, the remote outcome or the awaiting task's cancellation. One that comes
  // after the outcome is too late for the remote task: the awaiting task raises it instead of
  // the outcome, as a task awaiting a Task that finished already does (Python's _must_cancel).
  enum class First : unsigned char { neither, cancel, outcome };
  std::atomic<First> first_{First::neither};
  std::mutex origin_mutex_;
  EventLoop* origin_;           // guarded by origin_mutex_; null once the awaiting frame is gone
  TaskBase* waiter_ = nullptr;  // the origin's thread only: the awaiting task while it waits
};

template <class T>
class RemoteRun final : public RemoteRunBase {
 public:
  RemoteRun(EventLoop& target, EventLoop& origin, Coro<T> coro)
      : RemoteRunBase(target, origin), target_(target), coro_(std::move(coro)) {}

  std::shared_ptr<RemoteRun> self() {
    return std::static_pointer_cast<RemoteRun>(shared_from_this());
  }
  /// The origin's thread, once the wait is over: the coroutine's outcome.
  T take_result() { return std::move(*outcome_).value(); }

 private:
  /// The posted start; dropped unrun (the target closed first), it delivers RuntimeError.
  class Start {
   public:
    explicit Start(std::shared_ptr<RemoteRun> run) noexcept : run_(std::move(run)) {}
    Start(Start&& other) noexcept = default;
    Start& operator=(Start&&) = delete;
    ~Start() {
      if (run_) run_->finish(Outcome<T>::from_exception(run_->closed_error("started")));
    }
    void operator()() { std::exchange(run_, nullptr)->start(); }

   private:
    std::shared_ptr<RemoteRun> run_;
  };

  void post_start() override { target_.call_soon_threadsafe(Start(self())); }

  // The target's thread.
  void start() {
    if (cancel_requested()) {
      finish(Outcome<T>::from_exception(std::make_exception_ptr(CancelledError())));
      return;
    }
    try {
      task_ = target_.create_task(std::move(coro_));
    } catch (...) {
      finish(Outcome<T>::from_exception(std::current_exception()));
      return;
    }
    LoopThreads::of(target_).hold(self());
    task_->add_done_callback([run = self()](Task<T> done) {
      run->finish(outcome_of(done));
      LoopThreads::of(run->target_).release(run.get());
    });
    if (cancel_requested()) task_->cancel();
  }

  static Outcome<T> outcome_of(Task<T>& task) {
    if (task.cancelled())
      return Outcome<T>::from_exception(std::make_exception_ptr(CancelledError()));
    if (std::exception_ptr error = task.exception()) return Outcome<T>::from_exception(error);
    if constexpr (std::is_void_v<T>) {
      return Outcome<T>::from_value();
    } else {
      return Outcome<T>::from_value(take_value<T>(task.state()));
    }
  }

  /// The target loop closed first: RuntimeError, or CancelledError once the awaiting task was
  /// cancelled (it would raise that at once in Python, which does not wait for the target).
  std::exception_ptr closed_error(const char* when) const {
    if (cancel_requested()) return std::make_exception_ptr(CancelledError());
    return std::make_exception_ptr(RuntimeError(
        std::string("run_on: the target event loop closed before the coroutine ") + when));
  }

  void finish(Outcome<T> outcome) noexcept {
    if (outcome_) return;  // delivered already
    outcome_.emplace(std::move(outcome));
    outcome_stored();
    send_to_origin();
  }

  void cancel_remote() noexcept override {
    if (task_) task_->cancel();
  }

  void let_go(bool closing) noexcept override {
    task_.reset();
    if (closing) finish(Outcome<T>::from_exception(closed_error("finished")));
  }

  EventLoop& target_;
  Coro<T> coro_;                       // until started
  std::optional<Task<T>> task_;        // the target's thread only, while the task runs
  std::optional<Outcome<T>> outcome_;  // written once, before it is posted to the origin
};

/// What `co_await run_on(...)` waits on when the loop is another one.
template <class T>
class RemoteRunAwaiter {
 public:
  RemoteRunAwaiter(EventLoop& target, Coro<T> coro)
      : run_(std::make_shared<RemoteRun<T>>(target, *running_loop.loop, std::move(coro))) {}
  RemoteRunAwaiter(const RemoteRunAwaiter&) = delete;
  RemoteRunAwaiter& operator=(const RemoteRunAwaiter&) = delete;
  ~RemoteRunAwaiter() {
    if (waiting_) run_->abandon();
  }

  bool await_ready() const noexcept { return false; }
  template <AsyncioPromise P>
  bool await_suspend(std::coroutine_handle<P>) {
    waiting_ = run_->wait(running_task());
    return waiting_;
  }
  T await_resume() {
    if (std::exchange(waiting_, false)) run_->end_wait();
    return run_->take_result();
  }

 private:
  std::shared_ptr<RemoteRun<T>> run_;
  bool waiting_ = false;
};

}  // namespace detail

/// Runs `coro` as a task on `loop` (normally one running on another thread) and returns its
/// value, or raises its exception. Cancelling the awaiting task cancels the remote one and
/// then waits for how it ends: usually CancelledError, but a coroutine that catches the
/// cancellation and returns a value gives that value (as when awaiting a Task); a cancellation
/// that comes once the coroutine finished is raised instead of its outcome. RuntimeError when
/// `loop` is closed, or closes before the coroutine finished (CancelledError if the awaiting
/// task was cancelled meanwhile). On the running loop itself it is a task of that loop,
/// awaited. Call it from a task.
template <class T>
Coro<T> run_on(EventLoop& loop, Coro<T> coro) {
  if (&loop == &get_running_loop()) co_return co_await loop.create_task(std::move(coro));
  detail::RemoteRunAwaiter<T> remote(loop, std::move(coro));
  co_return co_await remote;
}

}  // namespace asyncio
