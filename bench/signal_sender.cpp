// The sender of the signal-latency benchmark (compare.py subprocess), the same for every
// program measured: plain C++, no library. Usage: signal_sender SAMPLES GAP_US, with its stdin
// the read end of an acknowledgement pipe and its stdout the write end of a timestamp pipe. For
// each sample it sleeps GAP_US microseconds (so that the parent's loop is asleep in its
// selector), reads CLOCK_MONOTONIC, writes those nanoseconds (an int64_t) to stdout, sends
// SIGUSR1 to its parent and waits for one byte on stdin before the next. The parent's callback
// reads the clock and the timestamp: CLOCK_MONOTONIC is system-wide, so the two compare. It
// exits with status 0 after SAMPLES samples, 1 when the parent goes away (end of file on stdin,
// or a new parent), and is killed by SIGALRM after 120 s whatever happens.
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace {

std::int64_t monotonic_ns() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

void sleep_us(long us) {
  timespec left{us / 1'000'000, (us % 1'000'000) * 1000};
  while (nanosleep(&left, &left) != 0 && errno == EINTR) {
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: signal_sender SAMPLES GAP_US\n");
    return 2;
  }
  const long samples = std::strtol(argv[1], nullptr, 10);
  const long gap_us = std::strtol(argv[2], nullptr, 10);
  alarm(120);  // the default action of SIGALRM ends the process: nothing outlives a stuck run
  const pid_t parent = getppid();
  for (long i = 0; i < samples; ++i) {
    sleep_us(gap_us);
    if (getppid() != parent) return 1;  // the parent died: do not signal whoever adopted us
    const std::int64_t sent = monotonic_ns();
    if (write(STDOUT_FILENO, &sent, sizeof sent) != static_cast<ssize_t>(sizeof sent)) {
      std::perror("signal_sender: write");
      return 1;
    }
    if (kill(parent, SIGUSR1) != 0) {
      std::perror("signal_sender: kill");
      return 1;
    }
    char ack;
    ssize_t n;
    while ((n = read(STDIN_FILENO, &ack, 1)) < 0 && errno == EINTR) {
    }
    if (n != 1) return 1;  // end of file: the parent stopped listening
  }
  return 0;
}
