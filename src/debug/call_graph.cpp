// capture_call_graph and its formatting (Python's asyncio.graph).
#include "asyncio/call_graph.hpp"

#include <cstdio>
#include <iostream>
#include <sstream>
#include <unordered_set>

#include "asyncio/task.hpp"
#include "debug/awaiters.hpp"
#include "debug/symbolizer.hpp"

namespace asyncio {

namespace {

using detail::awaiters_of;
using detail::FutureStateBase;
using detail::TaskBase;

FrameCallGraphEntry entry_for(std::coroutine_handle<> frame) {
  detail::CodeLocation where = detail::locate_frame(frame);
  return {frame, std::move(where.function), std::move(where.file), where.line};
}

/// Keeps what `limit` asks of a stack listed innermost first.
void apply_limit(std::vector<FrameCallGraphEntry>& stack, std::optional<long> limit) {
  if (!limit) return;
  const std::size_t keep = static_cast<std::size_t>(*limit < 0 ? -*limit : *limit);
  if (stack.size() <= keep) return;
  if (*limit > 0)  // the outermost: the end of the list
    stack.erase(stack.begin(), stack.end() - static_cast<std::ptrdiff_t>(keep));
  else
    stack.resize(keep);
}

FutureCallGraph build(FutureStateBase* future, std::size_t skip, const CallGraphOptions& options,
                      std::unordered_set<const FutureStateBase*>& on_path) {
  FutureCallGraph graph{Future<void>::from_state(future), {}, {}};
  if (const TaskBase* task = future->as_task()) {
    task->for_each_frame([&](std::coroutine_handle<> frame) {
      if (skip > 0) {
        --skip;
        return;
      }
      graph.call_stack.push_back(entry_for(frame));
    });
    apply_limit(graph.call_stack, options.limit);
  }
  on_path.insert(future);
  for (FutureStateBase* awaiter : awaiters_of(future)) {
    if (on_path.count(awaiter)) continue;  // a cycle: shown once
    graph.awaited_by.push_back(build(awaiter, 0, options, on_path));
  }
  on_path.erase(future);
  return graph;
}

void render(const FutureCallGraph& graph, std::ostream& out, std::size_t level) {
  const std::string indent(level * 4, ' ');
  char id[32];
  std::snprintf(id, sizeof id, "%p", static_cast<const void*>(graph.future.state()));
  if (graph.is_task())
    out << indent << "* Task(name='" << graph.name() << "', id=" << id << ")\n";
  else
    out << indent << "* Future(id=" << id << ")\n";
  if (!graph.call_stack.empty()) {
    out << indent << "  + Call stack:\n";
    for (const FrameCallGraphEntry& entry : graph.call_stack) {
      out << indent << "  |   ";
      if (!entry.file.empty()) out << "File '" << entry.file << "', line " << entry.line << ", ";
      out << "in async " << entry.function << '\n';
    }
  }
  if (!graph.awaited_by.empty()) {
    out << indent << "  + Awaited by:\n";
    for (const FutureCallGraph& awaiter : graph.awaited_by) render(awaiter, out, level + 1);
  }
}

}  // namespace

bool FutureCallGraph::is_task() const { return future.state() && future.state()->as_task(); }

std::string FutureCallGraph::name() const {
  const TaskBase* task = is_task() ? future.state()->as_task() : nullptr;
  return task ? task->get_name() : std::string();
}

std::optional<FutureCallGraph> capture_call_graph(CallGraphOptions options) {
  TaskBase* task = get_running_loop().scheduler().current_task();
  if (!task) return std::nullopt;
  std::unordered_set<const FutureStateBase*> on_path;
  // The call to capture_call_graph is the first of `depth`; it has no coroutine frame here.
  return build(task, options.depth > 0 ? options.depth - 1 : 0, options, on_path);
}

FutureCallGraph capture_call_graph(const FutureBase& future, CallGraphOptions options) {
  if (!future.state()) throw std::invalid_argument("capture_call_graph: an empty future");
  std::unordered_set<const FutureStateBase*> on_path;
  const detail::RunningLoop& running = detail::running_loop;
  const bool current =
      running.scheduler && running.scheduler->current_task() == future.state()->as_task();
  const std::size_t skip = current && options.depth > 0 ? options.depth - 1 : 0;
  return build(future.state(), skip, options, on_path);
}

std::string format_call_graph(const FutureCallGraph& graph) {
  std::ostringstream out;
  render(graph, out, 0);
  std::string text = out.str();
  if (!text.empty()) text.pop_back();  // no final newline, as Python's
  return text;
}

std::string format_call_graph(CallGraphOptions options) {
  std::optional<FutureCallGraph> graph = capture_call_graph(options);
  return graph ? format_call_graph(*graph) : std::string();
}

std::string format_call_graph(const FutureBase& future, CallGraphOptions options) {
  return format_call_graph(capture_call_graph(future, options));
}

void print_call_graph(std::ostream& out, CallGraphOptions options) {
  if (std::optional<FutureCallGraph> graph = capture_call_graph(options))
    out << format_call_graph(*graph) << '\n';
}

void print_call_graph(const FutureBase& future, std::ostream& out, CallGraphOptions options) {
  out << format_call_graph(future, options) << '\n';
}

void print_call_graph(const FutureBase& future, CallGraphOptions options) {
  print_call_graph(future, std::cout, options);
}

void print_call_graph(CallGraphOptions options) { print_call_graph(std::cout, options); }

}  // namespace asyncio
