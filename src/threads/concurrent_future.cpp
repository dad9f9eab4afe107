// Non-template parts of ConcurrentFuture: states, waiting, completion and done callbacks.
#include "asyncio/concurrent_future.hpp"

#include <cstdio>
#include <stdexcept>
#include <string>

namespace asyncio::detail {

bool ConcurrentStateBase::done() const {
  std::lock_guard lock(mutex_);
  return status_ == Status::cancelled || status_ == Status::finished;
}

bool ConcurrentStateBase::cancelled() const {
  std::lock_guard lock(mutex_);
  return status_ == Status::cancelled;
}

bool ConcurrentStateBase::running() const {
  std::lock_guard lock(mutex_);
  return status_ == Status::running;
}

bool ConcurrentStateBase::cancel() {
  std::unique_lock lock(mutex_);
  if (status_ == Status::running || status_ == Status::finished) return false;
  if (status_ == Status::cancelled) return true;
  exception_ = std::make_exception_ptr(CancelledError());
  complete(std::move(lock), Status::cancelled);
  return true;
}

bool ConcurrentStateBase::set_running_or_notify_cancel() {
  std::lock_guard lock(mutex_);
  if (status_ == Status::cancelled) return false;
  if (status_ != Status::pending) throw RuntimeError("Future in unexpected state");
  status_ = Status::running;
  return true;
}

void ConcurrentStateBase::set_exception(std::exception_ptr error) {
  if (!error) throw std::invalid_argument("set_exception: null exception_ptr");
  std::unique_lock lock = lock_for_completion("set_exception");
  exception_ = std::move(error);
  complete(std::move(lock), Status::finished);
}

std::unique_lock<std::mutex> ConcurrentStateBase::lock_for_completion(const char* operation) {
  std::unique_lock lock(mutex_);
  if (status_ == Status::cancelled || status_ == Status::finished) {
    throw InvalidStateError(std::string("invalid state for ") + operation + ": " +
                            (status_ == Status::cancelled ? "<ConcurrentFuture cancelled>"
                                                          : "<ConcurrentFuture finished>"));
  }
  return lock;
}

void ConcurrentStateBase::complete(std::unique_lock<std::mutex> lock, Status status) {
  status_ = status;
  std::vector<std::unique_ptr<DoneCallback>> callbacks = std::move(callbacks_);
  callbacks_.clear();
  lock.unlock();
  done_cv_.notify_all();
  run_callbacks(std::move(callbacks));
}

std::exception_ptr ConcurrentStateBase::wait_done(std::unique_lock<std::mutex>& lock,
                                                  std::optional<Clock::time_point> deadline) const {
  auto is_done = [this] { return status_ == Status::cancelled || status_ == Status::finished; };
  if (!deadline) {
    done_cv_.wait(lock, is_done);
  } else if (!done_cv_.wait_until(lock, *deadline, is_done)) {
    throw TimeoutError();
  }
  if (status_ == Status::cancelled) std::rethrow_exception(exception_);
  return exception_;
}

std::exception_ptr ConcurrentStateBase::wait_exception(
    std::optional<Clock::time_point> deadline) const {
  std::unique_lock lock(mutex_);
  return wait_done(lock, deadline);
}

void ConcurrentStateBase::wait_result(std::optional<Clock::time_point> deadline) const {
  std::unique_lock lock(mutex_);
  if (std::exception_ptr error = wait_done(lock, deadline)) std::rethrow_exception(error);
}

void ConcurrentStateBase::add_callback(std::unique_ptr<DoneCallback> cb) {
  {
    std::lock_guard lock(mutex_);
    if (status_ != Status::cancelled && status_ != Status::finished) {
      callbacks_.push_back(std::move(cb));
      return;
    }
  }
  std::vector<std::unique_ptr<DoneCallback>> one;
  one.push_back(std::move(cb));
  run_callbacks(std::move(one));
}

// Python logs "exception calling callback for <Future>" and goes on with the next one.
void ConcurrentStateBase::run_callbacks(std::vector<std::unique_ptr<DoneCallback>> callbacks) {
  for (std::unique_ptr<DoneCallback>& cb : callbacks) {
    try {
      cb->call(*this);
    } catch (const std::exception& e) {
      std::fprintf(stderr,
                   "asyncio: exception calling callback for <ConcurrentFuture>\n  exception: %s\n",
                   e.what());
    } catch (...) {
      std::fprintf(stderr, "asyncio: exception calling callback for <ConcurrentFuture>\n");
    }
    cb.reset();  // what the callback holds is released in this thread, in order
  }
}

}  // namespace asyncio::detail
