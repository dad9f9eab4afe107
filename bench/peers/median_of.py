# median_of(runs, measure): the median of `runs` measurements after one warm-up run, as
# bench/median_of.hpp takes it for the C++ programs; for workloads whose single runs scatter.
import statistics


def median_of(runs, measure):
    measure()  # warm-up
    return statistics.median(measure() for _ in range(runs))
