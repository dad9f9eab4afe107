# CPython asyncio peer of bench_sync (default event loop): producer -> consumer handoff through an
# asyncio.Queue of maxsize 128, and an uncontended asyncio.Lock acquire + release. Prints
# "<name> <value>" lines; --quick shrinks the counts.
import asyncio
import sys
import time

from median_of import median_of

HANDOFF_N = 1_000_000  # a twentieth of the C++ program's count: Python is ~20-50x slower per item
LOCK_N = 2_000_000


async def produce(q, n):
    for i in range(n):
        await q.put(i)


async def consume(q, n):
    total = 0
    for _ in range(n):
        total += await q.get()
    return total


async def queue_handoff(n):
    """One producer task puts n ints into a Queue(128), one consumer task gets them."""
    q = asyncio.Queue(128)
    start = time.perf_counter_ns()
    _, total = await asyncio.gather(produce(q, n), consume(q, n))
    elapsed = time.perf_counter_ns() - start
    if total != n * (n - 1) // 2:
        raise RuntimeError(f"queue_handoff: wrong sum {total}")
    return elapsed / n


async def lock_round_trip(n):
    """await lock.acquire(); lock.release() on a Lock nobody else wants."""
    lock = asyncio.Lock()
    start = time.perf_counter_ns()
    for _ in range(n):
        await lock.acquire()
        lock.release()
    return (time.perf_counter_ns() - start) / n


def main():
    quick = "--quick" in sys.argv[1:]
    scale = 10 if quick else 1
    handoff = median_of(5, lambda: asyncio.run(queue_handoff(HANDOFF_N // scale)))
    print(f"queue_handoff_ns {handoff:.2f}", flush=True)
    print(f"lock_ns {asyncio.run(lock_round_trip(LOCK_N // scale)):.2f}", flush=True)


if __name__ == "__main__":
    main()
