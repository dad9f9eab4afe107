// Crossing between threads and the loop: wrap_future (a ConcurrentFuture or std::future as an
// asyncio Future), to_thread, run_coroutine_threadsafe, and EventLoop::run_in_executor.
//
// Implementation notes. These chain a future of one kind to one of the other, as CPython's
// futures._chain_future does. A ConcurrentFuture completes on any thread; its done callback
// posts the outcome to the loop through a LoopRef (detail/loop_threads.hpp), which holds the
// loop's side (the asyncio Future, or the Task) so that only the loop's thread touches it.
// Cancelling the loop's side cancels the other while it has not started; cancelling a
// ConcurrentFuture from another thread cancels the Task on the loop's thread.
#pragma once

#include <exception>
#include <future>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "asyncio/concurrent_future.hpp"
#include "asyncio/coro.hpp"
#include "asyncio/detail/loop_threads.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/executor.hpp"
#include "asyncio/future.hpp"
#include "asyncio/runners.hpp"
#include "asyncio/task.hpp"

namespace asyncio {

namespace detail {

/// wrap_future's link: a ConcurrentFuture (the source) finishes an asyncio Future.
template <class T>
class FutureChain final : public LoopRef {
 public:
  /// Loop's thread. `move_value`: the source is nobody else's, its value may be moved out.
  static Future<T> start(ConcurrentFuture<T> source, EventLoop& loop, bool move_value) {
    LoopThreads& threads = LoopThreads::of(loop);
    Future<T> destination = loop.create_future<T>();
    auto chain = std::make_shared<FutureChain>(loop, destination, move_value);
    threads.hold(chain);
    // CPython's _call_check_cancel: cancelling the asyncio future cancels the source.
    destination.add_done_callback([source](Future<T> done) mutable {
      if (done.cancelled()) source.cancel();
    });
    // CPython's _call_set_state, on the loop's thread.
    source.add_done_callback([chain](ConcurrentFuture<T> done) {
      chain->call_soon_threadsafe([chain, done] { chain->deliver(done); });
    });
    return destination;
  }

  FutureChain(EventLoop& loop, Future<T> destination, bool move_value)
      : LoopRef(loop), destination_(std::move(destination)), move_value_(move_value) {}

 private:
  void deliver(ConcurrentFuture<T> source) {
    if (!destination_) return;
    Future<T> destination = std::move(*destination_);
    LoopThreads::of(destination.get_loop()).release(this);
    if (destination.cancelled()) return;
    if (source.cancelled()) {
      destination.cancel();
    } else if (std::exception_ptr error = source.exception()) {
      destination.set_exception(std::move(error));
    } else if constexpr (std::is_void_v<T>) {
      destination.set_result();
    } else if constexpr (std::is_copy_constructible_v<T>) {
      if (move_value_) {
        destination.set_result(std::move(source.result()));
      } else {
        destination.set_result(source.result());
      }
    } else {
      destination.set_result(std::move(source.result()));
    }
  }

  void let_go(bool) noexcept override { destination_.reset(); }

  std::optional<Future<T>> destination_;  // the loop's thread only; empty once let go
  bool move_value_;
};

/// run_coroutine_threadsafe's link: a Task on the loop finishes a ConcurrentFuture.
template <class T>
class TaskChain final : public LoopRef {
 public:
  /// Loop's thread: runs `coro` as a task whose outcome goes to `result`.
  static void start(EventLoop& loop, Coro<T> coro, ConcurrentFuture<T> result) {
    if (result.cancelled()) return;  // cancelled before the loop got to it: never started
    std::optional<Task<T>> task;
    try {
      task = loop.create_task(std::move(coro));
    } catch (...) {
      if (result.set_running_or_notify_cancel()) result.set_exception(std::current_exception());
      throw;
    }
    auto chain = std::make_shared<TaskChain>(loop, *task, result);
    LoopThreads::of(loop).hold(chain);
    task->add_done_callback([chain](Task<T> done) { chain->deliver(std::move(done)); });
    result.add_done_callback([chain](ConcurrentFuture<T> done) {
      if (done.cancelled()) chain->call_soon_threadsafe([chain] { chain->cancel_task(); });
    });
  }

  TaskChain(EventLoop& loop, Task<T> task, ConcurrentFuture<T> result)
      : LoopRef(loop), task_(std::move(task)), result_(std::move(result)) {}

 private:
  // CPython's _set_concurrent_future_state.
  void deliver(Task<T> task) {
    LoopThreads::of(task.get_loop()).release(this);
    if (task.cancelled()) {
      result_.cancel();
      return;
    }
    if (!result_.set_running_or_notify_cancel()) return;
    if (std::exception_ptr error = task.exception()) {
      result_.set_exception(std::move(error));
    } else if constexpr (std::is_void_v<T>) {
      result_.set_result();
    } else {
      result_.set_result(take_value<T>(task.state()));
    }
  }

