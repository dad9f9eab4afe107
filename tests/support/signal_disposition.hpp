// The disposition a signal has now, read without changing it: what the signal tests check
// before and after a loop handles a signal.
#pragma once

#include <signal.h>

namespace asyncio_test {

/// The handler function `sig` has now: SIG_DFL, SIG_IGN, or a function.
inline void (*disposition(int sig))(int) {
  struct sigaction current {};
  ::sigaction(sig, nullptr, &current);
  return current.sa_handler;
}

}  // namespace asyncio_test
