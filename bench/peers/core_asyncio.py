# CPython asyncio peer of bench_core (default event loop): spawn, sleep(0), timer overhead and memory
# per pending task; with --count, also tasks sleeping random delays and tasks in wait_for(q.get()). Prints "<name> <value>" lines; --quick shrinks the counts, and
# --count WORKLOAD N runs one workload with N tasks or timers.
import asyncio
import contextvars
import math
import random
import sys
import time

from median_of import median_of

# Counts (--quick: spawn and sleep(0) a tenth, 100,000 timers, 10,000 pending tasks).
SPAWN_N = 200_000  # as for the C++ programs
SLEEP0_N = 1_000_000  # a tenth of the C++ programs' 10,000,000: Python is ~20-50x slower per step
TIMER_N = 1_000_000
PENDING_N = 100_000


def rss_bytes():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


async def wait_on(future):
    await future


async def pending_task_bytes(n):
    """Memory per task suspended on one shared, never-completed future (coroutine included)."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    tasks = [None] * n  # the list is the benchmark's, not the tasks' cost: allocated beforehand
    before = rss_bytes()
    for i in range(n):
        tasks[i] = asyncio.create_task(wait_on(future))
    # The tasks' first steps were queued ahead of this task's wake-up, so all are suspended on
    # the future by the time sleep(0) returns.
    await asyncio.sleep(0)
    after = rss_bytes()
    if future.done() or any(task.done() for task in tasks):
        raise RuntimeError("pending_task_bytes: tasks not suspended on the future")
    future.set_result(None)
    await asyncio.gather(*tasks)
    return (after - before) / n


async def yield_once():
    await asyncio.sleep(0)


async def spawn(n):
    """create_task + one sleep(0) + gather, per task."""
    start = time.perf_counter_ns()
    await asyncio.gather(*[asyncio.create_task(yield_once()) for _ in range(n)])
    return (time.perf_counter_ns() - start) / n


request_id = contextvars.ContextVar("request_id")


async def spawn_with_context(n):
    """spawn with one context variable set (every task copies the context, set or not)."""
    request_id.set(1)
    return await spawn(n)


async def finish_at_once():
    pass


async def spawn_done(n):
    """create_task of a coroutine that finishes without suspending + gather, per task (3.11 has
    no eager tasks: these are plain ones)."""
    start = time.perf_counter_ns()
    await asyncio.gather(*[asyncio.create_task(finish_at_once()) for _ in range(n)])
    return (time.perf_counter_ns() - start) / n


async def sleep0(n):
    """One task yielding to the loop n times."""
    start = time.perf_counter_ns()
    for _ in range(n):
        await asyncio.sleep(0)
    return (time.perf_counter_ns() - start) / n


async def timer_overhead(n):
    """n call_later timers of uniform random 0-50 ms delay: wall time beyond 50 ms, per timer."""
    loop = asyncio.get_running_loop()
    rng = random.Random(42)
    # Drawn before the clock starts: Python's RNG costs about as much as call_later itself, which
    # would charge the loop for it (the C++ programs' mt19937 draws cost a few ns and are timed).
    delays = [rng.uniform(0.0, 0.050) for _ in range(n)]
    all_fired = loop.create_future()
    fired = 0

    def on_timer():
        nonlocal fired
        fired += 1
        if fired == n:
            all_fired.set_result(None)

    call_later = loop.call_later
    start = time.perf_counter_ns()
    for delay in delays:
        call_later(delay, on_timer)
    await all_fired
    elapsed = time.perf_counter_ns() - start
    return (elapsed - 50e6) / n


async def sleep_for(delay):
    await asyncio.sleep(delay)


async def sleeping_tasks(n):
    """n tasks each sleeping a uniform random 0-50 ms, gathered: wall time beyond 50 ms, per task."""
    rng = random.Random(42)
    delays = [rng.uniform(0.0, 0.050) for _ in range(n)]  # drawn before the clock starts
    start = time.perf_counter_ns()
    await asyncio.gather(*[asyncio.create_task(sleep_for(delay)) for delay in delays])
    return (time.perf_counter_ns() - start - 50e6) / n


WAIT_DEADLINE = 10.0  # seconds


async def get_within(queue):
    try:
        await asyncio.wait_for(queue.get(), WAIT_DEADLINE)
    except TimeoutError:
        pass


async def wait_for_items(n):
    """n tasks in wait_for(q.get(), 10 s); 90% get an item, the rest time out: wall time beyond
    the 10 s deadline, per task."""
    queue = asyncio.Queue()
    start = time.perf_counter_ns()
    tasks = [asyncio.create_task(get_within(queue)) for _ in range(n)]
    await asyncio.sleep(0)  # every task waits in get()
    for i in range(n - n // 10):
        queue.put_nowait(i)
    await asyncio.gather(*tasks)
    return (time.perf_counter_ns() - start - WAIT_DEADLINE * 1e9) / n


def main():
    args = sys.argv[1:]
    if len(args) == 3 and args[0] == "--count":  # one workload with N tasks or timers
        workload = {"pending_task_bytes": pending_task_bytes, "spawn_ns": spawn,
                    "timer_overhead_ns": timer_overhead, "sleeping_tasks_ns": sleeping_tasks,
                    "wait_for_ns": wait_for_items}.get(args[1])
        if workload is None:
            print(f"unknown workload {args[1]}", file=sys.stderr)
            return 2
        print(f"{args[1]} {asyncio.run(workload(int(args[2]))):.1f}", flush=True)
        return 0
    if any(arg != "--quick" for arg in args):
        print("usage: core_asyncio.py [--quick | --count WORKLOAD N]", file=sys.stderr)
        return 2
    quick = "--quick" in args
    workloads = [  # memory first, as bench_core does, before any freed memory can be reused
        ("pending_task_bytes", pending_task_bytes, 10_000 if quick else PENDING_N, "{:.1f}"),
        ("spawn_ns", spawn, SPAWN_N // 10 if quick else SPAWN_N, "{:.1f}"),
        ("spawn_context_ns", spawn_with_context, SPAWN_N // 10 if quick else SPAWN_N, "{:.1f}"),
        ("spawn_done_ns", spawn_done, SPAWN_N // 10 if quick else SPAWN_N, "{:.1f}"),
        ("sleep0_ns", sleep0, SLEEP0_N // 10 if quick else SLEEP0_N, "{:.1f}"),
        ("timer_overhead_ns", timer_overhead, 100_000 if quick else TIMER_N, "{:.1f}"),
    ]
    status = 0
    for name, workload, n, fmt in workloads:
        try:
            if workload in (spawn, spawn_with_context, spawn_done):  # its single runs scatter: the median of 5 after a warm-up, as in C++
                value = median_of(5, lambda: asyncio.run(spawn(n)))
            else:
                value = asyncio.run(workload(n))
        except Exception as error:  # report, print nan, and go on with the other workloads
            print(f"{name}: {type(error).__name__}: {error}", file=sys.stderr)
            value, status = math.nan, 1
        print(f"{name} {fmt.format(value)}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
