// Seeing inside a running program: a dump of every task of a loop (print_all_tasks), the same
// from outside the process through an inspection socket (EventLoop::enable_inspection and the
// asyncio-ps / asyncio-pstree tools), and on a signal; and the loop's counters (LoopStats).
#pragma once

#include <csignal>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>

#include "asyncio/event_loop.hpp"

namespace asyncio {

/// Writes every unfinished task of `loop` (on the loop's thread): its name, state, how long
/// since its last step (when the loop observes steps: debug mode or inspection), where it was
/// created (debug mode), and its call graph.
void print_all_tasks(EventLoop& loop, std::ostream& out);
void print_all_tasks(EventLoop& loop);  // to stderr
/// The same text.
std::string format_all_tasks(EventLoop& loop);
/// `asyncio-ps`: one line per task: id, name, state, idle time, coroutine stack (outermost
/// first), and the tasks that await it.
std::string format_task_table(EventLoop& loop);
/// `asyncio-pstree`: the tasks as a tree, each task under the task that awaits it, with its
/// coroutine stack.
std::string format_task_tree(EventLoop& loop);

/// Where inspection listens and what it answers to.
struct InspectionOptions {
  /// The Unix socket's path; empty: "<dir>/<pid>.<n>.sock", where <dir> is
  /// $ASYNCIO_INSPECT_DIR or /tmp/asyncio-<uid> (made with mode 0700, refused when another
  /// user owns it or others may use it) and n counts the process's inspected loops from 0.
  std::string path;
  /// Dumps every task to stderr on this signal (0: none); the loop must be able to take it
  /// (add_signal_handler).
  int dump_signal = SIGUSR1;
};

/// The loop's counters, cheap enough to leave on: the counts cost an increment each, and the
/// times two clock reads per poll of the selector.
struct LoopStats {
  std::uint64_t iterations = 0;     // loop iterations run
  std::uint64_t polls = 0;          // polls of the I/O backend (selector waits, io_uring_enter
                                    // with a wait or a submission; a loop that spins polls often)
  std::uint64_t callbacks_run = 0;  // ready callbacks, task steps and timers run
  std::size_t ready = 0;            // callbacks waiting in the ready queue now
  std::size_t timers = 0;           // call_later/call_at timers pending (also cancelled ones
                                    // not purged yet)
  std::size_t fds = 0;              // file descriptors watched (the loop's own excluded; on
                                    // io_uring, requests in flight count too)
  std::size_t tasks = 0;            // unfinished tasks
  Clock::duration selector_time{};  // time spent in the selector (waiting or not)
  Clock::duration running_time{};   // time in run_forever outside the selector
  /// The longest callback or task step, when the loop times them (debug mode, or inspection
  /// enabled; otherwise zero and empty), and what it was.
  Clock::duration longest_callback{};
  std::string longest_callback_name;
};

/// LoopStats in Prometheus' text exposition format; metric names start with `prefix`.
std::string format_prometheus(const LoopStats& stats, const std::string& prefix = "asyncio_loop");

}  // namespace asyncio
