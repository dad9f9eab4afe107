#!/usr/bin/env python3
# Runs the core runtime workloads for us (bench_core), Boost.Asio (bench_core_asio) and CPython
# asyncio (peers/core_asyncio.py) in one session, alternating rounds so drift hits all alike,
# and prints the medians, min-max, the ratios peer/ours and the targets.
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
METRICS = [  # name, unit, target for ours (all lower is better)
    ("spawn_ns", "ns/task", 60),
    ("sleep0_ns", "ns", 15),
    ("timer_overhead_ns", "ns/timer", 150),
    ("pending_task_bytes", "B/task", 200),
]


def run_once(command):
    try:
        out = subprocess.run(command, check=True, capture_output=True, text=True, timeout=600).stdout
    except (subprocess.SubprocessError, OSError) as error:
        print(f"  {' '.join(command)} failed: {error}", file=sys.stderr)
        return None
    values = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2:
            values[parts[0]] = float(parts[1])
    return values


def main():
    build = os.path.join(HERE, "..", "build", "bench", "bench")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ours", default=os.path.join(build, "bench_core"))
    parser.add_argument("--asio", default=os.path.join(build, "peers", "bench_core_asio"))
    parser.add_argument("--python", default="/usr/bin/python3")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", help="write the raw figures here")
    args = parser.parse_args()

    extra = ["--quick"] if args.quick else []
    impls = {"ours": [args.ours] + extra}
    if os.path.exists(args.asio):
        impls["asio"] = [args.asio] + extra
    else:
        print(f"no Asio peer at {args.asio}: skipped", file=sys.stderr)
    impls["python"] = [args.python, os.path.join(HERE, "peers", "core_asyncio.py")] + extra

    samples = {impl: {m: [] for m, _, _ in METRICS} for impl in impls}
    for round_no in range(args.rounds):
        for impl, command in impls.items():
            print(f"round {round_no + 1}/{args.rounds}: {impl}", file=sys.stderr)
            values = run_once(command)
            for metric, _, _ in METRICS:
                if values and metric in values:
                    samples[impl][metric].append(values[metric])

    def median(impl, metric):
        values = samples[impl][metric]
        return statistics.median(values) if values else None

    header = f"{'workload':<20}{'ours':>12}{'min-max':>18}"
    for impl in impls:
        if impl != "ours":
            header += f"{impl:>12}{impl + '/ours':>13}"
    header += f"{'target':>9}  met"
    print(header)
    for metric, unit, target in METRICS:
        ours = median("ours", metric)
        values = samples["ours"][metric]
        row = f"{metric:<20}{ours if ours is not None else float('nan'):>12.1f}"
        row += f"{(f'{min(values):.1f}-{max(values):.1f}' if values else '-'):>18}"
        for impl in impls:
            if impl == "ours":
                continue
            peer = median(impl, metric)
            ratio = peer / ours if peer is not None and ours else float("nan")
            row += f"{peer if peer is not None else float('nan'):>12.1f}{ratio:>12.1f}x"
        row += f"{target:>9}  {'yes' if ours is not None and ours <= target else 'no'}"
        print(row + f"   ({unit})")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(samples, out, indent=1)


if __name__ == "__main__":
    main()
