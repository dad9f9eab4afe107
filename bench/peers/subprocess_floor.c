/* The C floor of the subprocess benchmarks (compare.py subprocess): plain C, no event loop
 * library, the least each workload has to do.
 *   spawn_wait_per_s      1,000 runs of /bin/true with posix_spawn (no file actions, no
 *                         attributes), keeping 50 alive: waitpid(-1) for any child, then the next
 *                         spawn; runs per second, the median of 5 batches after a warm-up batch
 *                         (--quick: of 1), as bench_subprocess takes it.
 *   signal_latency_*_us   the same sender protocol as bench_subprocess (bench/signal_sender.cpp):
 *                         a sigaction handler writes a byte to a non-blocking self-pipe, the
 *                         process sleeps in epoll_wait on the pipe, then reads the clock and the
 *                         sender's timestamp and acknowledges. Median and 99th percentile of
 *                         1,000 samples (--quick: 300) after 10 discarded ones.
 * Prints "<name> <value>" lines. Usage: subprocess_floor [--quick] [--sender PATH] (default:
 * ../signal_sender from this program's directory). */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { kRuns = 1000, kConcurrency = 50, kWarmupSamples = 10, kGapUs = 2000, kMaxBatches = 5 };

extern char** environ;

static void die(const char* what) {
  fprintf(stderr, "subprocess_floor: %s: %s\n", what, strerror(errno));
  exit(1);
}

static int64_t monotonic_ns(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

static int compare_doubles(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

/* The nearest-rank percentile p (0-100) of values[0..n), which it sorts. */
static double percentile(double* values, size_t n, double p) {
  qsort(values, n, sizeof *values, compare_doubles);
  size_t rank = (size_t)ceil(p / 100.0 * (double)n);
  return values[(rank < 1 ? 1 : rank) - 1];
}

/* --- spawn_wait_per_s ------------------------------------------------------------------------ */
static double spawn_and_wait(int runs) {
  char* argv[] = {"/bin/true", NULL};
  int started = 0, finished = 0, alive = 0;
  const int64_t start = monotonic_ns();
  while (finished < runs) {
    while (alive < kConcurrency && started < runs) {
      pid_t pid;
      const int error = posix_spawn(&pid, argv[0], NULL, NULL, argv, environ);
      if (error != 0) {
        errno = error;
        die("posix_spawn");
      }
      ++started;
      ++alive;
    }
    int status;
    if (waitpid(-1, &status, 0) < 0) {
      if (errno == EINTR) continue;
      die("waitpid");
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "subprocess_floor: a /bin/true did not exit with 0\n");
      exit(1);
    }
    ++finished;
    --alive;
  }
  return runs / ((double)(monotonic_ns() - start) / 1e9);
}

/* --- signal_latency_*_us --------------------------------------------------------------------- */
static int self_pipe[2];

static void on_signal(int sig) {
  (void)sig;
  const int saved_errno = errno;
  const ssize_t n = write(self_pipe[1], "s", 1); /* full pipe: a wake-up is pending anyway */
  (void)n;
  errno = saved_errno;
}

/* Fills latencies[0..samples) with microseconds; returns 0, or -1 when the sender failed. */
static int signal_latency(const char* sender, int samples, double* latencies) {
  int stamps[2], acks[2];
  if (pipe2(self_pipe, O_CLOEXEC | O_NONBLOCK) != 0 || pipe2(stamps, O_CLOEXEC) != 0 ||
      pipe2(acks, O_CLOEXEC) != 0)
    die("pipe2");
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  if (sigaction(SIGUSR1, &action, NULL) != 0) die("sigaction");
  const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) die("epoll_create1");
  struct epoll_event event = {.events = EPOLLIN, .data.fd = self_pipe[0]};
  if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, self_pipe[0], &event) != 0) die("epoll_ctl");

  const int total = kWarmupSamples + samples;
  char count[16], gap[16];
  snprintf(count, sizeof count, "%d", total);
  snprintf(gap, sizeof gap, "%d", kGapUs);
  char* argv[] = {(char*)sender, count, gap, NULL};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, acks[0], 0);
  posix_spawn_file_actions_adddup2(&actions, stamps[1], 1);
  pid_t pid;
  int error = posix_spawn(&pid, sender, &actions, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) {
    errno = error;
    die(sender);
  }
  close(acks[0]);
  close(stamps[1]);

  for (int i = 0; i < total;) {
    struct epoll_event ready;
    const int n = epoll_wait(epoll_fd, &ready, 1, 60000);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("epoll_wait");
    if (n == 0) {
      fprintf(stderr, "subprocess_floor: no signal for 60 s\n");
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      return -1;
    }
    const int64_t now = monotonic_ns(); /* first: the "callback" is running */
    char drain[64];
    while (read(self_pipe[0], drain, sizeof drain) > 0) {
    }
    int64_t sent;
    if (read(stamps[0], &sent, sizeof sent) != (ssize_t)sizeof sent) die("read the timestamp");
    if (i >= kWarmupSamples) latencies[i - kWarmupSamples] = (double)(now - sent) / 1000.0;
    ++i;
    if (write(acks[1], "a", 1) != 1) die("write the acknowledgement");
  }
  int status;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) die("waitpid");
  }
  signal(SIGUSR1, SIG_DFL);
  close(epoll_fd);
  close(self_pipe[0]);
  close(self_pipe[1]);
  close(stamps[0]);
  close(acks[1]);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "subprocess_floor: the sender exited with status %d\n", status);
    return -1;
  }
  return 0;
}

int main(int argc, char** argv) {
  int quick = 0;
  char sender[PATH_MAX];
  /* Default: build/bench/bench/signal_sender, one level above this program's directory. */
  ssize_t length = readlink("/proc/self/exe", sender, sizeof sender - 32);
  if (length < 0) die("readlink /proc/self/exe");
  sender[length] = '\0';
  char* slash = strrchr(sender, '/');
  strcpy(slash ? slash + 1 : sender, "../signal_sender");
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--quick") == 0) {
      quick = 1;
    } else if (strcmp(argv[i], "--sender") == 0 && i + 1 < argc && strlen(argv[i + 1]) < PATH_MAX) {
      strcpy(sender, argv[++i]);
    } else {
      fprintf(stderr, "usage: subprocess_floor [--quick] [--sender PATH]\n");
      return 2;
    }
  }

  const int batches = quick ? 1 : kMaxBatches;
  double rates[kMaxBatches];
  spawn_and_wait(kRuns); /* warm-up */
  for (int i = 0; i < batches; ++i) rates[i] = spawn_and_wait(kRuns);
  qsort(rates, batches, sizeof *rates, compare_doubles);
  printf("spawn_wait_per_s %.0f\n", rates[batches / 2]);
  fflush(stdout);

  const int samples = quick ? 300 : 1000;
  double* latencies = malloc(samples * sizeof *latencies);
  if (!latencies) die("malloc");
  if (signal_latency(sender, samples, latencies) != 0) return 1;
  printf("signal_latency_p50_us %.2f\n", percentile(latencies, samples, 50));
  printf("signal_latency_p99_us %.2f\n", percentile(latencies, samples, 99));
  free(latencies);
  return 0;
}
