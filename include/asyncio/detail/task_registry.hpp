// The loop's list of unfinished tasks, for all_tasks() and close() (CPython's _scheduled_tasks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace asyncio::detail {

class TaskBase;
class ContextData;

/// A vector in which a finished task leaves a hole, so that finishing touches only the task's
/// own slot. Holes are squeezed out when the vector would otherwise grow and at least half of
/// it is holes, which keeps adding amortized O(1); the newest task leaves no hole (an eager
/// task that finishes inside create_task comes and goes at the end), and when the last task
/// finishes the vector starts over from its front. The tasks' context values are in a second
/// vector, beside the first, that grows only once some task has values: a program that sets no
/// context variable pays 8 bytes per task here.
class TaskRegistry {
 public:
  /// Adds `task` with its own context values (a count, or null), and records its slot in it
  /// (TaskBase::index_).
  void add(TaskBase* task, ContextData* values) {
    if (tasks_.size() == tasks_.capacity() && holes_ >= tasks_.size() / 2) compact();
    const std::size_t index = tasks_.size();
    set_index(task, index);
    tasks_.push_back(task);
    if (values) [[unlikely]]
      set_values(index, values);
  }
  /// How many unfinished tasks it holds.
  std::size_t size() const noexcept { return tasks_.size() - holes_; }
  /// Removes a task added before; returns its values (their count to the caller).
  ContextData* remove(const TaskBase* task) noexcept;
  /// Removes and returns some unfinished task, dropping its values; null when there is none.
  TaskBase* take_any() noexcept;
  /// The context values of a task (by index_), kept here between its steps, or null.
  ContextData* get_values(std::uint32_t index) const noexcept {
    return index < values_.size() ? values_[index] : nullptr;
  }
  /// Takes them out (the task's step has them meanwhile).
  ContextData* take_values(std::uint32_t index) noexcept {
    return index < values_.size() ? std::exchange(values_[index], nullptr) : nullptr;
  }
  /// Gives them back, or sets them for the first time.
  void set_values(std::uint32_t index, ContextData* values) {
    if (index >= values_.size()) {
      if (!values) return;
      values_.resize(tasks_.size());  // (a failure to allocate here ends the program)
    }
    values_[index] = values;
  }
  /// Where a task's slot is, to read it ahead of the task's end (which clears it).
  const void* slot_address(std::uint32_t index) const noexcept { return &tasks_[index]; }
  /// Calls f(task) for each unfinished task.
  template <class F>
  void for_each(F&& f) const {
    for (TaskBase* task : tasks_) {
      if (task) f(task);
    }
  }

 private:
  void compact() noexcept;
  void pop_back() noexcept {
    tasks_.pop_back();
    if (values_.size() > tasks_.size()) values_.pop_back();
  }
  static void set_index(TaskBase* task, std::size_t index) noexcept;

  // Invariant: tasks_[t->index_] == t for every unfinished task t; other entries are null, and
  // holes_ counts them. values_ is no longer than tasks_; values_[i] are the values of
  // tasks_[i] (a count), null for none and for a hole; past its end every task has none.
  std::vector<TaskBase*> tasks_;
  std::vector<ContextData*> values_;
  std::size_t holes_ = 0;
};

}  // namespace asyncio::detail
