// ContextData's copy on write, the thread's current context, and the numbers that tell
// ContextVars and contexts apart.
#include "asyncio/contextvars.hpp"

#include <atomic>

#include "asyncio/detail/scheduler.hpp"
#include "asyncio/detail/task_base.hpp"

namespace asyncio::detail {

thread_local constinit ContextData* current_context = nullptr;
thread_local constinit ContextIdentity* entered_context = nullptr;

namespace {

/// Drops the values a thread set in its own context (outside any task) when the thread ends,
/// as Python frees a thread's context with it. Made on a thread's first set(): the thread-local
/// pointer itself stays a plain one, read without a check.
struct ThreadContextOwner {
  void keep() noexcept {}
  ~ThreadContextOwner() { drop_stray_context(); }
};
thread_local ThreadContextOwner thread_context_owner;

}  // namespace

const std::shared_ptr<const void>* ContextData::find(std::uint64_t var) const noexcept {
  for (const Entry& entry : entries_) {
    if (entry.var == var) return &entry.value;
  }
  return nullptr;
}

ContextData* ContextData::with(const ContextData* base, std::uint64_t var,
                               std::shared_ptr<const void> value) {
  thread_context_owner.keep();  // (its first use on a thread arranges the drop at the end)
  auto* data = new ContextData();
  if (base) {
    data->entries_.reserve(base->entries_.size() + 1);
    for (const Entry& entry : base->entries_) {
      if (entry.var != var) data->entries_.push_back(entry);
    }
  }
  if (value) data->entries_.push_back({var, std::move(value)});
  if (data->entries_.empty()) {  // no value left: the empty context
    delete data;
    return nullptr;
  }
  return data;
}

void ContextState::enter() {
  if (entered_) throw RuntimeError("cannot enter context: it is already entered");
  entered_ = true;
}

void drop_stray_context() noexcept {
  if (current_context) std::exchange(current_context, nullptr)->release();
}

std::uint64_t new_context_number() noexcept {
  static std::atomic<std::uint64_t> last{0};
  return last.fetch_add(1, std::memory_order_relaxed) + 1;
}

std::uint64_t current_context_identity() {
  if (entered_context) return entered_context->get();
  if (running_loop.scheduler) {
    if (TaskBase* task = running_loop.scheduler->current_task()) return task->context_identity();
  }
  static thread_local constinit ContextIdentity thread_context;
  return thread_context.get();
}

}  // namespace asyncio::detail
