// Non-template parts of Future: completion, cancellation, callbacks, and the report of an
// exception nobody retrieved.
#include <atomic>

#include "asyncio/detail/task_base.hpp"
#include "asyncio/future.hpp"

namespace asyncio::detail {

FutureStateBase::~FutureStateBase() {
  if (log_traceback_) {
    loop()->call_exception_handler(
        {"Future exception was never retrieved", exception_, describe()});
  }
  discard_callbacks();
}

std::string FutureStateBase::describe() const {
  switch (state_) {
    case State::pending:
      return "<Future pending>";
    case State::finished:
      return exception_ ? "<Future finished exception>" : "<Future finished>";
    case State::cancelled:
      return "<Future cancelled>";
  }
  return "<Future>";
}

bool FutureStateBase::cancel(const std::exception_ptr& error) { return cancel_future(error); }

void FutureStateBase::forget_waiter(TaskBase* task) noexcept { remove_callback(task); }

bool FutureStateBase::cancel_future(const std::exception_ptr& error) {
  log_traceback_ = false;
  if (state_ != State::pending) return false;
  exception_ = error;
  mark_done(State::cancelled);
  return true;
}

std::exception_ptr FutureStateBase::exception() {
  if (state_ == State::cancelled) std::rethrow_exception(exception_);
  if (state_ != State::finished) throw InvalidStateError("Exception is not set.");
  log_traceback_ = false;
  return exception_;
}

void FutureStateBase::throw_for_result() {
  if (state_ == State::cancelled) std::rethrow_exception(exception_);
  if (state_ != State::finished) throw InvalidStateError("Result is not set.");
  log_traceback_ = false;
  std::rethrow_exception(exception_);
}

void FutureStateBase::throw_not_pending(const char* operation) const {
  throw InvalidStateError(std::string("invalid state for ") + operation + ": " + describe());
}

void FutureStateBase::set_exception(std::exception_ptr error) {
  if (as_task()) throw RuntimeError("Task does not support set_exception operation");
  if (!error) throw std::invalid_argument("set_exception: null exception_ptr");
  check_pending("set_exception");
  exception_ = std::move(error);
  log_traceback_ = true;
  mark_done(State::finished);
}

void FutureStateBase::add_callback(Callback* cb) {
  if (state_ == State::pending) {
    callbacks_.push(cb);
    return;
  }
  if (cb->invoke(Callback::Action::completed)) scheduler_->push_ready(cb);
}

void FutureStateBase::mark_done(State state) {
  state_ = state;
  if (callbacks_.empty()) return;
  if (loop()->is_closed()) {
    callbacks_.drain([](Callback* cb) {
      try {
        if (cb->invoke(Callback::Action::completed)) cb->invoke(Callback::Action::discard);
      } catch (const RuntimeError&) {
        // A gather completed by this future found the loop closed too; reported below.
      }
    });
    throw RuntimeError("Event loop is closed");
  }
  Scheduler& scheduler = *scheduler_;
  callbacks_.drain([&scheduler](Callback* cb) {
    if (cb->invoke(Callback::Action::completed)) scheduler.push_ready(cb);
  });
}

void throw_value_taken() {
  throw InvalidStateError(
      "Result was taken: co_await std::move(...) moved out a value that cannot be copied while "
      "other "
      "handles shared the future");
}

std::exception_ptr make_cancelled_error(std::string msg) {
  return std::make_exception_ptr(CancelledError(std::move(msg)));
}

bool is_cancelled_error(const std::exception_ptr& error) noexcept {
  return holds<CancelledError>(error);
}

DoneCallbackBase::DoneCallbackBase(FutureStateBase* state)
    : FnCallback(&dispatch), state_(state), context_(current_context) {
  static std::atomic<std::uint64_t> counter{0};
  serial_ = counter.fetch_add(1, std::memory_order_relaxed) + 1;
  if (context_) context_->add_ref();
}

DoneCallbackBase::~DoneCallbackBase() {
  if (context_) context_->release();
}

bool DoneCallbackBase::dispatch(Callback* cb, Action action, void* found) {
  auto* self = static_cast<DoneCallbackBase*>(cb);
  FutureStateBase* state = self->state_;
  switch (action) {
    case Action::completed:
      state->add_ref();
      return true;
    case Action::run:
      try {
        if (self->context_) [[unlikely]] {
          self->context_->add_ref();
          ContextIdentity identity;  // (it runs once)
          ContextScope scope(self->context_, &identity);
          self->call();
        } else {
          self->call();
        }
      } catch (const KeyboardInterrupt&) {  // leaves run_forever(), as from any callback
        delete self;
        state->release();
        throw;
      } catch (...) {
        state->loop()->call_exception_handler(
            {"Exception in callback", std::current_exception(), state->describe()});
      }
      delete self;
      state->release();
      return false;
    case Action::find_awaiter:
      if (self->awaiter_) *static_cast<FutureStateBase**>(found) = self->awaiter_;
      return false;
    case Action::discard:
      // From the ready queue (the loop is closing) it holds a reference; from the list of a
      // pending future (removed, or the future is dying) it holds none.
      delete self;
      if (state->done()) state->release();
      return false;
  }
  return false;
}

}  // namespace asyncio::detail

namespace asyncio {

std::size_t FutureBase::remove_done_callback(CallbackId id) {
  check_thread();
  // The id's node may be long gone: only compare its address until it is found in the list.
  auto* node = const_cast<detail::Callback*>(static_cast<const detail::Callback*>(id.node));
  if (!node || !state_->has_callback(node) || !detail::DoneCallbackBase::is_done_callback(node) ||
      static_cast<detail::DoneCallbackBase*>(node)->serial() != id.serial) {
    return 0;
  }
  state_->remove_callback(node);
  node->invoke(detail::Callback::Action::discard);
  return 1;
}

std::size_t FutureBase::remove_done_callbacks(const std::type_info& type, const void* key,
                                              bool (*equal)(const void*, const void*)) {
  check_thread();
  detail::CallbackList removed = state_->take_callbacks_if([&](const detail::Callback* cb) {
    if (!detail::DoneCallbackBase::is_done_callback(cb)) return false;
    const void* stored = static_cast<const detail::DoneCallbackBase*>(cb)->callable(type);
    return stored && equal(stored, key);
  });
  // Released after the list is whole again: a callable's destructor may touch the future.
  std::size_t count = 0;
  removed.drain([&count](detail::Callback* cb) {
    cb->invoke(detail::Callback::Action::discard);
    ++count;
  });
  return count;
}

}  // namespace asyncio
