// Shared by the examples: `--fast` makes every sleep and timer 20 times shorter (a 1 s step
// becomes 50 ms), so CTest can run the examples quickly.
#pragma once

#include <chrono>
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
