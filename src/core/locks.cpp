// The non-inline parts of the primitives of locks.hpp: Condition's wait and notify, the
// semaphores' checks, and Barrier (its phases follow CPython's locks.Barrier).
#include "asyncio/locks.hpp"

#include <stdexcept>

namespace asyncio {

// --- Condition --------------------------------------------------------------------------------

Coro<bool> Condition::wait() {
  if (!locked()) throw RuntimeError("cannot wait on un-acquired lock");
  release();
  std::exception_ptr error;
  try {
    co_await detail::WakeAwaiter(waiters_, false);
  } catch (const detail::PrimitiveDestroyed&) {
    throw;  // the condition, and the lock it owned, are gone
  } catch (...) {
    error = std::current_exception();
  }
  // The lock is acquired again whatever happened, even through repeated cancellations; the
  // last cancellation is raised afterwards.
  for (;;) {
    try {
      co_await lock_->acquire();
      break;
    } catch (const CancelledError&) {
      error = std::current_exception();
    }
  }
  if (error) {
    wake(1);  // this task may have been notified: pass it on (see the declaration)
    std::rethrow_exception(error);
  }
  co_return true;
}

void Condition::notify(std::int64_t n) {
  if (!locked()) throw RuntimeError("cannot notify on un-acquired lock");
  if (n > 0) wake(static_cast<std::size_t>(n));
}

void Condition::notify_all() {
  if (!locked()) throw RuntimeError("cannot notify on un-acquired lock");
  waiters_.wake_all();
}

// --- Semaphore --------------------------------------------------------------------------------

namespace {

std::int64_t checked_initial_value(std::int64_t value) {
  if (value < 0) throw std::invalid_argument("Semaphore initial value must be >= 0");
  return value;
}

}  // namespace

Semaphore::Semaphore(std::int64_t value)
    : value_(checked_initial_value(value)), waiters_("Semaphore", this, &hand_on) {}

// --- Barrier ----------------------------------------------------------------------------------

Barrier::Barrier(std::int64_t parties) : parties_(static_cast<std::size_t>(parties)) {
  if (parties < 1) throw std::invalid_argument("parties must be > 0");
}

Coro<std::size_t> Barrier::wait() {
  // Tasks arriving while the previous round drains, or a reset completes, wait for the next.
  while (state_ == State::draining || state_ == State::resetting) {
    co_await detail::WakeAwaiter(changed_, false);
  }
  if (state_ == State::broken) throw BrokenBarrierError();

  const std::size_t index = count_++;
  std::exception_ptr error;
  try {
    if (index + 1 == parties_) {
      state_ = State::draining;  // the last one in releases everyone
      changed_.wake_all();
    } else {
      while (state_ == State::filling) co_await detail::WakeAwaiter(changed_, false);
      if (state_ == State::broken || state_ == State::resetting) throw BrokenBarrierError();
    }
  } catch (const detail::PrimitiveDestroyed&) {
    throw;  // the barrier is gone
  } catch (...) {
    error = std::current_exception();  // cancelled while filling: leave without breaking it
  }
  --count_;
  leave();
  if (error) std::rethrow_exception(error);
  co_return index;
}

void Barrier::leave() noexcept {
  if (count_ != 0) return;
  if (state_ == State::resetting || state_ == State::draining) state_ = State::filling;
  changed_.wake_all();
}

std::suspend_never Barrier::reset() noexcept {
  if (count_ > 0) {
    state_ = State::resetting;
  } else {
    state_ = State::filling;
  }
  changed_.wake_all();
  return {};
}

std::suspend_never Barrier::abort() noexcept {
  state_ = State::broken;
  changed_.wake_all();
  return {};
}

}  // namespace asyncio
