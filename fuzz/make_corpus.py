#!/usr/bin/env python3
"""Writes the seed corpora: fuzz_stream_reader's into corpus/stream_reader/ (hand-written cases
in the harness's input layout, see the top of fuzz_stream_reader.cpp, one per file, and a few
random ones from a fixed seed), and fuzz_tls_server's into corpus/tls_server/ (real
ClientHellos from Python's ssl module, TLS 1.3 and 1.2, fed whole or in small pieces, with and
without EOF), and fuzz_resp's into corpus/resp/ (request streams a Redis client sends, pipelined,
inline and malformed, each with the two bytes of the layout at the top of fuzz_resp.cpp). Run it
again after changing a layout."""
import pathlib
import random
import ssl

ALPHABET = b"ab\n\r"  # the small alphabet: its bytes are written as their index


def encode(limit=None, mode="fed", ops=(), chunks=(), eof="end", failure="never", small=False):
    """limit: 1..64, or None for DEFAULT_LIMIT. mode: fed, connection or socket. ops: tuples
    such as ("read", 5), ("read_all",), ("readline",), ("readuntil", b";"), ("readuntil", (b";", b"\n")),
    ("readexactly", 3), ("at_eof",). chunks: (bytes, yields) pairs. eof and failure: the index
    of the chunk they come before, "end" or "never"."""
    def data(raw):
        return bytes(ALPHABET.index(b) for b in raw) if small else bytes(raw)

    out = bytearray([0xF0 if limit is None else limit - 1,
                     {"fed": 0, "connection": 5, "socket": 7}[mode] | (8 if small else 0),
                     len(ops) - 1])
    kinds = {"read": 0, "read_all": 1, "readline": 2, "readuntil": 3, "readexactly": 4, "at_eof": 5}
    for op in ops:
        out.append(kinds[op[0]])
        if op[0] in ("read", "readexactly"):
            out.append(op[1])
        elif op[0] == "readuntil":  # one separator, or a tuple of two (readuntil of both)
            separators = op[1] if isinstance(op[1], tuple) else (op[1],)
            for i, separator in enumerate(separators):
                out.append(len(separator) - 1 + (3 if i + 1 < len(separators) else 0))
                out += data(separator)
    out.append(len(chunks))
    for raw, yields in chunks:
        assert len(raw) < 48 and 0 <= yields < 3
        out.append(yields * 48 + len(raw))
        out += data(raw)
    position = {"end": len(chunks), "never": len(chunks) + 1}
    out.append(position.get(eof, eof))
    out.append({"end": len(chunks), "never": 2 * len(chunks) + 3}.get(failure, failure))
    return bytes(out)


def feeds(*pieces, yields=1):
    return [(piece, yields) for piece in pieces]


