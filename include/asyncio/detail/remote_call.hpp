// Callables with bound arguments (bind_call, Python's functools.partial for call_soon and
// add_reader), and the node a call_soon_threadsafe call travels in from another thread
// (RemoteCall).
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <utility>

#include "asyncio/detail/callback.hpp"

namespace asyncio {
class EventLoop;
}

namespace asyncio::detail {

/// fn with args bound by value: a callable taking nothing. Without args, fn itself.
template <class F, class... Args>
auto bind_call(F&& fn, Args&&... args) {
  if constexpr (sizeof...(Args) == 0) {
    return std::decay_t<F>(std::forward<F>(fn));
  } else {
    return [f = std::forward<F>(fn), ... a = std::forward<Args>(args)]() mutable {
      std::invoke(f, a...);
    };
  }
}

/// Reports an exception escaping a callback through the running loop's exception handler.
void report_callback_error(std::exception_ptr error) noexcept;

/// A call_soon_threadsafe call: allocated by the calling thread, queued to the loop, run (or
/// discarded) once on the loop's thread, then deleted.
template <class F>
class RemoteCall final : public Callback {
 public:
  explicit RemoteCall(F fn) : Callback(&dispatch), fn_(std::move(fn)) {}

 private:
  static bool dispatch(Callback* cb, Action action, void*) {
    if (action == Action::completed) return true;  // only ever queued on the ready queue
    if (action == Action::find_awaiter) return false;
    std::unique_ptr<RemoteCall> self(static_cast<RemoteCall*>(cb));
    if (action == Action::discard) return false;
    try {
      std::invoke(self->fn_);
    } catch (...) {
      report_callback_error(std::current_exception());
    }
    return false;
  }

  F fn_;
};

}  // namespace asyncio::detail
