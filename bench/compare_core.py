#!/usr/bin/env python3
# Compares the core runtime workloads of ours (bench_core), Boost.Asio (peers/core_asio.cpp) and
# CPython asyncio (peers/core_asyncio.py): alternating rounds, then a table of medians and ratios.
"""Run bench_core, bench_core_asio and core_asyncio.py in alternating rounds and compare them.

Each program prints "<workload> <value>" lines. For every workload lower is better, so a ratio
peer/ours above 1 means ours is faster (or smaller).
"""
import os
import sys

from comparison import DEFAULT_BUILD, HERE, Peer, main

# workload, unit, the target for ours
METRICS = [
    ("spawn_ns", "ns/task", 60),
    ("sleep0_ns", "ns/yield", 15),
    ("timer_overhead_ns", "ns/timer", 150),
    ("pending_task_bytes", "B/task", 200),
]
ALL = [name for name, _, _ in METRICS]

PEERS = {
    "ours": Peer(os.path.join(DEFAULT_BUILD, "bench_core"), ALL),
    "asio": Peer(os.path.join(DEFAULT_BUILD, "peers", "bench_core_asio"), ALL),
    "python": Peer(os.path.join(HERE, "peers", "core_asyncio.py"), ALL),
}

if __name__ == "__main__":
    sys.exit(main("core workloads", METRICS, PEERS, __doc__))
