// Must not compile, with a message that says what to do: a coroutine function as a loop callback
// (Python's call_soon and add_signal_handler raise TypeError: the coroutine would never run;
// tests/CMakeLists.txt checks the message).
#include <asyncio/asyncio.hpp>

#include <csignal>

asyncio::Coro<void> handler() { co_return; }

int main() {
  auto loop = asyncio::new_event_loop();
  loop->add_signal_handler(SIGUSR1, handler);
}
