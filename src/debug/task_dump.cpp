// Dumps of a loop's tasks, a slice at a time (task_dump.hpp).
#include "debug/task_dump.hpp"

#include <algorithm>
#include <cstdio>
#include <unordered_set>

#include "asyncio/call_graph.hpp"
#include "debug/awaiters.hpp"
#include "debug/symbolizer.hpp"

namespace asyncio::detail {

namespace {

std::string id_of(const void* p) {
  char text[32];
  std::snprintf(text, sizeof text, "%p", p);
  return text;
}

/// A function name without template arguments and parameters: "ns::worker",
/// "main::{lambda(int)#1}::operator()".
std::string short_name(const std::string& function) {
  std::string out;
  int angle = 0;
  for (std::size_t i = 0; i < function.size(); ++i) {
    const char c = function[i];
    if (c == '<') {
      ++angle;
      continue;
    }
    if (c == '>') {
      if (angle > 0) --angle;
      continue;
    }
    if (angle > 0) continue;
    if (function.compare(i, 21, "(anonymous namespace)") == 0) {
      out += "(anonymous namespace)";
      i += 20;
      continue;
    }
    if (c == '{') {  // "{lambda(int)#1}": kept whole
      const std::size_t close = function.find('}', i);
      if (close == std::string::npos) break;
      out.append(function, i, close - i + 1);
      i = close;
      continue;
    }
    if (c == '(') {
      if (out.ends_with("operator")) {  // operator() itself
        out += "()";
        ++i;
        continue;
      }
      break;  // the parameters
    }
    out += c;
  }
  return out;
}

std::string base_name(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

/// "worker stuck.cpp:20" for each frame, the outermost first.
std::vector<std::string> frame_lines(const TaskBase* task) {
  std::vector<std::string> lines;
  task->for_each_frame([&lines](std::coroutine_handle<> frame) {
    const CodeLocation where = locate_frame(frame);
    std::string line = short_name(where.function);
    if (!where.file.empty()) {  // (appended piece by piece: g++ 12 -O3 warns on " " + string)
      line += ' ';
      line += base_name(where.file);
      line += ':';
      line += std::to_string(where.line);
    }
    lines.push_back(std::move(line));
  });
  std::reverse(lines.begin(), lines.end());
  return lines;
}

const char* state_of(const TaskBase* task) {
  if (!task->done()) return "pending";
  return task->cancelled() ? "cancelled" : "finished";
}

std::string idle_of(const TaskBase* task) {
  if (task->done()) return "-";
  const std::optional<TimePoint> last = task->last_step();
  return last ? format_seconds(Clock::now() - *last) : "-";
}

}  // namespace

std::string format_seconds(Clock::duration d) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3fs", std::chrono::duration<double>(d).count());
  return text;
}

TaskDump::TaskDump(EventLoop& loop, Kind kind)
    : loop_(loop), kind_(kind), tasks_(all_tasks(loop)) {}

void TaskDump::header(std::string& out) {
  out += "event loop " + id_of(&loop_) + ": " + std::to_string(tasks_.size()) +
         (tasks_.size() == 1 ? " task" : " tasks") + "\n";
  if (kind_ == Kind::table) {
    char line[160];
    std::snprintf(line, sizeof line, "%-16s %-20s %-9s %-9s %s\n", "task id", "name", "state",
                  "idle", "coroutine stack (outermost first)  [awaited by]");
    out += line;
  }
}

bool TaskDump::next(std::string& out, std::size_t budget) {
  if (!started_) {
    started_ = true;
    header(out);
  }
  if (kind_ == Kind::tree) {
    if (!linked_ && !link(budget)) return true;
    return !walk(out, budget);
  }
  for (; next_ < tasks_.size() && budget > 0; ++next_, --budget) {
    TaskBase* task = tasks_[next_].state()->as_task();
    if (kind_ == Kind::tasks)
      task_entry(out, task);
    else
      table_row(out, task);
  }
  return next_ < tasks_.size();
}

void TaskDump::task_entry(std::string& out, TaskBase* task) {
  out += "--- Task '" + task->get_name() + "' (" + id_of(task) + "): " + state_of(task);
  if (const std::optional<TimePoint> last = task->last_step(); last && !task->done())
    out += "; last step " + format_seconds(Clock::now() - *last) + " ago";
  const std::source_location where = task->created_at();
  if (where.line() != 0)
    out += std::string("; created at ") + where.file_name() + ":" + std::to_string(where.line());
  out += '\n';
  out += format_call_graph(TaskRef(task), CallGraphOptions{.depth = 0});
  out += '\n';
}

void TaskDump::table_row(std::string& out, TaskBase* task) {
  std::string stack;
  for (const std::string& frame : frame_lines(task)) stack += (stack.empty() ? "" : " -> ") + frame;
  std::string awaiters;
  for (TaskBase* awaiter : awaiting_tasks(task))
    awaiters += (awaiters.empty() ? "" : ", ") + awaiter->get_name();
  char fixed[96];
  std::snprintf(fixed, sizeof fixed, "%-16s %-20s %-9s %-9s ", id_of(task).c_str(),
                task->get_name().c_str(), state_of(task), idle_of(task).c_str());
  out += fixed + stack;
  if (!awaiters.empty()) out += "  [awaited by " + awaiters + "]";
  out += '\n';
}

std::vector<TaskBase*> TaskDump::awaiting_tasks(FutureStateBase* future) const {
  std::vector<TaskBase*> found;
  std::vector<FutureStateBase*> todo{future};
  std::unordered_set<const FutureStateBase*> seen{future};
  while (!todo.empty()) {
    FutureStateBase* current = todo.back();
    todo.pop_back();
    for (FutureStateBase* awaiter : awaiters_of(current)) {
      if (!seen.insert(awaiter).second) continue;
      if (TaskBase* task = awaiter->as_task())
        found.push_back(task);
      else
        todo.push_back(awaiter);  // a gather, a shield's outer future, a wait's waiter
    }
  }
  return found;
}

bool TaskDump::link(std::size_t& budget) {
  for (; next_ < tasks_.size() && budget > 0; ++next_, --budget) {
    TaskBase* task = tasks_[next_].state()->as_task();
    const std::vector<TaskBase*> awaiters = awaiting_tasks(task);
    if (awaiters.empty()) roots_.push_back(task);
    for (TaskBase* awaiter : awaiters) awaited_[awaiter].push_back(task);
  }
  if (next_ < tasks_.size()) return false;
  linked_ = true;
  for (std::size_t i = roots_.size(); i-- > 0;)
    stack_.push_back({roots_[i], "", i + 1 == roots_.size(), 0});
  return true;
}

bool TaskDump::walk(std::string& out, std::size_t& budget) {
  // Python's pstree: "└── (T) name", then its frames, outermost first, each a level deeper,
  // then the tasks it awaits under its innermost frame.
  constexpr std::size_t max_depth = 64;  // against a cycle of tasks awaiting each other
  for (; !stack_.empty() && budget > 0; --budget) {
    Node node = std::move(stack_.back());
    stack_.pop_back();
    out += node.prefix + (node.last ? "└── " : "├── ") + "(T) " + node.task->get_name() + "\n";
    std::string prefix = node.prefix + (node.last ? "    " : "│   ");
    for (const std::string& frame : frame_lines(node.task)) {
      out += prefix + "└──  " + frame + "\n";
      prefix += "    ";
    }
    auto children = awaited_.find(node.task);
    if (children == awaited_.end() || node.depth >= max_depth) continue;
    const std::vector<TaskBase*>& list = children->second;
    for (std::size_t i = list.size(); i-- > 0;)
      stack_.push_back({list[i], prefix, i + 1 == list.size(), node.depth + 1});
  }
  return stack_.empty();
}

}  // namespace asyncio::detail
