#!/usr/bin/env python3
# Compares the queue and lock workloads of ours (bench_sync), Boost.Asio (peers/queue_asio.cpp:
# a channel; Asio has no asynchronous mutex) and CPython asyncio (peers/queue_asyncio.py):
# alternating rounds, then a table of medians and ratios.
"""Run bench_sync, bench_queue_asio and queue_asyncio.py in alternating rounds and compare them.

Each program prints "<workload> <value>" lines. For every workload lower is better, so a ratio
peer/ours above 1 means ours is faster.
"""
import os
import sys

from comparison import DEFAULT_BUILD, HERE, Peer, main

# workload, unit, the target for ours
METRICS = [
    ("queue_handoff_ns", "ns/item", 25),
    ("lock_ns", "ns/acq+rel", 5),
]

PEERS = {
    "ours": Peer(os.path.join(DEFAULT_BUILD, "bench_sync"), ["queue_handoff_ns", "lock_ns"]),
    "asio": Peer(os.path.join(DEFAULT_BUILD, "peers", "bench_queue_asio"), ["queue_handoff_ns"]),
    "python": Peer(os.path.join(HERE, "peers", "queue_asyncio.py"), ["queue_handoff_ns", "lock_ns"]),
}

if __name__ == "__main__":
    sys.exit(main("queue and lock workloads", METRICS, PEERS, __doc__))