CASES = {
    "read-n": encode(ops=[("read", 5), ("read", 10), ("read", 10)], chunks=feeds(b"hello", b" world")),
    "read-zero": encode(ops=[("read", 0), ("read", 3), ("read", 0)], chunks=feeds(b"xyz"), eof="never"),
    "read-to-eof": encode(limit=3, ops=[("read_all",), ("at_eof",), ("read", 4)], chunks=feeds(b"abcdefgh", b"ij", b"")),
    "readline-across-feeds": encode(ops=[("readline",)] * 5, chunks=feeds(b"fir", b"st\nsec", b"ond\n", b"third")),
    "readuntil-crlf": encode(ops=[("readuntil", b"\r\n\r\n"), ("read_all",)],
                             chunks=feeds(b"GET / HTTP/1.1\r", b"\nHost: x\r", b"\n\r\nbody")),
    "readuntil-several": encode(limit=6, ops=[("readuntil", (b"\r\n", b"\n"))] * 3 + [("readuntil", (b"abc", b"b"))],
                                chunks=feeds(b"one\r", b"\ntwo\nthre", b"e\r\nab", b"cd")),
    "readexactly-partial": encode(ops=[("readexactly", 5)] * 3, chunks=feeds(b"abc", b"defg", b"hij", b"kl")),
    "eof-first": encode(ops=[("at_eof",), ("read", 5), ("readline",), ("readexactly", 2), ("readuntil", b";")],
                        chunks=feeds(b"late"), eof=0),
    "eof-only": encode(ops=[("at_eof",), ("read_all",), ("at_eof",)], eof=0),
    "overrun-not-found": encode(limit=4, ops=[("readuntil", b";"), ("read", 100), ("at_eof",)], chunks=feeds(b"abcdefgh")),
    "overrun-found-late": encode(limit=4, ops=[("readuntil", b";"), ("read_all",)], chunks=feeds(b"abcdefg;xy")),
    "overrun-two-byte-separator": encode(limit=5, ops=[("readuntil", b"\r\n"), ("readuntil", b"\r\n"), ("read_all",)],
                                         chunks=feeds(b"abcd\r", b"\nabcdef\r", b"\n")),
    "readline-overrun-newline-buffered": encode(limit=4, ops=[("readline",)] * 3, chunks=feeds(b"abcdefgh\nxy\n")),
    "readline-overrun-no-newline": encode(limit=4, ops=[("readline",)] * 4, chunks=feeds(b"abcdefghijkl", b"mn\nop\n")),
    "failure-while-waiting": encode(ops=[("readexactly", 10), ("read", 1), ("at_eof",)], chunks=feeds(b"abc", b"de"),
                                    failure=1),
    "failure-first": encode(ops=[("read", 5), ("readline",), ("read_all",)], chunks=feeds(b"abc"), failure=0),
    "failure-after-eof": encode(ops=[("read", 2), ("read_all",)], chunks=feeds(b"abcd"), failure="end"),
    "feed-after-eof": encode(ops=[("read_all",)], chunks=feeds(b"ab", b"cd", b""), eof=1),
    "never-eof": encode(ops=[("readline",), ("readline",)], chunks=feeds(b"one\ntw", b"o")),
    "read-to-eof-never": encode(limit=2, ops=[("read_all",)], chunks=feeds(b"abcde", b"f"), eof="never"),
    "no-yields": encode(ops=[("readline",), ("read", 100), ("readexactly", 4)],
                        chunks=feeds(b"a", b"b\nc", b"de", b"fgh", yields=0)),
    "two-yields": encode(limit=8, ops=[("readuntil", b"ab"), ("read", 3), ("readexactly", 6)],
                         chunks=feeds(b"xxa", b"bxx", b"yyyyyy", yields=2)),
    "small-alphabet": encode(limit=3, small=True, ops=[("readuntil", b"\r\n"), ("readline",), ("readuntil", b"ab")],
                             chunks=feeds(b"aab\r", b"\nbb", b"a\nab", b"ba")),
    "connection-readline": encode(limit=4, mode="connection", ops=[("readline",)] * 4,
                                  chunks=feeds(b"ab\n", b"cdefghij", b"k\nl\n")),
    "connection-pausing": encode(limit=2, mode="connection", ops=[("at_eof",), ("readexactly", 20), ("read", 3)],
                                 chunks=feeds(b"abcdefgh", b"ijklmnop", b"qrstuvwx")),
    "connection-failure": encode(mode="connection", ops=[("readuntil", b"!"), ("read", 4)], chunks=feeds(b"abc"),
                                 failure=1),
    "socket-readline": encode(limit=6, mode="socket", ops=[("readline",)] * 4,
                              chunks=feeds(b"one\ntw", b"o\nthree\n", b"four")),
    "socket-pausing": encode(limit=3, mode="socket", ops=[("read", 1), ("readexactly", 30), ("read_all",)],
                             chunks=feeds(b"abcdefghij", b"klmnopqrst", b"uvwxyz0123", b"456789")),
    "socket-read-to-eof": encode(limit=2, mode="socket", ops=[("read_all",), ("at_eof",)],
                                 chunks=feeds(b"abcdefg", b"hijk", b"lmnop", yields=2)),
    "socket-resume-at-limit": encode(limit=4, mode="socket", ops=[("read", 6), ("at_eof",)],
                                     chunks=feeds(b"abcdefghij", b"xy")),
    "socket-idle-reader": encode(limit=2, mode="socket", ops=[("read", 1)],
                                 chunks=feeds(b"abcdefgh", b"ijklmnop", b"q")),
    "socket-eof-early": encode(limit=5, mode="socket", ops=[("readexactly", 3), ("read_all",)],
                               chunks=feeds(b"ab", b"cd", b"ef"), eof=1),
}


