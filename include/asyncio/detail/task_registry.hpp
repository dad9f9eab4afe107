// The loop's list of unfinished tasks, for all_tasks() and close() (CPython's _scheduled_tasks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace asyncio::detail {

class TaskBase;
class ContextData;

/// An array of slots in which a finished task leaves a hole, so that finishing touches only the
/// task's own slot. Holes are squeezed out when the array would otherwise grow and at least half
/// of it is holes, which keeps adding amortized O(1); the newest task leaves no hole (an eager
/// task that finishes inside create_task comes and goes at the end), and when the last task
/// finishes the array starts over from its front. The array grows by segments of 8,192 slots
/// (64 KiB, mapped from the OS) that never move: growing copies nothing, and the array's memory
/// is resident only as far as slots are used. The tasks' context values are in a vector beside
/// it that grows only once some task has values: a program that sets no context variable pays
/// 8 bytes per task here.
class TaskRegistry {
 public:
  /// Adds `task` with its own context values (a count, or null), and records its slot in it
  /// (TaskBase::index_).
  void add(TaskBase* task, ContextData* values) {
    if (size_ == segments_.size() * segment_size) [[unlikely]]
      grow();
    const std::size_t index = size_++;
    set_index(task, index);
    slot(index) = task;
    if (values) [[unlikely]]
      set_values(index, values);
  }
  /// How many unfinished tasks it holds.
  std::size_t size() const noexcept { return size_ - holes_; }
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
      values_.resize(size_);  // (a failure to allocate here ends the program)
    }
    values_[index] = values;
  }
  /// Where a task's slot is, to read it ahead of the task's end (which clears it).
  const void* slot_address(std::uint32_t index) const noexcept { return &slot(index); }
  /// Calls f(task) for each unfinished task.
  template <class F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < size_; ++i) {
      if (TaskBase* task = slot(i)) f(task);
    }
  }

 private:
  static constexpr std::size_t segment_size = 8192;  // slots: 64 KiB
  TaskBase*& slot(std::size_t index) const noexcept {
    return segments_[index / segment_size].get()[index % segment_size];
  }
  /// Makes room for one more task: squeezes the holes out when they are at least half, else
  /// adds a segment.
  void grow();
  void compact() noexcept;
  void pop_back() noexcept {
    --size_;
    if (values_.size() > size_) values_.pop_back();
  }
  static void set_index(TaskBase* task, std::size_t index) noexcept;

  struct UnmapSegment {
    void operator()(TaskBase** segment) const noexcept;
  };

  // Invariant: slot(t->index_) == t for every unfinished task t; other slots below size_ are
  // null, and holes_ counts them. values_ is no longer than size_; values_[i] are the values of
  // slot(i)'s task (a count), null for none and for a hole; past its end every task has none.
  std::vector<std::unique_ptr<TaskBase*, UnmapSegment>> segments_;  // kept when it starts over
  std::size_t size_ = 0;                                            // slots in use, holes included
  std::vector<ContextData*> values_;
  std::size_t holes_ = 0;
};

}  // namespace asyncio::detail
