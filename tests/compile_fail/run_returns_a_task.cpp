// Must not compile: asyncio::run destroys its loop before returning, so it refuses a result
// that refers to that loop (here a Task). tests/CMakeLists.txt checks the compiler's message.
#include <asyncio/asyncio.hpp>

asyncio::Coro<int> answer() { co_return 42; }

asyncio::Coro<asyncio::Task<int>> spawn() { co_return asyncio::create_task(answer()); }

int main() {
  asyncio::Task<int> task = asyncio::run(spawn());
  return task.done() ? 0 : 1;
}
