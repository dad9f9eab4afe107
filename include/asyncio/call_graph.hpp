// Python 3.14's call graph introspection (asyncio.graph): capture_call_graph,
// format_call_graph and print_call_graph. For a task: the chain of coroutine frames it is
// suspended in, each named by its function (and its file and line where debug information
// says), and the futures and tasks that await it, recursively: tasks awaiting it directly, and
// through gather, wait, shield and TaskGroup.
//
// Nothing is recorded for this while the program runs: the frames are the task's own chain
// (TaskBase's links), each frame names its coroutine by its resume address, and "awaited by"
// is read from the callbacks the future holds. Asking costs a walk and symbol look-ups (cached).
#pragma once

#include <coroutine>
#include <cstddef>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "asyncio/future.hpp"

namespace asyncio {

/// One coroutine frame of a call stack.
struct FrameCallGraphEntry {
  std::coroutine_handle<> frame;
  std::string function;  // e.g. "worker(asyncio::Queue<int>&)"
  std::string file;      // empty without debug information
  unsigned line = 0;     // the line the coroutine's body starts at; 0 when unknown
};

/// Python's FutureCallGraph: a future or task, its call stack (a task's coroutine frames, the
/// innermost first, as Python lists them), and the graphs of what awaits it.
struct FutureCallGraph {
  FutureBase future;
  std::vector<FrameCallGraphEntry> call_stack;
  std::vector<FutureCallGraph> awaited_by;
  bool is_task() const;
  /// The task's name ("" for a plain future).
  std::string name() const;
};

/// Python's keyword arguments. `depth`: for the current task, how many of the innermost
/// entries to leave out, counting the call to capture_call_graph itself as one (so the default
/// starts at the coroutine that called it, as in Python). `limit`: none keeps every entry of
/// each call stack; a positive n keeps the n closest to where the task began (the outermost),
/// a negative -n the n innermost; 0 keeps none (only "awaited by" is shown).
struct CallGraphOptions {
  std::size_t depth = 1;
  std::optional<long> limit = std::nullopt;
};

/// The graph of the current task; none outside a task. RuntimeError without a running loop.
std::optional<FutureCallGraph> capture_call_graph(CallGraphOptions options = {});
/// The graph of `future` (a Future or a Task), on its loop's thread.
FutureCallGraph capture_call_graph(const FutureBase& future, CallGraphOptions options = {});

/// The graph as Python prints it:
///   * Task(name='worker', id=0x...)
///     + Call stack:
///     |   File 'app.cpp', line 12, in async worker(asyncio::Queue<int>&)
///     + Awaited by:
///        * Task(name='Task-1', id=0x...)
std::string format_call_graph(const FutureCallGraph& graph);
/// format_call_graph of the current task ("" outside a task), or of `future`.
std::string format_call_graph(CallGraphOptions options = {});
std::string format_call_graph(const FutureBase& future, CallGraphOptions options = {});
/// Writes format_call_graph and a newline to `out` (Python's default file is stdout); the
/// current task's form prints nothing outside a task.
void print_call_graph(std::ostream& out, CallGraphOptions options = {});
void print_call_graph(const FutureBase& future, std::ostream& out, CallGraphOptions options = {});
void print_call_graph(const FutureBase& future, CallGraphOptions options = {});  // to stdout
void print_call_graph(CallGraphOptions options = {});                            // to stdout

}  // namespace asyncio
