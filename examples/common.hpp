// Shared by the examples: --fast shrinks every sleep twenty-fold, so CI runs them quickly.
#pragma once

#include <chrono>
#include <cstring>

inline std::chrono::milliseconds step_duration(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--fast") == 0) return std::chrono::milliseconds(50);
  }
  return std::chrono::milliseconds(1000);
}
