// The loop's list of unfinished tasks, for all_tasks() and close() (CPython's _scheduled_tasks).
#pragma once

#include <cstddef>
#include <vector>

namespace asyncio::detail {

class TaskBase;

/// A vector in which a finished task leaves a hole, so that finishing touches only the task's
/// own slot. Holes are squeezed out when the vector would otherwise grow and at least half of
/// it is holes, which keeps adding amortized O(1); the newest task leaves no hole (an eager
/// task that finishes inside create_task comes and goes at the end), and when the last task
/// finishes the vector starts over from its front.
class TaskRegistry {
 public:
  /// Adds `task` and records its slot in it (TaskBase::index_).
  void add(TaskBase* task);
  /// Removes a task added before.
  void remove(const TaskBase* task) noexcept;
  /// Removes and returns some unfinished task; null when there is none.
  TaskBase* take_any() noexcept;
  /// Calls f(task) for each unfinished task.
  template <class F>
  void for_each(F&& f) const {
    for (TaskBase* task : slots_) {
      if (task) f(task);
    }
  }

 private:
  void compact() noexcept;

  // Invariant: slots_[t->index_] == t for every unfinished task t; other slots are null, and
  // holes_ counts them.
  std::vector<TaskBase*> slots_;
  std::size_t holes_ = 0;
};

}  // namespace asyncio::detail
