// asyncio::Task<T>: a Future<T> that drives a Coro<T> on the loop (Python's asyncio.Task), with
// create_task, ensure_future, current_task, all_tasks and TaskRef (a task of any value type).
#pragma once

#include <coroutine>
#include <cstdint>
#include <iosfwd>
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
class TaskState final : public TaskBase {
 public:
  TaskState(Scheduler* scheduler, typename Coro<T>::Handle root, std::string_view name,
            ContextData* context)
      : TaskBase(scheduler, root, name, context) {}

  void* value_ptr() noexcept override { return std::is_void_v<T> ? nullptr : &slot_; }

 private:
  using Frame = typename Coro<T>::Handle;

  void finish_root() override {
    Frame frame = Frame::from_address(current_frame().address());  // the root, just finished
    std::exception_ptr error = std::move(frame.promise().exception_);
    if constexpr (!std::is_void_v<T>) {
      if (!error) slot_.value.emplace(std::move(*frame.promise().value_));
    }
    complete(std::move(error));
  }

  [[no_unique_address]] ValueSlot<T> slot_;  // takes no room for void
};

/// std::invalid_argument (Python's ValueError) for a future that belongs to another loop than
/// the one it is used with (run_until_complete, gather, as_completed).
[[noreturn]] void throw_of_another_loop();

}  // namespace detail

namespace detail {

/// What Task<T> and TaskRef have beyond a future's methods (Python's Task methods); `Self`, a
/// future handle, gives the task's state.
template <class Self>
class TaskMethods {
 public:
  std::string get_name() const { return task()->get_name(); }
  void set_name(std::string name) { task()->set_name(std::move(name)); }
  /// Python's Task.get_context(): the Context given to create_task, itself; otherwise a copy
  /// of the task's values.
  Context get_context() const { return task()->get_context(); }
  /// Python's Task.get_coro(): the root coroutine frame; null once done.
  std::coroutine_handle<> get_coro() const noexcept { return task()->get_coro(); }
  /// Python's Task.get_stack(): the frames the task is suspended in, oldest first, at most
  /// the newest `limit`; empty once done and while it runs. C++ frames have no names: a frame
  /// is its coroutine handle.
  std::vector<std::coroutine_handle<>> get_stack(std::size_t limit = SIZE_MAX) const {
    return task()->get_stack(limit);
  }
  /// Python's Task.print_stack(): the stack, one frame per line (its coroutine's function, and
  /// file and line where debug information says), to `out` (or stderr).
  void print_stack(std::ostream& out, std::size_t limit = SIZE_MAX) const {
    task()->print_stack(out, limit);
  }
  void print_stack(std::size_t limit = SIZE_MAX) const { task()->print_stack(limit); }
  /// How many cancellation requests are outstanding (Python 3.11's Task.cancelling()).
  std::uint32_t cancelling() const noexcept { return task()->cancelling(); }
  /// Withdraws one cancellation request; returns how many remain.
  std::uint32_t uncancel() noexcept { return task()->uncancel(); }

 protected:
  TaskBase* task() const noexcept {
    return static_cast<TaskBase*>(static_cast<const Self*>(this)->state());
  }
};

}  // namespace detail

/// A task of any value type: what current_task() and all_tasks() give.
class TaskRef : public FutureBase, public detail::TaskMethods<TaskRef> {
 public:
  TaskRef() noexcept = default;
  explicit TaskRef(detail::TaskBase* task) noexcept : FutureBase(task) {}
  /// Schedules fn(task) once the task is done.
  template <class F>
    requires std::is_invocable_v<F&, TaskRef>
  CallbackId add_done_callback(F&& fn) {
    return add_callback<TaskRef>(std::forward<F>(fn));
  }

  static TaskRef from_state(detail::FutureStateBase* state) noexcept {
    return TaskRef(state->as_task());
  }
};

/// A Future<T> whose result is the outcome of a coroutine run by the loop.
///
/// Its first step runs on a later loop iteration (the creator keeps running until it next
/// suspends). cancel() throws CancelledError into the coroutine at its current await the next
/// time it runs, and cancels what it awaits; the coroutine may catch it. cancelled() is true
/// only when the coroutine ended by CancelledError.
template <class T = void>
class Task : public Future<T>, public detail::TaskMethods<Task<T>> {
 public:
  Task() noexcept = default;
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

  operator TaskRef() const noexcept { return TaskRef(this->task()); }

  static Task from_state(detail::FutureStateBase* state) noexcept { return Task(state); }

 private:
  using Future<T>::Future;
};

/// What a task factory receives from create_task: the coroutine, of any result type, not yet
/// a task. start() makes the task, once; a request never started destroys the coroutine.
class TaskRequest {
 public:
  TaskRequest(const TaskRequest&) = delete;
  TaskRequest& operator=(const TaskRequest&) = delete;
  ~TaskRequest() {
    if (frame_) frame_.destroy();
  }

  /// Makes and starts the task as create_task does on a loop without a factory. RuntimeError
  /// when the coroutine was started already.
  TaskRef start(TaskOptions options);

