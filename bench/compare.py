#!/usr/bin/env python3
# Compares a benchmark suite of ours with the same workloads written for Boost.Asio (peers/*_asio.cpp)
# and CPython asyncio (peers/*_asyncio.py): alternating rounds, then a table of medians and ratios.
"""Run our program and its peers in alternating rounds and compare them.

Suites: core (spawn, sleep(0), timers, memory per task), io (socket-pair ping-pong per
selector backend), sync (queue handoff, uncontended lock) and generator (Generator<T> against a
hand-written loop, and delegation depth). Each program prints "<workload> <value>" lines. The ratio column is always
"how many times better ours is": peer/ours where lower is better, ours/peer where higher is.
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

# Per suite: our program, the Asio peer, the Python peer (relative to the build's bench/ and to
# bench/peers/), and the workloads: name, unit, whether lower is better, the target.
# A target is ("at most", value), ("ratio to", peer, minimum ratio of ours over the peer), or
# ("within", another workload, maximum of ours / ours on that workload, or None to just show it).
SUITES = {
    "core": {
        "ours": "bench_core", "asio": "peers/bench_core_asio", "python": "core_asyncio.py",
        "metrics": [
            ("spawn_ns", "ns/task", True, ("at most", 60)),
            ("sleep0_ns", "ns/yield", True, ("at most", 15)),
            ("timer_overhead_ns", "ns/timer", True, ("at most", 150)),
            ("pending_task_bytes", "B/task", True, ("at most", 200)),
        ],
    },
    "io": {
        "ours": "bench_io", "asio": "peers/bench_io_asio", "python": "io_asyncio.py",
        "metrics": [
            ("pingpong_epoll", "round trips/s", False, ("ratio to", "asio", 1.0)),
            ("pingpong_poll", "round trips/s", False, None),
            ("pingpong_select", "round trips/s", False, None),
        ],
    },
    "sync": {
        "ours": "bench_sync", "asio": "peers/bench_queue_asio", "python": "queue_asyncio.py",
        "metrics": [
            ("queue_handoff_ns", "ns/item", True, ("at most", 25)),
            ("lock_ns", "ns/acquire+release", True, ("at most", 5)),
        ],
    },
    "generator": {
        "ours": "bench_generator", "asio": None, "python": "generator_python.py",
        "metrics": [
            ("gen_sum_ns", "ns/value, xorshift source", True, ("within", "hand_sum_ns", 1.5)),
            ("hand_sum_ns", "ns/value, hand loop", True, None),
            ("gen_count_ns", "ns/value, bare counter", True, ("within", "hand_count_ns", None)),
            ("hand_count_ns", "ns/value, hand loop", True, None),
            ("delegate_depth1_ns", "ns/value, yield_from depth 1", True, None),
            ("delegate_depth1000_ns", "ns/value, depth 1,000", True, ("within", "delegate_depth1_ns", None)),
        ],
    },
}

def run_once(impl, command, timeout, metric_names):
    """Runs one program; returns ({metric: value}, error message or None)."""
    started = time.monotonic()
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as error:
        return parse_output(error.stdout, metric_names), f"timed out after {timeout} s"
    except OSError as error:
        return {}, f"could not start: {error}"
    values = parse_output(proc.stdout, metric_names)
    problems = []
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        problems.append(f"exit status {proc.returncode}" + (f" ({' | '.join(tail)})" if tail else ""))
    # A peer may leave a workload out (Asio has no poll or select backend); ours may not.
    missing = [m for m in metric_names if m not in values] if impl == "ours" else []
    if missing:
        problems.append("no value for " + ", ".join(missing))
    print(f"  {impl}: {time.monotonic() - started:.1f} s", file=sys.stderr)
    return values, "; ".join(problems) or None


def parse_output(stdout, metric_names):
    if isinstance(stdout, bytes):
        stdout = stdout.decode(errors="replace")
    values = {}
    for line in (stdout or "").splitlines():
        parts = line.split()
        if len(parts) != 2 or parts[0] not in metric_names:
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


def compare(suite_name, args):
    """Runs one suite; prints its table; returns (summary, samples, failures, notes, commands)."""
    suite = SUITES[suite_name]
    metric_names = [m[0] for m in suite["metrics"]]
    extra = ["--quick"] if args.quick else []
    commands = {}
    notes = []
    for impl, name in (("ours", suite["ours"]), ("asio", suite["asio"])):
        if name is None:  # no such peer for this suite
            continue
        path = os.path.join(args.build, name)
        if os.path.exists(path):
            commands[impl] = [path] + extra
        else:
            notes.append(f"{impl}: no program at {path} (skipped)")
    commands["python"] = [args.python, os.path.join(HERE, "peers", suite["python"])] + extra
    for note in notes:
        print(note, file=sys.stderr)

    samples = {impl: {m: [] for m in metric_names} for impl in commands}
    failures = []
    for round_no in range(1, args.rounds + 1):
        print(f"{suite_name}: round {round_no}/{args.rounds}", file=sys.stderr)
        for impl, command in commands.items():  # one program at a time: the machine is shared
            values, error = run_once(impl, command, args.timeout, metric_names)
            for metric, value in values.items():
                samples[impl][metric].append(value)
            if error:
                failures.append({"suite": suite_name, "round": round_no, "impl": impl, "error": error})
                print(f"  {impl} FAILED: {error}", file=sys.stderr)

    summary = {impl: {m: summarize(samples[impl][m]) for m in metric_names} for impl in commands}

    def median(impl, metric):
        stats = summary.get(impl, {}).get(metric)
        return stats["median"] if stats else None

    def cell(impl, metric):
        stats = summary.get(impl, {}).get(metric)
        if not stats:
            return "-"
        return f"{fmt(stats['median'])} ({fmt(stats['min'])}-{fmt(stats['max'])})"

    def advantage(impl, metric, lower_is_better):
        """How many times better ours is than impl (None when unknown)."""
        ours, peer = median("ours", metric), median(impl, metric)
        if not ours or not peer:
            return None
        return peer / ours if lower_is_better else ours / peer

    def target_cells(metric, lower_is_better, target):
        if target is None:
            return "-", "-"
        ours = median("ours", metric)
        if target[0] == "at most":
            met = None if ours is None else ours <= target[1]
            text = f"<= {target[1]}"
        elif target[0] == "within":
            _, other, maximum = target
            base = median("ours", other)
            ratio = ours / base if ours and base else None
            text = ("-" if ratio is None else f"{ratio:.2f}x {other}") + ("" if maximum is None else f" (<= {maximum}x)")
            met = None if ratio is None or maximum is None else ratio <= maximum
        else:
            _, peer, minimum = target
            ratio = advantage(peer, metric, lower_is_better)
            met = None if ratio is None else ratio >= minimum
            text = f">= {minimum}x {peer}"
        return text, "-" if met is None else ("yes" if met else "NO")

    mode = "quick" if args.quick else "full"
    print(f"{suite_name} workloads, {args.rounds} round(s) ({mode}); median (min-max); "
          f"ratio = how many times better ours is than the peer")
    header = ["workload", "unit", "ours", "asio", "python", "vs asio", "vs python", "target", "met"]
    rows = []
    for metric, unit, lower_is_better, target in suite["metrics"]:
        ratios = [advantage(peer, metric, lower_is_better) for peer in ("asio", "python")]
        rows.append([metric, unit + (" (lower is better)" if lower_is_better else " (higher is better)"),
                     cell("ours", metric), cell("asio", metric), cell("python", metric),
                     *("-" if r is None else f"{r:.2f}x" for r in ratios),
                     *target_cells(metric, lower_is_better, target)])
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(str(v).ljust(w) if i < 2 else str(v).rjust(w)
                        for i, (v, w) in enumerate(zip(row, widths))).rstrip())
    for note in notes:
        print(f"note: {note}")
    return summary, samples, failures, notes, commands


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # ([] among the choices: argparse checks the empty default against them too.)
    parser.add_argument("suites", nargs="*", choices=[[]] + list(SUITES), default=[],
                        help="suites to run (default: all)")
    parser.add_argument("--build", default=DEFAULT_BUILD,
                        help="the build tree's bench/ directory (default: %(default)s)")
    parser.add_argument("--python", default="/usr/bin/python3", help="the interpreter for the Python peers")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of all programs (default: 5)")
    parser.add_argument("--quick", action="store_true", help="pass --quick on: smaller counts")
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed per program run")
    parser.add_argument("--json", metavar="FILE", help="also write the raw figures to FILE")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    results = {}
    all_failures = []
    for suite_name in args.suites or list(SUITES):
        summary, samples, failures, notes, commands = compare(suite_name, args)
        results[suite_name] = {"commands": commands, "samples": samples, "summary": summary, "notes": notes}
        all_failures += failures
        print()
    if all_failures:
        print(f"{len(all_failures)} failed run(s):")
        for failure in all_failures:
            print(f"  {failure['suite']} round {failure['round']} {failure['impl']}: {failure['error']}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"rounds": args.rounds, "quick": args.quick, "suites": results,
                       "failures": all_failures}, out, indent=1)
    return 1 if all_failures else 0


if __name__ == "__main__":
    sys.exit(main())