def client_hello(maximum_version, alpn):
    """The first flight of a client (its ClientHello record), as it would go on the wire."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.maximum_version = maximum_version
    if alpn:
        context.set_alpn_protocols(alpn)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    session = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        session.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def write_tls_corpus(root):
    directory = root / "tls_server"
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.iterdir():
        old.unlink()
    hellos = {"tls13": client_hello(ssl.TLSVersion.TLSv1_3, ["h2", "http/1.1"]),
              "tls12": client_hello(ssl.TLSVersion.TLSv1_2, None)}
    for name, hello in hellos.items():
        # flags: bit 0 EOF after the data; bit 1 pause at data; bits 2-7 piece size
        (directory / f"{name}-whole").write_bytes(bytes([63 << 2]) + hello)
        (directory / f"{name}-pieces-eof").write_bytes(bytes([1 | 2 << 2]) + hello)
        (directory / f"{name}-truncated").write_bytes(bytes([1 | 63 << 2]) + hello[: len(hello) // 2])


def resp_array(*arguments):
    """One request as a client sends it: an array of bulk strings."""
    out = b"*%d\r\n" % len(arguments)
    for argument in arguments:
        argument = argument if isinstance(argument, bytes) else argument.encode()
        out += b"$%d\r\n%s\r\n" % (len(argument), argument)
    return out


RESP_STREAMS = {
    "benchmark": resp_array("SET", "key:__rand_int__", "xxx") + resp_array("GET", "key:__rand_int__")
    + resp_array("INCR", "counter:__rand_int__") + resp_array("LPUSH", "mylist", "xxx") + resp_array("LPOP", "mylist")
    + resp_array("CONFIG", "GET", "save") + resp_array("CONFIG", "GET", "appendonly"),
    "strings": resp_array("SET", "k", "v", "EX", "100") + resp_array("SET", "k", "w", "NX", "GET")
    + resp_array("SET", "k", "x", "XX", "KEEPTTL") + resp_array("SET", "n", "41") + resp_array("INCR", "n")
    + resp_array("MSET", "a", "1", "b", "2") + resp_array("MGET", "a", "missing", "b") + resp_array("DEL", "a", "b", "a")
    + resp_array("EXISTS", "k", "k", "n") + resp_array("SET", "big", "9223372036854775807") + resp_array("INCR", "big"),
    "expiry": resp_array("SET", "k", "v", "PX", "5") + resp_array("EXPIRE", "n", "10", "GT") + resp_array("TTL", "k")
    + resp_array("GET", "k") + resp_array("GET", "k") + resp_array("GET", "k") + resp_array("GET", "k")
    + resp_array("GET", "k") + resp_array("GET", "k") + resp_array("TTL", "k") + resp_array("EXPIRE", "x", "-1")
    + resp_array("SET", "p", "v", "EXAT", "1") + resp_array("EXISTS", "p"),
    "lists": resp_array("RPUSH", "l", "a", "b", "c", "d") + resp_array("LPUSH", "l", "z") + resp_array("LRANGE", "l", "0", "-1")
    + resp_array("LRANGE", "l", "-2", "100") + resp_array("LPOP", "l", "2") + resp_array("RPOP", "l") + resp_array("LLEN", "l")
    + resp_array("GET", "l") + resp_array("LPOP", "none", "3") + resp_array("RPOP", "l", "0") + resp_array("LPOP", "l", "-1"),
    "inline": b"PING\r\nping hello\necho \"a\\x41\\n\" \r\necho 'b\\'c'\r\n\r\n  \r\nSET k \"v w\"\r\nGET k\r\n",
    "errors": b"FOO a b\r\nGET\r\nPING a b\r\nCONFIG\r\nCONFIG BOGUS\r\n" + resp_array("") + b"*0\r\n*-1\r\n",
    "quit": resp_array("PING") + b"QUIT\r\nPING\r\n",
    "bad-count": b"*abc\r\n",
    "bad-bulk-type": resp_array("PING") + b"*1\r\n+foo\r\n",
    "bad-bulk-length": b"*1\r\n$-5\r\n",
    "huge-bulk-length": b"*1\r\n$600000000\r\n",
    "unbalanced-quotes": b"SET \"a b\r\n",
    "long-line": b"PING " + b"x" * 40 + b"\r\n",
}


def write_resp_corpus(root):
    directory = root / "resp"
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.iterdir():
        old.unlink()
    for name, stream in RESP_STREAMS.items():
        # byte 0: pieces of 1 + byte % 64 bytes (>= 64: alternating with 1-byte pieces); byte 1,
        # bit 0: small limits
        (directory / f"{name}-whole").write_bytes(bytes([63, 0]) + stream)
        (directory / f"{name}-bytewise").write_bytes(bytes([0, 0]) + stream)
        (directory / f"{name}-pieces-small-limits").write_bytes(bytes([64 + 6, 1]) + stream)


def main():
    root = pathlib.Path(__file__).resolve().parent / "corpus"
    write_tls_corpus(root)
    write_resp_corpus(root)
    directory = root / "stream_reader"
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.iterdir():
        old.unlink()
    for name, data in CASES.items():
        (directory / name).write_bytes(data)
    rng = random.Random(2024)
    for i in range(8):
        (directory / f"random-{i}").write_bytes(bytes(rng.randrange(256) for _ in range(rng.randrange(40, 200))))


if __name__ == "__main__":
    main()
