# CPython asyncio versions of bench_core's workloads: spawn, sleep(0) round trip, timer overhead,
# memory per task pending on a future. Prints "<name> <value>" lines; --quick shrinks the counts.
import asyncio
import random
import sys
import time


def rss_bytes():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


async def pending_task_bytes(n):
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    async def wait_on(f):
        await f

    before = rss_bytes()
    tasks = [asyncio.create_task(wait_on(future)) for _ in range(n)]
    await asyncio.sleep(0)
    after = rss_bytes()
    future.set_result(None)
    await asyncio.gather(*tasks)
    return (after - before) / n


async def spawn(n):
    async def yield_once():
        await asyncio.sleep(0)

    start = time.perf_counter_ns()
    await asyncio.gather(*[asyncio.create_task(yield_once()) for _ in range(n)])
    return (time.perf_counter_ns() - start) / n


async def sleep0(n):
    start = time.perf_counter_ns()
    for _ in range(n):
        await asyncio.sleep(0)
    return (time.perf_counter_ns() - start) / n


def timer_overhead(n):
    loop = asyncio.new_event_loop()
    rng = random.Random(42)
    fired = 0

    def on_timer():
        nonlocal fired
        fired += 1
        if fired == n:
            loop.stop()

    start = time.perf_counter_ns()
    for _ in range(n):
        loop.call_later(rng.randint(0, 50_000) / 1e6, on_timer)
    loop.run_forever()
    elapsed = time.perf_counter_ns() - start
    loop.close()
    return (elapsed - 50e6) / n


def main():
    quick = "--quick" in sys.argv
    # Python is ~100x slower than the C++ runs: a tenth of their counts keeps the run short.
    print(f"pending_task_bytes {asyncio.run(pending_task_bytes(10_000 if quick else 100_000)):.1f}")
    print(f"spawn_ns {asyncio.run(spawn(20_000 if quick else 100_000)):.1f}")
    print(f"sleep0_ns {asyncio.run(sleep0(100_000 if quick else 1_000_000)):.1f}")
    print(f"timer_overhead_ns {timer_overhead(100_000 if quick else 1_000_000):.1f}")


if __name__ == "__main__":
    main()
