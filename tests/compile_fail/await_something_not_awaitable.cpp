// Must not compile, with a message that says what to do: co_await of an object that is not
// awaitable in an asyncio coroutine (tests/CMakeLists.txt checks the message).
#include <asyncio/asyncio.hpp>

struct NotAwaitable {};

asyncio::Coro<void> body() { co_await NotAwaitable{}; }

int main() { asyncio::run(body()); }
