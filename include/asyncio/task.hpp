// asyncio::Task<T>: a Future<T> that drives a Coro<T> on the loop (Python's asyncio.Task), with
// create_task, ensure_future, current_task, all_tasks and TaskRef (a task of any value type).
#pragma once

#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "asyncio/coro.hpp"
#include "asyncio/detail/task_base.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/future.hpp"

namespace asyncio {

namespace detail {

template <class T>
class TaskState final : public TaskBase, public PooledState<TaskState<T>> {
 public:
  using PooledState<TaskState<T>>::operator new;
  using PooledState<TaskState<T>>::operator delete;

  TaskState(Scheduler* scheduler, typename Coro<T>::Handle root, std::string_view name)
      : TaskBase(scheduler, &dispatch, root, name) {}

  void* value_ptr() noexcept override { return std::is_void_v<T> ? nullptr : &slot_; }

 private:
  using Frame = typename Coro<T>::Handle;

  static bool dispatch(Callback* cb, Action action) {
    if (action == Action::run) static_cast<TaskState*>(cb)->step();
    return true;  // completed: a wake-up, queued to run
  }

  /// CPython's Task.__step: resume the coroutine until it suspends or finishes.
  void step() {
    TaskBase*& running = scheduler_->current_task();
    running = this;
    if (!started_) [[unlikely]] {
      started_ = true;
      if (exception_) {  // cancelled before it ever ran: the body never starts
        running = nullptr;
        complete(take_cancel_request());
        return;
      }
    }
    resume_frames();
    running = nullptr;
    if (root_finished_running()) finish();
  }

  // Out of line: the step that only suspends then needs fewer registers.
  [[gnu::noinline]] void finish() {
    Frame frame = Frame::from_address(current_.address());  // the root, which just finished
    std::exception_ptr error = std::move(frame.promise().exception_);
    if constexpr (!std::is_void_v<T>) {
      if (!error) slot_.value.emplace(std::move(*frame.promise().value_));
    }
    complete(std::move(error));
  }

  [[no_unique_address]] ValueSlot<T> slot_;  // takes no room for void
};

}  // namespace detail

/// A task of any value type: what current_task() and all_tasks() give.
class TaskRef : public FutureBase {
 public:
  TaskRef() noexcept = default;
  explicit TaskRef(detail::TaskBase* task) noexcept : FutureBase(task) {}

  std::string get_name() const { return task()->get_name(); }
  void set_name(std::string name) { task()->set_name(std::move(name)); }
  std::uint32_t cancelling() const noexcept { return task()->cancelling(); }
  std::uint32_t uncancel() noexcept { return task()->uncancel(); }

  /// Schedules fn(task) once the task is done.
  template <class F>
    requires std::is_invocable_v<F&, TaskRef>
  CallbackId add_done_callback(F&& fn) {
    return add_callback<TaskRef>(std::forward<F>(fn));
  }

  static TaskRef from_state(detail::FutureStateBase* state) noexcept {
    return TaskRef(state->as_task());
  }

 private:
  detail::TaskBase* task() const noexcept { return static_cast<detail::TaskBase*>(state_); }
};

/// A Future<T> whose result is the outcome of a coroutine run by the loop.
///
/// Its first step runs on a later loop iteration (the creator keeps running until it next
/// suspends). cancel() throws CancelledError into the coroutine at its current await the next
/// time it runs, and cancels what it awaits; the coroutine may catch it. cancelled() is true
/// only when the coroutine ended by CancelledError.
template <class T = void>
class Task : public Future<T> {
 public:
  Task() noexcept = default;

  std::string get_name() const { return task()->get_name(); }
  void set_name(std::string name) { task()->set_name(std::move(name)); }
  /// How many cancellation requests are outstanding (Python 3.11's Task.cancelling()).
  std::uint32_t cancelling() const noexcept { return task()->cancelling(); }
  /// Withdraws one cancellation request; returns how many remain.
  std::uint32_t uncancel() noexcept { return task()->uncancel(); }

  /// Schedules fn(task) once the task is done.
  template <class F>
    requires std::is_invocable_v<F&, Task<T>>
  CallbackId add_done_callback(F&& fn) {
    return this->template add_callback<Task<T>>(std::forward<F>(fn));
  }

  /// Setting a task's outcome from outside is an error, as in Python.
  template <class... V>
  void set_result(V&&...) = delete;
  void set_exception(std::exception_ptr) = delete;

  operator TaskRef() const noexcept { return TaskRef(task()); }

  static Task from_state(detail::FutureStateBase* state) noexcept { return Task(state); }

 private:
  using Future<T>::Future;
  detail::TaskBase* task() const noexcept { return static_cast<detail::TaskBase*>(this->state_); }
};

template <class T>
Task<T> EventLoop::create_task(Coro<T> coro, std::string_view name) {
  check_open();
  check_thread();
  auto frame = coro.release();
  detail::TaskBase* task;
  try {
    task = new detail::TaskState<T>(&scheduler_, frame, name);
  } catch (...) {
    frame.destroy();
    throw;
  }
  return Task<T>::from_state(task);
}

template <class T>
T EventLoop::run_until_complete(Future<T> future) {
  // Python's _run_until_complete_cb: stop the loop once the future is done.
  CallbackId stopper = future.add_done_callback([](Future<T> done) { done.get_loop().stop(); });
  try {
    run_forever();
  } catch (...) {
    future.remove_done_callback(stopper);
    throw;
  }
  future.remove_done_callback(stopper);
  if (!future.done()) throw RuntimeError("Event loop stopped before Future completed.");
  return detail::take_value<T>(future.state());
}

template <class T>
T EventLoop::run_until_complete(Coro<T> coro) {
  check_can_run();  // before a task exists that a running loop would run
  Future<T> task = create_task(std::move(coro));
  return run_until_complete(std::move(task));
}

/// Wraps `coro` in a Task on the running loop.
template <class T>
Task<T> create_task(Coro<T> coro, std::string_view name = {}) {
  return get_running_loop().create_task(std::move(coro), name);
}

/// Python's ensure_future: a coroutine becomes a Task; a Future or Task is returned as is.
template <class T>
Task<T> ensure_future(Coro<T> coro) {
  return create_task(std::move(coro));
}
template <class T>
Task<T> ensure_future(Task<T> task) noexcept {
  return task;
}
template <class T>
Future<T> ensure_future(Future<T> future) noexcept {
  return future;
}

/// The task running on this thread's running loop, or an invalid TaskRef outside any task.
TaskRef current_task();
/// The unfinished tasks of the running loop (or of `loop`).
std::vector<TaskRef> all_tasks();
std::vector<TaskRef> all_tasks(EventLoop& loop);

}  // namespace asyncio
