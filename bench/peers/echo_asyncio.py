#!/usr/bin/env python3
"""CPython asyncio peer of the echo benchmarks (compare.py echo): an echo server on asyncio
streams. Each connection's handler reads up to 64 KiB with reader.read, writes it back with
writer.write and waits in writer.drain, until end of file. --protocol serves with a Protocol
instead (data_received writes the bytes back; reading pauses while the write buffer is over
its high-water mark): uvloop's fastest path. --uvloop runs either on uvloop's event loop.
Listens on 127.0.0.1:PORT (backlog 1024); exits with status 0 on SIGINT or SIGTERM.
Usage: echo_asyncio.py PORT [--uvloop] [--protocol]"""
import asyncio
import signal
import sys


async def echo(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()
        await writer.wait_closed()
    except ConnectionError:  # reset by the peer
        writer.close()


class EchoProtocol(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)

    def pause_writing(self):
        self.transport.pause_reading()

    def resume_writing(self):
        self.transport.resume_reading()


async def serve(port, protocol):
    if protocol:
        server = await asyncio.get_running_loop().create_server(EchoProtocol, "127.0.0.1", port, backlog=1024)
    else:
        server = await asyncio.start_server(echo, "127.0.0.1", port, backlog=1024)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def main():
    args = [arg for arg in sys.argv[1:] if arg not in ("--uvloop", "--protocol")]
    if len(args) != 1 or not args[0].isdigit():
        sys.exit(f"usage: {sys.argv[0]} PORT [--uvloop] [--protocol]")
    loop_factory = None
    if "--uvloop" in sys.argv[1:]:
        import uvloop
        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serve(int(args[0]), "--protocol" in sys.argv[1:]))


if __name__ == "__main__":
    main()