  void cancel_task() {
    if (task_) task_->cancel();
  }

  void let_go(bool closing) noexcept override {
    task_.reset();
    // A task the closing loop destroys never finishes: neither will the result otherwise.
    if (closing) result_.cancel();
  }

  std::optional<Task<T>> task_;  // the loop's thread only; empty once let go
  ConcurrentFuture<T> result_;
};

/// The call run_coroutine_threadsafe posts to the loop. Dropped unrun (the loop closed first),
/// it cancels the ConcurrentFuture, which nothing else would ever finish.
template <class T>
class StartTask {
 public:
  StartTask(EventLoop& loop, Coro<T> coro, ConcurrentFuture<T> result)
      : loop_(&loop), coro_(std::move(coro)), result_(std::move(result)) {}
  StartTask(StartTask&& other) noexcept
      : loop_(other.loop_),
        coro_(std::move(other.coro_)),
        result_(other.result_),
        armed_(std::exchange(other.armed_, false)) {}
  StartTask& operator=(StartTask&&) = delete;
  ~StartTask() {
    if (armed_) result_.cancel();
  }

  void operator()() {
    armed_ = false;
    TaskChain<T>::start(*loop_, std::move(coro_), result_);
  }

 private:
  EventLoop* loop_;
  Coro<T> coro_;
  ConcurrentFuture<T> result_;
  bool armed_ = true;  // not run yet
};

}  // namespace detail

/// Python's asyncio.wrap_future: an asyncio Future on `loop` that gets `future`'s outcome (on the
/// loop's thread, through call_soon_threadsafe). Cancelling it cancels `future` unless that has
/// started running. A value is copied (moved when T cannot be copied). Call it on the loop's
/// thread.
template <class T>
Future<T> wrap_future(ConcurrentFuture<T> future, EventLoop& loop) {
  return detail::FutureChain<T>::start(std::move(future), loop, false);
}
/// The same on the running loop, else the current one (get_event_loop()).
template <class T>
Future<T> wrap_future(ConcurrentFuture<T> future) {
  return wrap_future(std::move(future), get_event_loop());
}

/// Python's wrap_future of an asyncio Future (or Task): the future itself.
template <class T>
Future<T> wrap_future(Future<T> future) noexcept {
  return future;
}

/// An asyncio Future on `loop` that gets the outcome of a std::future. A std::future tells
/// nobody when it is ready, so a thread of the loop's default executor waits in get() for it:
/// each wrapped std::future occupies one of those threads until it is ready. If whatever makes
/// it ready needs a thread of the same pool, and all of them are waiting like this, that is a
/// deadlock. Cancelling the Future does not stop a wait that has started.
template <class T>
Future<T> wrap_future(std::future<T> future, EventLoop& loop) {
  return loop.run_in_executor(nullptr, [f = std::move(future)]() mutable -> T { return f.get(); });
}
template <class T>
Future<T> wrap_future(std::future<T> future) {
  return wrap_future(std::move(future), get_event_loop());
}

/// Python's asyncio.to_thread: runs fn(args...) on the running loop's default executor, in a
/// copy of the caller's context (what fn sets there stays there); `co_await` the Future for its
/// result. Unlike Python's coroutine, the call is queued at once, not when awaited.
/// RuntimeError when no loop runs on this thread.
template <class F, class... Args>
Future<detail::call_result_t<F, Args...>> to_thread(F&& fn, Args&&... args) {
  EventLoop& loop = get_running_loop();
  return detail::pass_in_context_copy(std::decay_t<F>(std::forward<F>(fn)), [&](auto&& call) {
    return loop.run_in_executor(nullptr, std::forward<decltype(call)>(call),
                                std::forward<Args>(args)...);
  });
}

/// Python's asyncio.run_coroutine_threadsafe, called from another thread: runs `coro` as a
/// Task on `loop` and returns a ConcurrentFuture of its outcome, which the calling thread may
/// wait on. Cancelling that future cancels the task (on the loop's thread). When the loop closes
/// before the task finished (or started), the future is cancelled. RuntimeError when the loop
/// is closed.
template <class T>
ConcurrentFuture<T> run_coroutine_threadsafe(Coro<T> coro, EventLoop& loop) {
  ConcurrentFuture<T> result;
  loop.call_soon_threadsafe(detail::StartTask<T>(loop, std::move(coro), result));
  return result;
}

template <class F, class... Args>
Future<std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>> EventLoop::run_in_executor(
    ThreadPoolExecutor* executor, F&& fn, Args&&... args) {
  check_open();
  check_thread();
  if (!executor) executor = &detail::LoopThreads::of(*this).default_executor();
  return detail::FutureChain<detail::call_result_t<F, Args...>>::start(
      executor->submit(std::forward<F>(fn), std::forward<Args>(args)...), *this, true);
}

}  // namespace asyncio
