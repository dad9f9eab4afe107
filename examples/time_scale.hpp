// Shared by the examples: `--fast` makes every sleep and timer 20 times shorter (a 1 s step
// becomes 50 ms), so CTest can run the examples quickly; check_total_time checks a run's length.
#pragma once

#include <chrono>
#include <cstdio>
#include <string_view>

inline double time_scale = 1.0;  // 1.0, or 0.05 with --fast

inline void parse_fast_flag(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--fast") time_scale = 0.05;
  }
}

// `scaled(1s)` is one second, or 50 ms with --fast.
template <class Rep, class Period>
std::chrono::duration<double> scaled(std::chrono::duration<Rep, Period> duration) {
  return duration * time_scale;
}

// Prints the time since `start` and checks that it lasted from `low` to `high` steps of
// scaled(1s); on failure explains why on stderr (`too_short` or `too_long`). Returns main's
// exit code.
inline int check_total_time(std::chrono::steady_clock::time_point start, double low, double high,
                            const char* too_short, const char* too_long) {
  std::chrono::duration<double> total = std::chrono::steady_clock::now() - start;
  std::printf("total time: %.2f s\n", total.count());
  double steps = total / scaled(std::chrono::seconds(1));
  if (steps >= low && steps < high) return 0;
  std::fprintf(stderr, "error: the run took %.2f steps of %.2f s, expected %g to %g: %s\n", steps,
               scaled(std::chrono::seconds(1)).count(), low, high,
               steps < low ? too_short : too_long);
  return 1;
}
