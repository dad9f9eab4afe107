#!/usr/bin/env python3
# Compares the core runtime workloads of ours (bench_core), Boost.Asio (peers/core_asio.cpp) and
# CPython asyncio (peers/core_asyncio.py): alternating rounds, then a table of medians and ratios.
"""Run bench_core, bench_core_asio and core_asyncio.py in alternating rounds and compare them.

Each program prints "<workload> <value>" lines. For every workload lower is better, so a ratio
peer/ours above 1 means ours is faster (or smaller).
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_BUILD = os.path.join(HERE, "..", "build", "bench", "bench")

# workload, unit, the target for ours
METRICS = [
    ("spawn_ns", "ns/task", 60),
    ("sleep0_ns", "ns/yield", 15),
    ("timer_overhead_ns", "ns/timer", 150),
    ("pending_task_bytes", "B/task", 200),
]
METRIC_NAMES = [name for name, _, _ in METRICS]


def run_once(impl, command, timeout, names=METRIC_NAMES):
    """Runs one program; returns ({metric: value}, error message or None)."""
    started = time.monotonic()
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as error:
        return parse_output(error.stdout, names), f"timed out after {timeout} s"
    except OSError as error:
        return {}, f"could not start: {error}"
    values = parse_output(proc.stdout, names)
    problems = []
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        problems.append(f"exit status {proc.returncode}" + (f" ({' | '.join(tail)})" if tail else ""))
    missing = [m for m in names if m not in values]
    if missing:
        problems.append("no value for " + ", ".join(missing))
    print(f"  {impl}: {time.monotonic() - started:.1f} s", file=sys.stderr)
    return values, "; ".join(problems) or None


def parse_output(stdout, names=METRIC_NAMES):
    if isinstance(stdout, bytes):
        stdout = stdout.decode(errors="replace")
    values = {}
    for line in (stdout or "").splitlines():
        parts = line.split()
        if len(parts) != 2 or parts[0] not in names:
            continue
        try:
            value = float(parts[1])
        except ValueError:
            continue
        if math.isfinite(value):
            values[parts[0]] = value
    return values


def fmt(value):
    if value is None:
        return "-"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def summarize(values):
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def median_range(stats):
    """"median (min-max)" of a summarize() result, or "-"."""
    if not stats:
        return "-"
    return f"{fmt(stats['median'])} ({fmt(stats['min'])}-{fmt(stats['max'])})"


def parse_common_arguments(parser):
    """Adds --rounds, --quick, --timeout and --json to parser, and parses the command line."""
    parser.add_argument("--rounds", type=int, default=5, help="rounds of all programs (default: 5)")
    parser.add_argument("--quick", action="store_true", help="pass --quick on: smaller counts")
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed per program run")
    parser.add_argument("--json", metavar="FILE", help="also write the raw figures to FILE")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def run_rounds(commands, rounds, timeout, names=METRIC_NAMES):
    """Runs every program once per round, one at a time (the machine is shared), alternating.
    Returns ({impl: {metric: [values]}}, [failures])."""
    samples = {impl: {m: [] for m in names} for impl in commands}
    failures = []
    for round_no in range(1, rounds + 1):
        print(f"round {round_no}/{rounds}", file=sys.stderr)
        for impl, command in commands.items():
            values, error = run_once(impl, command, timeout, names)
            for metric, value in values.items():
                samples[impl][metric].append(value)
            if error:
                failures.append({"round": round_no, "impl": impl, "error": error})
                print(f"  {impl} FAILED: {error}", file=sys.stderr)
    return samples, failures


def print_failures(failures):
    """Lists the runs run_rounds() saw fail, if any."""
    if failures:
        print(f"{len(failures)} failed run(s):")
        for failure in failures:
            print(f"  round {failure['round']} {failure['impl']}: {failure['error']}")


def print_table(header, rows):
    """Prints rows under header: the first two columns left-aligned, the others right-aligned."""
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(str(v).ljust(w) if i < 2 else str(v).rjust(w)
                        for i, (v, w) in enumerate(zip(row, widths))).rstrip())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ours", default=os.path.join(DEFAULT_BUILD, "bench_core"),
                        help="our program (default: %(default)s)")
    parser.add_argument("--asio", default=os.path.join(DEFAULT_BUILD, "peers", "bench_core_asio"),
                        help="the Boost.Asio program, skipped if missing (default: %(default)s)")
    parser.add_argument("--python", default="/usr/bin/python3", help="the interpreter for core_asyncio.py")
    args = parse_common_arguments(parser)

    extra = ["--quick"] if args.quick else []
    commands = {}
    notes = []
    if os.path.exists(args.ours):
        commands["ours"] = [args.ours] + extra
    else:
        notes.append(f"ours: no program at {args.ours}")
    if os.path.exists(args.asio):
        commands["asio"] = [args.asio] + extra
    else:
        notes.append(f"asio: no program at {args.asio} (skipped)")
    commands["python"] = [args.python, os.path.join(HERE, "peers", "core_asyncio.py")] + extra
    for note in notes:
        print(note, file=sys.stderr)

    samples, failures = run_rounds(commands, args.rounds, args.timeout)
    summary = {impl: {m: summarize(samples[impl][m]) for m in METRIC_NAMES} for impl in commands}

    def median(impl, metric):
        stats = summary.get(impl, {}).get(metric)
        return stats["median"] if stats else None

    def cell(impl, metric):
        return median_range(summary.get(impl, {}).get(metric))

    def ratio(impl, metric):
        ours, peer = median("ours", metric), median(impl, metric)
        if ours is None or peer is None or ours <= 0:
            return "-"
        return f"{peer / ours:.2f}x"

    mode = "quick" if args.quick else "full"
    print(f"core workloads, {args.rounds} round(s) ({mode}); median (min-max); lower is better, "
          f"ratio peer/ours > 1 means ours is faster/smaller")
    header = ["workload", "unit", "ours", "asio", "python", "asio/ours", "python/ours", "target", "met"]
    rows = []
    for metric, unit, target in METRICS:
        ours = median("ours", metric)
        met = "-" if ours is None else ("yes" if ours <= target else "NO")
        rows.append([metric, unit, cell("ours", metric), cell("asio", metric), cell("python", metric),
                     ratio("asio", metric), ratio("python", metric), f"<= {target}", met])
    print_table(header, rows)

    for note in notes:
        print(f"note: {note}")
    print_failures(failures)

    if args.json:
        with open(args.json, "w") as out:
            json.dump({"rounds": args.rounds, "quick": args.quick, "commands": commands,
                       "targets": {m: t for m, _, t in METRICS}, "samples": samples,
                       "summary": summary, "failures": failures, "notes": notes}, out, indent=1)
    return 1 if failures or "ours" not in commands else 0


if __name__ == "__main__":
    sys.exit(main())
