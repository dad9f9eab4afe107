// The loop's list of unfinished tasks, for all_tasks() and close() (CPython's _scheduled_tasks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace asyncio::detail {

class TaskBase;
class ContextData;
class ContextState;

/// A task's context between its steps: its own values (copied from its creator's), or a
/// Context it was given to run in (create_task's context=); each holds a count. Both null: none.
struct TaskContext {
  ContextData* data = nullptr;
  ContextState* shared = nullptr;
};

/// A vector in which a finished task leaves a hole, so that finishing touches only the task's
/// own slot. Holes are squeezed out when the vector would otherwise grow and at least half of
/// it is holes, which keeps adding amortized O(1); the newest task leaves no hole (an eager
/// task that finishes inside create_task comes and goes at the end), and when the last task
/// finishes the vector starts over from its front.
class TaskRegistry {
 public:
  /// Adds `task` with its context (whose counts it takes), and records its slot in it
  /// (TaskBase::index_).
  void add(TaskBase* task, TaskContext context);
  /// Removes a task added before; returns its context (the counts to the caller).
  TaskContext remove(const TaskBase* task) noexcept;
  /// Removes and returns some unfinished task, dropping its context; null when there is none.
  TaskBase* take_any() noexcept;
  /// The context of a task (by index_), kept here while it is not running.
  TaskContext& context(std::uint32_t index) noexcept { return slots_[index].context; }
  /// Calls f(task) for each unfinished task.
  template <class F>
  void for_each(F&& f) const {
    for (const Slot& slot : slots_) {
      if (slot.task) f(slot.task);
    }
  }

 private:
  void compact() noexcept;

  struct Slot {
    TaskBase* task;
    TaskContext context;
  };
  // Invariant: slots_[t->index_].task == t for every unfinished task t; other slots are null,
  // and holes_ counts them.
  std::vector<Slot> slots_;
  std::size_t holes_ = 0;
};

}  // namespace asyncio::detail
