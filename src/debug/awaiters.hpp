// Who awaits a future: read from its done callbacks (Callback::find_awaiter), for the call
// graphs and the task dumps.
#pragma once

#include <vector>

#include "asyncio/detail/future_state.hpp"

namespace asyncio::detail {

/// The futures (tasks among them) that await `future` through its done callbacks, each once, in
/// the order they were added.
inline std::vector<FutureStateBase*> awaiters_of(const FutureStateBase* future) {
  std::vector<FutureStateBase*> found;
  future->for_each_callback([&found](Callback* cb) {
    if (auto* awaiter = static_cast<FutureStateBase*>(cb->find_awaiter())) {
      for (FutureStateBase* seen : found) {
        if (seen == awaiter) return;  // a TaskGroup's parent, once however many children
      }
      found.push_back(awaiter);
    }
  });
  return found;
}

}  // namespace asyncio::detail
