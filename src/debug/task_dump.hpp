// The text of a dump of a loop's tasks, made a slice at a time: a dump of 100,000 tasks sent
// through the inspection socket must not stop the loop for long, so the inspection server asks
// for a few hundred tasks' worth per loop iteration. print_all_tasks asks for all at once.
#pragma once

#include <cstddef>
#include <string>
#include <unordered_map>
#include <vector>

#include "asyncio/task.hpp"

namespace asyncio::detail {

class TaskDump {
 public:
  enum class Kind { tasks, table, tree };

  /// Takes a snapshot of the loop's unfinished tasks (counted references: tasks that finish
  /// meanwhile are still shown, as finished); on the loop's thread.
  TaskDump(EventLoop& loop, Kind kind);

  /// Appends the next part of the text, about `budget` tasks' worth; false once all is written.
  bool next(std::string& out, std::size_t budget);

 private:
  void header(std::string& out);
  void task_entry(std::string& out, TaskBase* task);
  void table_row(std::string& out, TaskBase* task);
  /// Tree: who awaits whom, for `budget` more tasks; true once every task is done.
  bool link(std::size_t& budget);
  /// Tree: writes nodes from the stack, `budget` of them at most; true once it is empty.
  bool walk(std::string& out, std::size_t& budget);
  /// The tasks that await `future`, through any futures between.
  std::vector<TaskBase*> awaiting_tasks(FutureStateBase* future) const;

  EventLoop& loop_;
  Kind kind_;
  std::vector<TaskRef> tasks_;
  std::size_t next_ = 0;  // the next task of tasks_ to write (or to link, for the tree)
  bool started_ = false;

  // Tree only: the tasks each task awaits, and the walk's stack (a task, its depth, and the
  // prefix its lines carry).
  struct Node {
    TaskBase* task;
    std::string prefix;
    bool last;
    std::size_t depth;
  };
  std::unordered_map<const TaskBase*, std::vector<TaskBase*>> awaited_;
  std::vector<TaskBase*> roots_;
  std::vector<Node> stack_;
  bool linked_ = false;
};

/// "1.204s" and the like.
std::string format_seconds(Clock::duration d);

}  // namespace asyncio::detail
