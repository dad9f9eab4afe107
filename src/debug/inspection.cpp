// print_all_tasks and the other dumps of a loop's tasks, and LoopStats in Prometheus' format.
#include "asyncio/inspection.hpp"

#include <cstdio>
#include <iostream>

#include "debug/task_dump.hpp"

namespace asyncio {

namespace {

std::string dump(EventLoop& loop, detail::TaskDump::Kind kind) {
  detail::TaskDump dump(loop, kind);
  std::string text;
  while (dump.next(text, SIZE_MAX)) {
  }
  return text;
}

}  // namespace

std::string format_all_tasks(EventLoop& loop) { return dump(loop, detail::TaskDump::Kind::tasks); }
std::string format_task_table(EventLoop& loop) { return dump(loop, detail::TaskDump::Kind::table); }
std::string format_task_tree(EventLoop& loop) { return dump(loop, detail::TaskDump::Kind::tree); }

void print_all_tasks(EventLoop& loop, std::ostream& out) {
  out << format_all_tasks(loop) << std::flush;
}
void print_all_tasks(EventLoop& loop) { print_all_tasks(loop, std::cerr); }

std::string format_prometheus(const LoopStats& stats, const std::string& prefix) {
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, double value) {
    char number[64];
    std::snprintf(number, sizeof number, "%.17g", value);
    out += "# HELP " + prefix + "_" + name + " " + help + "\n";
    out += "# TYPE " + prefix + "_" + name + " " + type + "\n";
    out += prefix + "_" + name + " " + number + "\n";
  };
  auto seconds = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };
  metric("iterations_total", "counter", "Loop iterations run.",
         static_cast<double>(stats.iterations));
  metric("callbacks_total", "counter", "Callbacks, task steps and timers run.",
         static_cast<double>(stats.callbacks_run));
  metric("polls_total", "counter", "Polls of the I/O backend.", static_cast<double>(stats.polls));
  metric("ready_callbacks", "gauge", "Callbacks waiting in the ready queue.",
         static_cast<double>(stats.ready));
  metric("timers", "gauge", "Timers pending.", static_cast<double>(stats.timers));
  metric("watched_fds", "gauge", "File descriptors watched.", static_cast<double>(stats.fds));
  metric("tasks", "gauge", "Unfinished tasks.", static_cast<double>(stats.tasks));
  metric("selector_seconds_total", "counter", "Time spent in the selector.",
         seconds(stats.selector_time));
  metric("running_seconds_total", "counter", "Time spent running, outside the selector.",
         seconds(stats.running_time));
  metric("longest_callback_seconds", "gauge",
         "The longest callback or task step timed (debug mode or inspection).",
         seconds(stats.longest_callback));
  return out;
}

}  // namespace asyncio
