// The child process the signal, subprocess and pipe tests start: one small program with a mode
// per behaviour a test needs from a real process. Every mode ends by itself (bounded sleeps).
//
//   echo-both              copies stdin to stdout and to stderr, chunk by chunk, until EOF
//   close-stdin            closes its stdin, says "closed" on stdout, sleeps at most 60 s
//   storm PID COUNT        sends SIGUSR1 to PID COUNT times, then exits 0
//   session                prints its pid and its session id
//   sigint-finally         asyncio::run with main asleep for an hour inside try/catch: prints
//                          "ready", and when Ctrl-C cancels it "finally"; prints
//                          "KeyboardInterrupt" and exits 130 when run throws it
//   sigint-stubborn        the same, but main goes back to sleep after printing "finally"
#include <signal.h>
#include <unistd.h>

#include <asyncio/asyncio.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

void write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) std::exit(3);
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

void say(const char* text) { write_all(1, text, std::strlen(text)); }

int echo_both() {
  static char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(0, buffer, sizeof buffer);
    if (n < 0) return 3;
    if (n == 0) return 0;
    write_all(1, buffer, static_cast<std::size_t>(n));
    write_all(2, buffer, static_cast<std::size_t>(n));
  }
}

asyncio::Coro<int> sleep_an_hour(bool stubborn) {
  say("ready\n");
  try {
    co_await asyncio::sleep(std::chrono::hours(1));
  } catch (const asyncio::CancelledError&) {
    say("finally\n");
    if (!stubborn) throw;
  }
  co_await asyncio::sleep(std::chrono::hours(1));
  co_return 0;
}

int run_until_interrupted(bool stubborn) {
  try {
    return asyncio::run(sleep_an_hour(stubborn));
  } catch (const asyncio::KeyboardInterrupt&) {
    say("KeyboardInterrupt\n");
    return 130;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "echo-both") return echo_both();
  if (mode == "close-stdin") {
    ::close(0);
    say("closed\n");
    ::sleep(60);
    return 0;
  }
  if (mode == "storm" && argc == 4) {
    const pid_t target = static_cast<pid_t>(std::atol(argv[2]));
    const long count = std::atol(argv[3]);
    for (long i = 0; i < count; ++i) {
      if (::kill(target, SIGUSR1) != 0) return 3;
    }
    return 0;
  }
  if (mode == "session") {
    std::printf("%d %d\n", static_cast<int>(::getpid()), static_cast<int>(::getsid(0)));
    return 0;
  }
  if (mode == "sigint-finally") return run_until_interrupted(false);
  if (mode == "sigint-stubborn") return run_until_interrupted(true);
  std::fprintf(stderr, "child: unknown mode\n");
  return 2;
}
