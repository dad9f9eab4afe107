// asyncio::TaskGroup and task_group(): structured concurrency with Python 3.11's TaskGroup
// semantics. C++ has no `async with`, so the group's block is a coroutine given to task_group:
//
//     co_await asyncio::task_group([&](asyncio::TaskGroup& tg) -> asyncio::Coro<void> {
//       tg.create_task(fetch("a"));
//       tg.create_task(fetch("b"));
//       co_return;
//     });  // both tasks are done here
//
// task_group does not return before every task created in the group has finished: no task
// outlives its group. A program may also make the TaskGroup itself and run a block in it with
// `co_await tg.run(block)` (Python's `async with tg:`), to use the object afterwards: its
// create_task then raises RuntimeError, as Python's does once the group finished.
#pragma once

#include <cstddef>
#include <exception>
#include <optional>
#include <source_location>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "asyncio/coro.hpp"
#include "asyncio/detail/callback.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/exceptions.hpp"
#include "asyncio/future.hpp"
#include "asyncio/task.hpp"

namespace asyncio {

class TaskGroup;

namespace detail {
template <class R, class F>
Coro<R> run_task_group(TaskGroup* given, F body);
}  // namespace detail
template <class F>
using TaskGroupBlockValue = typename std::invoke_result_t<F&, TaskGroup&>::value_type;

/// The group of tasks of one task_group() block (Python's asyncio.TaskGroup).
///
/// - The tasks are awaited when the block ends, whether it ended normally or by an exception.
/// - The first task to fail (with anything but CancelledError) cancels the other tasks and the
///   block itself; the block's CancelledError then stays inside the group.
/// - task_group() then throws one ExceptionGroup holding every failure: the tasks', and the
///   block's own if it failed with something else than CancelledError; except that a
///   KeyboardInterrupt (a task's or the block's) is rethrown as it is, as Python does with
///   KeyboardInterrupt and SystemExit.
/// - Cancelling the task running task_group() cancels every task of the group; once they are
///   done, the CancelledError propagates (unless there were failures: an ExceptionGroup wins).
class TaskGroup {
 public:
  /// A group not entered yet (Python's TaskGroup()); run() enters it.
  TaskGroup() noexcept = default;
  ~TaskGroup();
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;

  /// Python's `async with tg:` around `body(tg)` (a callable returning a Coro): enters the
  /// group in the awaiting task, runs the body, then waits for every task of the group, as
  /// task_group() does. The group must outlive the await. RuntimeError when it was entered
  /// before.
  template <class F>
    requires std::is_invocable_v<F&, TaskGroup&>
  Coro<TaskGroupBlockValue<F>> run(F body) {
    return detail::run_task_group<TaskGroupBlockValue<F>>(this, std::move(body));
  }

  /// Starts `coro` as a task of the group. RuntimeError before the group is entered, once it is
  /// shutting down after a failure or a cancellation, and after it finished.
  template <class T>
  Task<T> create_task(Coro<T> coro, TaskOptions options,
                      std::source_location where = std::source_location::current()) {
    check_can_create();
    Task<T> task = loop_->create_task(std::move(coro), options, where);
    // Also a task that finished eagerly, inside create_task, is heard of through its callback,
    // on the next iteration (Python 3.13.2, gh-128550): its failure cancels the task that
    // created it at that task's next await, not before create_task has returned. An eager
    // first step may have cancelled the group before the task joined it (gh-155418).
    add(task);
    if (aborting_ && !task.done()) task.cancel();
    return task;
  }
  template <class T>
  Task<T> create_task(Coro<T> coro, std::string_view name = {},
                      std::source_location where = std::source_location::current()) {
    return create_task(std::move(coro), TaskOptions{.name = name}, where);
  }

  /// How many tasks of the group have not finished yet.
  std::size_t size() const noexcept { return count_; }
  /// Python 3.15's TaskGroup.cancel(): ends the group early without an error. Cancels every
  /// unfinished task of the group and, while it still runs, the block; task_group() then
  /// returns normally once they are all done (an ExceptionGroup still reports tasks that
  /// failed; a block that gives a value and was cut short has none to give, and raises its
  /// CancelledError). Callable from the block, from a task of the group, or from anywhere on
  /// the loop; create_task raises RuntimeError afterwards.
  void cancel();

 private:
  template <class R, class F>
  friend Coro<R> detail::run_task_group(TaskGroup* given, F body);

  // The done callback the group puts on each of its tasks; owned by the group until it runs.
  struct Child : detail::FnCallback {
    explicit Child(TaskGroup* owner, FutureBase t) noexcept
        : FnCallback(&dispatch), group(owner), task(std::move(t)) {}
    static bool dispatch(Callback* cb, Action action, void* found);
    TaskGroup* group;  // null once the group is gone (only when its frame is destroyed early)
    FutureBase task;
    Child* prev = nullptr;
    Child* next = nullptr;
  };

  /// Python's __aenter__: the group's parent is the current task. RuntimeError outside a task
  /// and when it was entered before.
  void enter();
  /// Python's __aexit__: `error` is what the block ended with (null: normally). Waits for
  /// every task, then throws what the group must throw, if anything.
  Coro<void> exit(std::exception_ptr error);

  void check_can_create() const;
  void add(const FutureBase& task);
  void on_task_done(Child* child);
  /// Python's _on_task_done: takes note of how `task`, one of the group's, ended.
  void task_done(FutureBase& task);
  void abort() noexcept;
  void unlink(Child* child) noexcept;

  EventLoop* loop_ = nullptr;               // null until entered
  TaskRef parent_;                          // the task running the block
  Child* children_ = nullptr;               // unfinished tasks, newest first
  std::size_t count_ = 0;                   // how many are in children_
  std::vector<std::exception_ptr> errors_;  // failures, in the order they happened
  std::exception_ptr base_error_;           // the first KeyboardInterrupt among them, if any
  Future<void> on_completed_;               // set when the last task finishes, while exit() waits
  bool exiting_ = false;
  bool aborting_ = false;
  bool parent_cancel_requested_ = false;  // the group cancelled its parent: exit() uncancels
};

namespace detail {

/// Runs `body` in `given`, or in a group of its own.
template <class R, class F>
Coro<R> run_task_group(TaskGroup* given, F body) {
  std::optional<TaskGroup> own;
  TaskGroup& group = given ? *given : own.emplace();
  group.enter();
  std::exception_ptr error;
  std::optional<std::conditional_t<std::is_void_v<R>, bool, R>> value;
  try {
    if constexpr (std::is_void_v<R>) {
      co_await body(group);
      value.emplace(true);
    } else {
      value.emplace(co_await body(group));
    }
  } catch (...) {
    error = std::current_exception();
  }
  co_await group.exit(error);
  // exit() returned: the block ended normally, or cancel() cut it short. A block cut short has
  // no value to give: a void one ends normally, as Python's `async with` does; one of another
  // type raises the CancelledError it ended with.
  if constexpr (std::is_void_v<R>) {
    co_return;
  } else {
    if (!value) std::rethrow_exception(error);
    co_return std::move(*value);
  }
}

}  // namespace detail

/// Runs `body(group)` (a callable returning a Coro), then waits for every task created in the
/// group; gives the body's value. The callable lives in this coroutine's frame, so a lambda's
/// captures stay valid while the group runs.
template <class F>
  requires std::is_invocable_v<F&, TaskGroup&>
Coro<TaskGroupBlockValue<F>> task_group(F body) {
  return detail::run_task_group<TaskGroupBlockValue<F>>(nullptr, std::move(body));
}

}  // namespace asyncio
