// print_all_tasks and the other dumps, LoopStats, and the EventLoop's inspection methods.
#include "asyncio/inspection.hpp"

#include <csignal>
#include <cstdio>
#include <iostream>

#include "asyncio/detail/io_backend.hpp"
#include "debug/inspection_server.hpp"
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

void EventLoop::enable_inspection() { enable_inspection(InspectionOptions{}); }

void EventLoop::enable_inspection(const InspectionOptions& options) {
  check_open();
  check_thread();
  disable_inspection();
  inspection_ = std::make_unique<detail::InspectionServer>(*this, options);
  scheduler_.set_inspected(true);
}

void EventLoop::enable_inspection_from_environment() noexcept {
  try {
    try {
      enable_inspection();
    } catch (const RuntimeError&) {  // the signal is another loop's: this one goes without
      enable_inspection(InspectionOptions{.path = {}, .dump_signal = 0});
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "asyncio: ASYNCIO_INSPECT=1: inspection not enabled: %s\n", e.what());
  }
}

void EventLoop::disable_inspection() noexcept {
  inspection_.reset();
  scheduler_.set_inspected(false);
}

std::string EventLoop::inspection_path() const {
  return inspection_ ? inspection_->path() : std::string();
}

LoopStats EventLoop::stats() const {
  LoopStats stats;
  auto& scheduler = const_cast<detail::Scheduler&>(scheduler_);
  stats.iterations = iterations_;
  stats.callbacks_run = scheduler.callbacks_run();
  stats.ready = scheduler.ready_count();
  stats.timers = scheduler.timer_count();
  if (!closed_) {
    const std::size_t own = 1 + (signals_ ? 1 : 0);  // the wake-up eventfds
    const std::size_t watched = io_->registered_fds();
    stats.fds = watched > own ? watched - own : 0;
  }
  stats.tasks = scheduler.tasks().size();
  stats.selector_time = selector_time_;
  stats.running_time = run_time_ > selector_time_ ? run_time_ - selector_time_ : Clock::duration{};
  stats.longest_callback = scheduler.longest_callback();
  stats.longest_callback_name = scheduler.longest_callback_name();
  return stats;
}

}  // namespace asyncio
