// The loop's list of unfinished tasks, for all_tasks() and close() (CPython's _scheduled_tasks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace asyncio::detail {

class TaskBase;
class ContextData;

/// A vector in which a finished task leaves a hole, so that finishing touches only the task's
/// own slot. Holes are squeezed out when the vector would otherwise grow and at least half of
/// it is holes, which keeps adding amortized O(1); the newest task leaves no hole (an eager
/// task that finishes inside create_task comes and goes at the end), and when the last task
/// finishes the vector starts over from its front.
class TaskRegistry {
 public:
  /// Adds `task` with its own context values (a count, or null), and records its slot in it
  /// (TaskBase::index_).
  void add(TaskBase* task, ContextData* values) {
    if (slots_.size() == slots_.capacity() && holes_ >= slots_.size() / 2) compact();
    set_index(task, slots_.size());
    slots_.push_back({task, values});
  }
  /// How many unfinished tasks it holds.
  std::size_t size() const noexcept { return slots_.size() - holes_; }
  /// Removes a task added before; returns its values (their count to the caller).
  ContextData* remove(const TaskBase* task) noexcept;
  /// Removes and returns some unfinished task, dropping its values; null when there is none.
  TaskBase* take_any() noexcept;
  /// The context values of a task (by index_), kept here between its steps.
  ContextData*& values(std::uint32_t index) noexcept { return slots_[index].values; }
  /// Where a task's slot is, to read it ahead of the task's end (which clears it).
  const void* slot_address(std::uint32_t index) const noexcept { return &slots_[index]; }
  /// Calls f(task) for each unfinished task.
  template <class F>
  void for_each(F&& f) const {
    for (const Slot& slot : slots_) {
      if (slot.task) f(slot.task);
    }
  }

 private:
  void compact() noexcept;
  static void set_index(TaskBase* task, std::size_t index) noexcept;

  struct Slot {
    TaskBase* task;
    ContextData* values;  // the task's own context values (a count), or null
  };
  // Invariant: slots_[t->index_].task == t for every unfinished task t; other slots are null,
  // and holes_ counts them.
  std::vector<Slot> slots_;
  std::size_t holes_ = 0;
};

}  // namespace asyncio::detail
