#!/usr/bin/env python3
# Compares Generator<T> (bench_generator) with CPython generators (peers/generator_python.py), and
# each with its own hand-written loop: alternating rounds, then a table of medians and ratios.
"""Run bench_generator and generator_python.py in alternating rounds and compare them.

Each program prints "<workload> <value>" lines, in ns per value (lower is better). The table
gives the median (min-max) of each, the ratio python/ours (above 1: ours is faster), and for
each implementation its generator against its hand loop and depth 1,000 against depth 1.
"""
import argparse
import json
import os
import sys

from compare_core import median_range, parse_common_arguments, print_failures, print_table, run_rounds, summarize

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_BUILD = os.path.join(HERE, "..", "build", "bench", "bench")

METRICS = [
    ("gen_sum_ns", "sum of xorshift values from a generator"),
    ("hand_sum_ns", "the same values from a hand-written loop"),
    ("gen_count_ns", "sum of a bare counter from a generator"),
    ("hand_count_ns", "the same counter in a hand-written loop"),
    ("delegate_depth1_ns", "counter through 1 level of yield from"),
    ("delegate_depth1000_ns", "counter through 1,000 levels of yield from"),
]
METRIC_NAMES = [name for name, _ in METRICS]

# (label, numerator, denominator, the bound on ours or None)
RATIOS = [
    ("generator / hand loop, xorshift source", "gen_sum_ns", "hand_sum_ns", 1.5),
    ("generator / hand loop, bare counter", "gen_count_ns", "hand_count_ns", None),
    ("depth 1,000 / depth 1", "delegate_depth1000_ns", "delegate_depth1_ns", None),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ours", default=os.path.join(DEFAULT_BUILD, "bench_generator"),
                        help="our program (default: %(default)s)")
    parser.add_argument("--python", default="/usr/bin/python3", help="the interpreter for generator_python.py")
    args = parse_common_arguments(parser)
    if not os.path.exists(args.ours):
        print(f"ours: no program at {args.ours}", file=sys.stderr)
        return 1

    extra = ["--quick"] if args.quick else []
    commands = {
        "ours": [args.ours] + extra,
        "python": [args.python, os.path.join(HERE, "peers", "generator_python.py")] + extra,
    }

    samples, failures = run_rounds(commands, args.rounds, args.timeout, METRIC_NAMES)
    summary = {impl: {m: summarize(samples[impl][m]) for m in METRIC_NAMES} for impl in commands}

    def median(impl, metric):
        stats = summary[impl][metric]
        return stats["median"] if stats else None

    def quotient(a, b):
        return None if a is None or b is None or b <= 0 else a / b

    def ratio_text(value):
        return "-" if value is None else f"{value:.2f}x"

    mode = "quick" if args.quick else "full"
    print(f"generator workloads, {args.rounds} round(s) ({mode}); ns per value, median (min-max); "
          f"ratio python/ours > 1 means ours is faster")
    rows = [[metric, what, median_range(summary["ours"][metric]), median_range(summary["python"][metric]),
             ratio_text(quotient(median("python", metric), median("ours", metric)))]
            for metric, what in METRICS]
    print_table(["workload", "what", "ours", "python", "python/ours"], rows)

    print()
    rows = []
    for label, num, den, bound in RATIOS:
        ours = quotient(median("ours", num), median("ours", den))
        met = "-" if bound is None or ours is None else ("yes" if ours <= bound else "NO")
        rows.append([label, "", ratio_text(ours), ratio_text(quotient(median("python", num), median("python", den))),
                     "-" if bound is None else f"<= {bound}", met])
    print_table(["ratio of medians", "", "ours", "python", "target", "met"], rows)

    print_failures(failures)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"rounds": args.rounds, "quick": args.quick, "commands": commands, "samples": samples,
                       "summary": summary, "failures": failures}, out, indent=1)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
