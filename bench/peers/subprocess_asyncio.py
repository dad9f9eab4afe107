#!/usr/bin/env python3
"""CPython asyncio peer of bench_subprocess (default event loop and child watcher):

  spawn_wait_per_s       1,000 runs of /bin/true, at most 50 alive at once (an
                         asyncio.Semaphore(50) around create_subprocess_exec + proc.wait()), runs
                         per second; the median of 5 batches after a warm-up batch (--quick: of 1).
  signal_latency_*_us    the sender protocol of bench_subprocess with the same sender program
                         (--sender PATH, bench/signal_sender.cpp): loop.add_signal_handler's
                         callback reads the clock and the sender's timestamp and acknowledges.
                         Median and 99th percentile of 1,000 samples (--quick: 300) after 10
                         discarded ones, in microseconds.

Prints "<name> <value>" lines. Usage: subprocess_asyncio.py [--quick] --sender PATH"""
import argparse
import asyncio
import math
import os
import signal
import struct
import time

from median_of import median_of

RUNS = 1000
CONCURRENCY = 50
WARMUP_SAMPLES = 10
GAP_US = 2000


async def run_true(slots):
    async with slots:
        proc = await asyncio.create_subprocess_exec("/bin/true")
        return await proc.wait()


async def spawn_and_wait(runs):
    slots = asyncio.Semaphore(CONCURRENCY)
    start = time.perf_counter()
    codes = await asyncio.gather(*(run_true(slots) for _ in range(runs)))
    seconds = time.perf_counter() - start
    if any(code != 0 for code in codes):
        raise RuntimeError("spawn_and_wait: a /bin/true did not exit with 0")
    return runs / seconds


async def signal_latency(sender, samples):
    loop = asyncio.get_running_loop()
    stamps_r, stamps_w = os.pipe()  # close-on-exec, as ours
    acks_r, acks_w = os.pipe()
    total = WARMUP_SAMPLES + samples
    latencies = []
    done = loop.create_future()

    def on_signal():
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)  # first: the callback is running
        (sent,) = struct.unpack("=q", os.read(stamps_r, 8))
        latencies.append((now - sent) / 1000)
        os.write(acks_w, b"a")
        if len(latencies) == total and not done.done():
            done.set_result(None)

    loop.add_signal_handler(signal.SIGUSR1, on_signal)
    try:
        proc = await asyncio.create_subprocess_exec(sender, str(total), str(GAP_US), stdin=acks_r,
                                                    stdout=stamps_w)
        os.close(acks_r)
        os.close(stamps_w)
        await asyncio.wait_for(done, 60)
        code = await proc.wait()
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
        os.close(stamps_r)
        os.close(acks_w)
    if code != 0:
        raise RuntimeError(f"signal_latency: the sender exited with {code}")
    return latencies[WARMUP_SAMPLES:]


def percentile(values, p):
    """The nearest-rank percentile p (0-100), as the other programs take it."""
    values = sorted(values)
    return values[max(math.ceil(p / 100 * len(values)), 1) - 1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sender", required=True, help="the signal_sender program of the bench build")
    args = parser.parse_args()
    rate = median_of(1 if args.quick else 5, lambda: asyncio.run(spawn_and_wait(RUNS)))
    print(f"spawn_wait_per_s {rate:.0f}", flush=True)
    latencies = asyncio.run(signal_latency(args.sender, 300 if args.quick else 1000))
    print(f"signal_latency_p50_us {percentile(latencies, 50):.2f}")
    print(f"signal_latency_p99_us {percentile(latencies, 99):.2f}", flush=True)


if __name__ == "__main__":
    main()
