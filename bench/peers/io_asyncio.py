#!/usr/bin/env python3
"""CPython asyncio peer of bench_io: two tasks bounce one byte over a Unix socket pair with
loop.sock_sendall and loop.sock_recv_into, on a SelectorEventLoop with each selector. Prints
"pingpong_<backend> <round trips per second>" lines; --quick shrinks the count."""
import asyncio
import selectors
import socket
import sys
import time


async def pinger(loop, sock, round_trips):
    buf = bytearray(1)
    for _ in range(round_trips):
        await loop.sock_sendall(sock, b"x")
        await loop.sock_recv_into(sock, buf)


async def ponger(loop, sock, round_trips):
    buf = bytearray(1)
    for _ in range(round_trips):
        await loop.sock_recv_into(sock, buf)
        await loop.sock_sendall(sock, b"y")


def ping_pong(selector, round_trips):
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    loop = asyncio.SelectorEventLoop(selector)
    try:
        async def both():
            await asyncio.gather(pinger(loop, a, round_trips), ponger(loop, b, round_trips))
        start = time.perf_counter()
        loop.run_until_complete(both())
        return round_trips / (time.perf_counter() - start)
    finally:
        loop.close()
        a.close()
        b.close()


def main():
    quick = "--quick" in sys.argv[1:]
    round_trips = 2_000 if quick else 20_000
    for name, selector in (("epoll", selectors.EpollSelector), ("poll", selectors.PollSelector),
                           ("select", selectors.SelectSelector)):
        print(f"pingpong_{name} {ping_pong(selector(), round_trips):.0f}", flush=True)


if __name__ == "__main__":
    main()
