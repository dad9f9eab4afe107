// Names for callbacks and tasks in the loop's reports (reports.hpp), and the task's report
// details (TaskBase::describe_for_report).
#include "debug/reports.hpp"

#include <cstdio>
#include <string_view>

#include "asyncio/call_graph.hpp"
#include "asyncio/future.hpp"
#include "asyncio/task.hpp"
#include "debug/symbolizer.hpp"

namespace asyncio::detail {

namespace {

/// The template argument of HandleNode::emplace<...> in the name of the operation it stored:
/// the callable's type.
std::string callable_type(const std::string& operation) {
  const std::string_view marker = "emplace<";
  const std::size_t begin = operation.find(marker);
  if (begin == std::string::npos) return operation;
  int depth = 1;
  for (std::size_t i = begin + marker.size(); i < operation.size(); ++i) {
    if (operation[i] == '<') ++depth;
    if (operation[i] == '>' && --depth == 0)
      return operation.substr(begin + marker.size(), i - begin - marker.size());
  }
  return operation;
}

std::string at(const CodeLocation& where) {
  if (where.file.empty()) return {};
  return " at " + where.file + ":" + std::to_string(where.line);
}

}  // namespace

std::string describe_callback(const CallbackIdentity& what) {
  if (what.task_step) {
    std::string text = "<Task '" + what.task_name + "'";
    if (what.code) {
      CodeLocation where = locate_code(what.code);
      text += " resumed in " + coroutine_name(std::move(where.function)) + at(where);
    }
    return text + ">";
  }
  if (what.code) return "<callback " + callable_type(locate_code(what.code).function) + ">";
  if (what.done_callback) return "<done callback>";
  return "<callback>";
}

}  // namespace asyncio::detail

namespace asyncio::detail {

void TaskBase::set_created_at(const std::source_location& where) {
  make_extras().created_at = where;
}

std::source_location TaskBase::created_at() const noexcept {
  return has_extras_ ? extras().created_at : std::source_location();
}

std::optional<TimePoint> TaskBase::last_step() const noexcept {
  if (!has_extras_) return std::nullopt;
  return extras().last_step;
}

std::string TaskBase::describe_for_report() const {
  std::string text;
  const std::source_location where = created_at();
  if (where.line() != 0)
    text = "created at " + std::string(where.file_name()) + ":" + std::to_string(where.line()) +
           " in " + where.function_name() + "\n";
  // A const task is read, not changed: the graph only holds a counted reference meanwhile.
  if (refs_ == 0) {  // being destroyed: no frames, no awaiters, and no reference can be taken
    char id[32];
    std::snprintf(id, sizeof id, "%p", static_cast<const void*>(this));
    return text + "call graph:\n* Task(name='" + get_name() + "', id=" + id + ")";
  }
  auto* self = const_cast<TaskBase*>(this);
  return text + "call graph:\n" + format_call_graph(TaskRef(self), CallGraphOptions{.depth = 0});
}

}  // namespace asyncio::detail
