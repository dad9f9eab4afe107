// The process's resident memory, read from /proc/self/status: what the memory-per-task workload
// of bench_core and of its peers measures.
#pragma once

#include <fstream>
#include <string>

/// VmRSS in bytes, or 0 when it cannot be read.
inline long rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string key;
  long value = 0;
  while (status >> key) {
    if (key == "VmRSS:") {
      status >> value;
      return value * 1024;
    }
    status.ignore(1 << 20, '\n');
  }
  return 0;
}
