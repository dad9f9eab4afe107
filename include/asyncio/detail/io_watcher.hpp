// What the event loop calls when a file descriptor it watches becomes ready: the interface
// (IoWatcher) and the watcher add_reader / add_writer install (IoCallback).
#pragma once

#include <functional>
#include <utility>

#include "asyncio/contextvars.hpp"

namespace asyncio::detail {

/// Watches one direction (read or write) of one fd for the loop. Two kinds exist: IoCallback
/// (add_reader's callback, called every time the fd is ready until removed) and FdWaiter (a
/// task in wait_readable, woken once).
struct IoWatcher {
  /// ready: the fd is ready. removed: the loop dropped the watcher (remove_reader, a replacing
  /// add_reader, or the loop closing) and will not call it again.
  enum class Event { ready, removed };
  using Fn = void (*)(IoWatcher*, Event);

  explicit IoWatcher(Fn fn) noexcept : fn_(fn) {}
  IoWatcher(const IoWatcher&) = delete;
  IoWatcher& operator=(const IoWatcher&) = delete;

  void notify(Event event) { fn_(this, event); }

  Fn fn_;
};

/// add_reader's callback: owned by the loop, deleted when removed (after its call returns, when
/// it removes itself from inside that call).
template <class F>
class IoCallback final : public IoWatcher {
 public:
  explicit IoCallback(F fn) : IoWatcher(&handle), fn_(std::move(fn)) {}

 private:
  static void handle(IoWatcher* watcher, Event event) {
    auto* self = static_cast<IoCallback*>(watcher);
    if (event == Event::removed) {
      if (self->running_)
        self->removed_ = true;
      else
        delete self;
      return;
    }
    struct Running {  // deletes the callback after it ran, if it was removed meanwhile
      IoCallback* self;
      ~Running() {
        self->running_ = false;
        if (self->removed_) delete self;
        // A callback runs in its own context (or none): what it set was its own.
        if (current_context) [[unlikely]]
          drop_stray_context();
      }
    } running{self};
    self->running_ = true;
    std::invoke(self->fn_);
  }

  F fn_;
  bool running_ = false;  // inside fn_
  bool removed_ = false;  // removed while running_: delete after fn_ returns
};

}  // namespace asyncio::detail
