// median_of(runs, measure): the median of `runs` measurements taken after one warm-up run, for
// workloads whose single runs scatter (the first run in a process also pays for fresh memory).
// Used alike by our programs and the Asio peers; the Python peers do the same.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

template <class Measure>
double median_of(int runs, Measure measure) {
  measure();  // warm-up
  std::vector<double> values;
  for (int i = 0; i < runs; ++i) {
    const double value = measure();
    if (std::isnan(value)) return value;
    values.push_back(value);
  }
  std::nth_element(values.begin(), values.begin() + runs / 2, values.end());
  return values[runs / 2];
}
