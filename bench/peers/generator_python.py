# CPython peer of bench_generator: ns per value summing values from a generator against the same
# values from a hand-written loop, and per value through 1 and 1,000 levels of `yield from`.
# Prints "<name> <value>" lines; --quick shrinks the counts.
import sys
import time

# Counts: a twentieth of the C++ program's 100,000,000 (Python is 25-150x slower per value); at
# depth 1,000 20,000 values, since each value passes through every level. --quick: a tenth.
N = 5_000_000
DEEP_N = 20_000
DEPTH = 1000

MASK = 0xFFFFFFFF


def random_values(n, seed):
    x = seed
    for _ in range(n):
        x ^= (x << 13) & MASK
        x ^= x >> 17
        x ^= (x << 5) & MASK
        yield x & 0xFFFF


def hand_random(n, seed):
    total = 0
    x = seed
    for _ in range(n):
        x ^= (x << 13) & MASK
        x ^= x >> 17
        x ^= (x << 5) & MASK
        total += x & 0xFFFF
    return total


def counter(n):
    for i in range(n):
        yield i


def hand_counter(n):
    total = 0
    for i in range(n):
        total += i
    return total


def delegating(depth, n):
    """`depth` (at least 1) levels of `yield from` above a counter of n values."""
    if depth == 1:
        yield from counter(n)
    else:
        yield from delegating(depth - 1, n)


def sum_of(values):
    total = 0
    for v in values:
        total += v
    return total


def ns_per_value(n, run):
    start = time.perf_counter_ns()
    run()
    return (time.perf_counter_ns() - start) / n


def main():
    n, deep_n = N, DEEP_N
    if "--quick" in sys.argv[1:]:
        n, deep_n = n // 10, deep_n // 10
    sys.setrecursionlimit(10 * DEPTH)  # resuming a 1,000-level chain recurses through every level
    seed = (time.time_ns() & MASK) | 1
    print("gen_sum_ns %.3f" % ns_per_value(n, lambda: sum_of(random_values(n, seed))))
    print("hand_sum_ns %.3f" % ns_per_value(n, lambda: hand_random(n, seed)))
    print("gen_count_ns %.3f" % ns_per_value(n, lambda: sum_of(counter(n))))
    print("hand_count_ns %.3f" % ns_per_value(n, lambda: hand_counter(n)))
    print("delegate_depth1_ns %.3f" % ns_per_value(n, lambda: sum_of(delegating(1, n))))
    print("delegate_depth1000_ns %.3f" % ns_per_value(deep_n, lambda: sum_of(delegating(DEPTH, deep_n))))


if __name__ == "__main__":
    main()