 private:
  friend class EventLoop;
  using Make = detail::TaskBase* (*)(detail::Scheduler&, std::coroutine_handle<>, std::string_view,
                                     detail::ContextData*);
  TaskRequest(detail::Scheduler& scheduler, std::coroutine_handle<> frame, Make make) noexcept
      : scheduler_(&scheduler), frame_(frame), make_(make) {}
  /// The task start() made, which the factory must have returned.
  detail::TaskBase* started(const TaskRef& returned) const;

  detail::Scheduler* scheduler_;
  std::coroutine_handle<> frame_;  // null once started
  Make make_;
  detail::TaskBase* task_ = nullptr;
};

/// Python's asyncio.eager_task_factory: every task starts eagerly unless create_task says
/// eager_start = false.
TaskRef eager_task_factory(EventLoop& loop, TaskRequest& coro, TaskOptions options);
/// Python's create_eager_task_factory(custom_task_constructor): a factory that calls `factory`
/// with eager_start = true unless create_task gave it.
TaskFactory create_eager_task_factory(TaskFactory factory);

namespace detail {

/// A new task driving `frame`, the root of a Coro<T>, in a copy of `context` (null: none);
/// destroys the frame if it cannot.
template <class T>
TaskBase* make_task(Scheduler& scheduler, std::coroutine_handle<> frame, std::string_view name,
                    ContextData* context) {
  try {
    return new TaskState<T>(&scheduler, Coro<T>::Handle::from_address(frame.address()), name,
                            context);
  } catch (...) {
    frame.destroy();
    throw;
  }
}

/// Makes a task (through `make`) in the context TaskOptions asks for: the given Context
/// itself, or a copy of the current one.
template <class Make>
TaskBase* make_task_in_context(const TaskOptions& options, Make&& make) {
  if (!options.context) [[likely]]
    return make(current_context);
  TaskBase* task = make(nullptr);
  task->run_in(*options.context);
  return task;
}

/// Schedules the new task's first step, or runs it now when `eager` and the loop runs here.
/// The caller holds a reference: the step may finish the task.
inline void start_task(Scheduler& scheduler, TaskBase* task, bool eager) {
  if (eager && running_loop.scheduler == &scheduler) [[unlikely]]
    task->start_eagerly();
  else
    task->schedule_step();
}

}  // namespace detail

template <class T>
Task<T> EventLoop::create_task(Coro<T> coro, TaskOptions options, std::source_location where) {
  check_open();
  check_thread();
  if (!running_) [[unlikely]]
    take_posted_calls();
  if (task_factory_) [[unlikely]]
    return create_task_by_factory(std::move(coro), options, where);
  detail::TaskBase* state =
      detail::make_task_in_context(options, [&](detail::ContextData* context) {
        return detail::make_task<T>(scheduler_, coro.release(), options.name, context);
      });
  if (scheduler_.debug()) [[unlikely]]
    state->set_created_at(where);
  auto task = Task<T>::from_state(state);
  detail::start_task(scheduler_, state, options.eager_start.value_or(false));
  return task;
}

template <class T>
Task<T> EventLoop::create_task_by_factory(Coro<T> coro, TaskOptions options,
                                          std::source_location where) {
  TaskRequest request(scheduler_, coro.release(), &detail::make_task<T>);
  const TaskRef made = task_factory_(*this, request, options);
  detail::TaskBase* state = request.started(made);
  if (scheduler_.debug()) state->set_created_at(where);
  return Task<T>::from_state(state);
}

template <class T>
T EventLoop::run_until_complete(Future<T> future) {
  // Checked before the stopper is added: a done future would queue it on this loop at once.
  check_can_run();
  if (&future.get_loop() != this) detail::throw_of_another_loop();
  // Python's _run_until_complete_cb: stop the loop once the future is done.
  CallbackId stopper = future.add_done_callback([](Future<T> done) { done.get_loop().stop(); });
  try {
    run_forever();
  } catch (...) {
    future.remove_done_callback(stopper);
    // A task that raised KeyboardInterrupt (raised again by the loop, see TaskBase::complete):
    // the caller gets it from here, so the task's copy is not reported as never retrieved.
    if (future.done() && !future.cancelled()) future.state()->mark_retrieved();
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
Task<T> create_task(Coro<T> coro, std::string_view name = {},
                    std::source_location where = std::source_location::current()) {
  return get_running_loop().create_task(std::move(coro), TaskOptions{.name = name}, where);
}
template <class T>
Task<T> create_task(Coro<T> coro, TaskOptions options,
                    std::source_location where = std::source_location::current()) {
  return get_running_loop().create_task(std::move(coro), options, where);
}

/// Python's ensure_future: a coroutine becomes a Task; a Future or Task is returned as is.
template <class T>
Task<T> ensure_future(Coro<T> coro, std::source_location where = std::source_location::current()) {
  return get_running_loop().create_task(std::move(coro), TaskOptions{}, where);
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
