// Must not compile, with a message that says what to do: asyncio::wait over coroutines (Python
// 3.11+ forbids it; tests/CMakeLists.txt checks the message).
#include <asyncio/asyncio.hpp>

#include <vector>

asyncio::Coro<int> one() { co_return 1; }

asyncio::Coro<void> body() {
  std::vector<asyncio::Coro<int>> coros;
  coros.push_back(one());
  co_await asyncio::wait(std::move(coros));
}

int main() { asyncio::run(body()); }
