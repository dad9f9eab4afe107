// A plain awaiter: what a primitive's wait gives (q.get(), q.put(x), lock.acquire(), event.wait(),
// sem.acquire(), sleep(d)), an object with await_ready/await_suspend/await_resume rather than a
// Coro, Future or Task. Python's wait_for, timeout, gather and shield take such a wait as a
// coroutine (`wait_for(q.get(), 1)`); these let the C++ forms take it the same way. A plain
// awaiter may be moved until it is awaited, so it can live in the frame that awaits it.
#pragma once

#include <utility>

namespace asyncio::detail {

template <class A>
concept PlainAwaiter = requires(A& a) {
  a.await_ready();
  a.await_resume();
};

/// What `co_await a` gives for a plain awaiter `a`.
template <PlainAwaiter A>
using PlainAwaiterValue = decltype(std::declval<A&>().await_resume());

}  // namespace asyncio::detail
