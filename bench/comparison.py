# What compare_core.py and compare_sync.py share: run our benchmark program and its peers
# (Boost.Asio, CPython asyncio) in alternating rounds, then print a table of medians and ratios.
"""Runs benchmark programs in alternating rounds and compares their medians.

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


class Peer:
    """One program of the comparison: its default path and the workloads it must report."""

    def __init__(self, default_path, metrics):
        self.default_path = default_path  # for "python": the script the interpreter runs
        self.metrics = metrics


def run_once(impl, command, metric_names, expected, timeout):
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
    missing = [m for m in expected if m not in values]
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


def main(title, metrics, peers, description=__doc__):
    """`metrics`: [(workload, unit, target for ours)]; `peers`: {"ours"/"asio"/"python": Peer}."""
    metric_names = [name for name, _, _ in metrics]
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ours", default=peers["ours"].default_path, help="our program (default: %(default)s)")
    parser.add_argument("--asio", default=peers["asio"].default_path,
                        help="the Boost.Asio program, skipped if missing (default: %(default)s)")
    parser.add_argument("--python", default="/usr/bin/python3", help="the interpreter for the CPython peer")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of all programs (default: 5)")
    parser.add_argument("--quick", action="store_true", help="pass --quick on: smaller counts")
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed per program run")
    parser.add_argument("--json", metavar="FILE", help="also write the raw figures to FILE")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

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
    commands["python"] = [args.python, peers["python"].default_path] + extra
    for note in notes:
        print(note, file=sys.stderr)

    samples = {impl: {m: [] for m in metric_names} for impl in commands}
    failures = []
    for round_no in range(1, args.rounds + 1):
        print(f"round {round_no}/{args.rounds}", file=sys.stderr)
        for impl, command in commands.items():  # one program at a time: the machine is shared
            values, error = run_once(impl, command, metric_names, peers[impl].metrics, args.timeout)
            for metric, value in values.items():
                samples[impl][metric].append(value)
            if error:
                failures.append({"round": round_no, "impl": impl, "error": error})
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

    def ratio(impl, metric):
        ours, peer = median("ours", metric), median(impl, metric)
        if ours is None or peer is None or ours <= 0:
            return "-"
        return f"{peer / ours:.2f}x"

    mode = "quick" if args.quick else "full"
    print(f"{title}, {args.rounds} round(s) ({mode}); median (min-max); lower is better, "
          f"ratio peer/ours > 1 means ours is faster/smaller")
    header = ["workload", "unit", "ours", "asio", "python", "asio/ours", "python/ours", "target", "met"]
    rows = []
    for metric, unit, target in metrics:
        ours = median("ours", metric)
        met = "-" if ours is None else ("yes" if ours <= target else "NO")
        rows.append([metric, unit, cell("ours", metric), cell("asio", metric), cell("python", metric),
                     ratio("asio", metric), ratio("python", metric), f"<= {target}", met])
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(str(v).ljust(w) if i < 2 else str(v).rjust(w)
                        for i, (v, w) in enumerate(zip(row, widths))).rstrip())

    for note in notes:
        print(f"note: {note}")
    if failures:
        print(f"{len(failures)} failed run(s):")
        for failure in failures:
            print(f"  round {failure['round']} {failure['impl']}: {failure['error']}")

    if args.json:
        with open(args.json, "w") as out:
            json.dump({"rounds": args.rounds, "quick": args.quick, "commands": commands,
                       "targets": {m: t for m, _, t in metrics}, "samples": samples,
                       "summary": summary, "failures": failures, "notes": notes}, out, indent=1)
    return 1 if failures or "ours" not in commands else 0
