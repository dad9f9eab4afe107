// Callables with bound arguments (bind_call, Python's functools.partial for call_soon and
// add_reader), and the node a call_soon_threadsafe call travels in from another thread
// (RemoteCall).
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

#include "asyncio/detail/callback.hpp"
#include "asyncio/exceptions.hpp"

namespace asyncio {
class EventLoop;
template <class T>
class Coro;
}  // namespace asyncio

namespace asyncio::detail {

template <class R>
inline constexpr bool returns_coro = false;
template <class T>
inline constexpr bool returns_coro<Coro<T>> = true;

/// fn with args bound by value: a callable taking nothing. Without args, fn itself. A
/// coroutine function is refused at compile time, as Python's call_soon, call_later, call_at,
/// call_soon_threadsafe and add_signal_handler raise TypeError for one: the Coro it returned
/// would be dropped unrun.
template <class F, class... Args>
auto bind_call(F&& fn, Args&&... args) {
  static_assert(
      !returns_coro<
          std::remove_cvref_t<std::invoke_result_t<std::decay_t<F>&, std::decay_t<Args>&...>>>,
      "coroutines cannot be used as loop callbacks: the Coro would never run; schedule it with "
      "create_task() instead");
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
class RemoteCall final : public FnCallback {
 public:
  explicit RemoteCall(F fn) : FnCallback(&dispatch), fn_(std::move(fn)) {}

 private:
  static bool dispatch(Callback* cb, Action action, void*) {
    if (action == Action::completed) return true;  // only ever queued on the ready queue
    if (action == Action::find_awaiter) return false;
    std::unique_ptr<RemoteCall> self(static_cast<RemoteCall*>(cb));
    if (action == Action::discard) return false;
    try {
      std::invoke(self->fn_);
    } catch (const KeyboardInterrupt&) {
      throw;  // leaves run_forever(), as from any callback (`self` is freed on the way)
    } catch (...) {
      report_callback_error(std::current_exception());
    }
    return false;
  }

  F fn_;
};

}  // namespace asyncio::detail
