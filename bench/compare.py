#!/usr/bin/env python3
# Compares a benchmark suite of ours with the same workloads written for Boost.Asio (peers/*_asio.cpp),
# CPython asyncio (peers/*_asyncio.py) and plain C floors (peers/*_floor.c): alternating rounds, then
# a table of medians and ratios.
"""Run our program and its peers in alternating rounds and compare them.

Suites: core (spawn, sleep(0), timers, memory per task), io (socket-pair ping-pong per
selector backend), sync (queue handoff, uncontended lock), shards (handoff between two loops on
two threads: Channel bursts, one-item round trips, run_on; against Asio's post between two
io_contexts), generator (Generator<T> against a
hand-written loop, and delegation depth) and subprocess (spawn-and-wait of /bin/true 50 at a time,
signal-to-callback latency; also against a C floor). Each program prints "<workload> <value>" lines.
The ratio column is always "how many times better ours is": peer/ours where lower is better,
ours/peer where higher is.

Two more suites run a server and a load client, the server pinned to one CPU and the client to
another (taskset): echo (echo_client against our echo_server, a C epoll floor, Boost.Asio, libuv,
uvloop and asyncio, for 64 B and 64 KiB messages on 50 connections and 64 B on 1,000) and http
(wrk against examples/http_hello and nginx). Their ratios are "this server / the peer named".
The sharding suite runs examples/http_hello and bench/echo_server with --shards 1 and 2 and nginx
with 1 and 2 workers, and compares each server's CPU time per operation between 1 and 2.
Two more do the same over TLS, with a certificate made for the run by the openssl tool:
tls_echo (echo_client --tls against our echo servers with --tls and Boost.Asio's ssl::stream
echo, 64 B and 16 KiB on 50 connections) and https (wrk against examples/https_hello and nginx
with TLS: keep-alive, and a new connection with a full handshake per request).
The resp suite runs redis-benchmark (SET, GET, INCR, LPUSH, LPOP on 50 connections, without and
with 16 requests pipelined) against examples/resp_server, on epoll and on io_uring, and against
redis-server 7 with persistence off.
"""
import argparse
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_BUILD = os.path.join(HERE, "..", "build", "bench", "bench")

# Per suite: our program, the Asio peer, optionally a C floor ("floor"), the Python peer (relative to
# the build's bench/ and to bench/peers/), optionally "args" given to every program ("{build}" is
# the build's bench/ directory), "names" for the report (a peer's name in this suite) and
# "targets_in_report" (report.py's table shows the targets and whether they are met), and the
# workloads: name, unit, whether lower is better, the target. A target is ("at most",
# value), ("ratio to", peer, minimum ratio of ours over the peer), ("within", another workload,
# maximum of ours / ours on that workload, or None to just show it), or a list of such targets,
# all of which must be met.
SUITES = {
    "core": {
        "ours": "bench_core", "asio": "peers/bench_core_asio", "python": "core_asyncio.py",
        "metrics": [
            ("spawn_ns", "ns/task", True, ("at most", 60)),
            ("spawn_context_ns", "ns/task, a ContextVar set", True, ("within", "spawn_ns", 1.1)),
            ("spawn_done_ns", "ns/task, finishes at once", True, None),
            ("eager_spawn_done_ns", "ns/task, eager_start", True, ("at most", 20)),
            ("sleep0_ns", "ns/yield", True, ("at most", 15)),
            ("timer_overhead_ns", "ns/timer", True, ("at most", 150)),
            ("pending_task_bytes", "B/task", True, ("at most", 200)),
        ],
    },
    "io": {
        "ours": "bench_io", "asio": "peers/bench_io_asio", "python": "io_asyncio.py",
        "metrics": [
            ("pingpong_epoll", "round trips/s", False, ("ratio to", "asio", 1.0)),
            ("pingpong_poll", "round trips/s", False, None),
            ("pingpong_select", "round trips/s", False, None),
        ],
    },
    "sync": {
        "ours": "bench_sync", "asio": "peers/bench_queue_asio", "python": "queue_asyncio.py",
        "metrics": [
            ("queue_handoff_ns", "ns/item", True, ("at most", 25)),
            ("lock_ns", "ns/acquire+release", True, ("at most", 5)),
        ],
    },
    "shards": {
        "ours": "bench_shards", "asio": "peers/bench_shards_asio", "python": None,
        "targets_in_report": True,
        "metrics": [
            ("handoff_burst64_ns", "ns/item, Channel<int> between two loops, bursts of 64 acknowledged",
             True, ("at most", 50)),
            ("handoff_burst64_batched_ns", "ns/item, the same with put_many / get_many", True, None),
            ("handoff_stream_ns", "ns/item, streamed with no acknowledgement", True, None),
            ("item_rtt_ns", "ns/round trip, one item there and back", True, ("ratio to", "asio", 1.0)),
            ("run_on_rtt_ns", "ns/round trip, co_await run_on", True, ("within", "threadsafe_rtt_ns", 1.0)),
            ("threadsafe_rtt_ns", "ns/round trip, run_coroutine_threadsafe + wrap_future", True, None),
            ("handoff_burst64_busy_ns", "busy-polling loops: ns/item, bursts of 64", True, ("at most", 50)),
            ("handoff_burst64_batched_busy_ns", "busy-polling: ns/item, put_many / get_many", True,
             ("at most", 50)),
            ("handoff_stream_busy_ns", "busy-polling: ns/item, streamed", True, None),
            ("item_rtt_busy_ns", "busy-polling: ns/round trip, one item", True, ("ratio to", "asio", 1.0)),
            ("run_on_rtt_busy_ns", "busy-polling: ns/round trip, run_on", True,
             ("within", "threadsafe_rtt_busy_ns", 1.0)),
            ("threadsafe_rtt_busy_ns", "busy-polling: ns/round trip, run_coroutine_threadsafe", True, None),
        ],
    },
    "generator": {
        "ours": "bench_generator", "asio": None, "python": "generator_python.py",
        "metrics": [
            ("gen_sum_ns", "ns/value, xorshift source", True, ("within", "hand_sum_ns", 1.5)),
            ("hand_sum_ns", "ns/value, hand loop", True, None),
            ("gen_count_ns", "ns/value, bare counter", True, ("within", "hand_count_ns", None)),
            ("hand_count_ns", "ns/value, hand loop", True, None),
            ("delegate_depth1_ns", "ns/value, yield_from depth 1", True, None),
            ("delegate_depth1000_ns", "ns/value, depth 1,000", True, ("within", "delegate_depth1_ns", None)),
        ],
    },
    "subprocess": {
        "ours": "bench_subprocess", "floor": "peers/bench_subprocess_floor", "python": "subprocess_asyncio.py",
        "args": ["--sender", "{build}/signal_sender"],
        "names": {"floor": "C floor"}, "targets_in_report": True,
        "metrics": [
            ("spawn_wait_per_s", "runs/s, 1,000 x /bin/true, 50 at a time", False,
             [("ratio to", "python", 3.0), ("ratio to", "floor", 0.9)]),
            ("signal_latency_p50_us", "us from kill() to callback, median", True, None),
            ("signal_latency_p99_us", "us from kill() to callback, p99", True, None),
        ],
    },
}


def run_once(impl, command, timeout, metric_names):
    """Runs one program; returns ({metric: value}, error message or None)."""
    started = time.monotonic()
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as error:
        return parse_output(error.stdout, metric_names), f"timed out after {timeout} s"
    except OSError as error:
        return {}, f"could not start: {error}"
    values = parse_output(proc.stdout, metric_names)
    problems = []
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        problems.append(f"exit status {proc.returncode}" + (f" ({' | '.join(tail)})" if tail else ""))
    # A peer may leave a workload out (Asio has no poll or select backend); ours may not.
    missing = [m for m in metric_names if m not in values] if impl == "ours" else []
    if missing:
        problems.append("no value for " + ", ".join(missing))
    print(f"  {impl}: {time.monotonic() - started:.1f} s", file=sys.stderr)
    return values, "; ".join(problems) or None


def parse_output(stdout, metric_names):
    if isinstance(stdout, bytes):
        stdout = stdout.decode(errors="replace")
    values = {}
    for line in (stdout or "").splitlines():
        parts = line.split()
        if len(parts) != 2 or parts[0] not in metric_names:
            continue
        try:
            value = float(parts[1])
        except ValueError:
            continue
        if math.isfinite(value):
            values[parts[0]] = value
    return values


def fmt(value):
    if value is None:
        return "-"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def print_table(header, rows, left_columns):
    """Prints aligned columns: the first `left_columns` left-aligned, the others right-aligned."""
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(str(v).ljust(w) if i < left_columns else str(v).rjust(w)
                        for i, (v, w) in enumerate(zip(row, widths))).rstrip())


def summarize(values):
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def median_in(summary, impl, metric):
    """The median of impl's metric in a compare() summary, or None."""
    stats = summary.get(impl, {}).get(metric)
    return stats["median"] if stats else None


def advantage(summary, impl, metric, lower_is_better):
    """How many times better ours is than impl (None when unknown)."""
    ours, peer = median_in(summary, "ours", metric), median_in(summary, impl, metric)
    if not ours or not peer:
        return None
    return peer / ours if lower_is_better else ours / peer


def target_cells(summary, metric, lower_is_better, target):
    """(the target as text, whether ours meets it: "yes", "NO" or "-" when unknown or none)."""
    if target is None:
        return "-", "-"
    if isinstance(target, list):  # all of them
        cells = [target_cells(summary, metric, lower_is_better, t) for t in target]
        mets = [met for _, met in cells]
        met = "NO" if "NO" in mets else "-" if "-" in mets else "yes"
        return ", ".join(text for text, _ in cells), met
    ours = median_in(summary, "ours", metric)
    if target[0] == "at most":
        met = None if ours is None else ours <= target[1]
        text = f"<= {target[1]}"
    elif target[0] == "within":
        _, other, maximum = target
        base = median_in(summary, "ours", other)
        ratio = ours / base if ours and base else None
        text = ("-" if ratio is None else f"{ratio:.2f}x {other}") + ("" if maximum is None else f" (<= {maximum}x)")
        met = None if ratio is None or maximum is None else ratio <= maximum
    else:
        _, peer, minimum = target
        ratio = advantage(summary, peer, metric, lower_is_better)
        met = None if ratio is None else ratio >= minimum
        text = f">= {minimum}x {peer}"
    return text, "-" if met is None else ("yes" if met else "NO")


def compare(suite_name, args):
    """Runs one suite; prints its table; returns (summary, samples, failures, notes, commands)."""
    suite = SUITES[suite_name]
    metric_names = [m[0] for m in suite["metrics"]]
    extra = (["--quick"] if args.quick else []) + [a.format(build=args.build) for a in suite.get("args", [])]
    commands = {}
    notes = []
    for impl in ("ours", "asio", "python", "floor"):  # the order of the runs and of the columns
        if impl == "python":
            if suite["python"] is None:  # no CPython peer for this suite
                continue
            commands["python"] = [args.python, os.path.join(HERE, "peers", suite["python"])] + extra
            continue
        name = suite.get(impl)
        if name is None:  # no such peer for this suite
            continue
        path = os.path.join(args.build, name)
        if os.path.exists(path):
            commands[impl] = [path] + extra
        else:
            notes.append(f"{impl}: no program at {path} (skipped)")
    for note in notes:
        print(note, file=sys.stderr)

    samples = {impl: {m: [] for m in metric_names} for impl in commands}
    failures = []
    for round_no in range(1, args.rounds + 1):
        print(f"{suite_name}: round {round_no}/{args.rounds}", file=sys.stderr)
        for impl, command in commands.items():  # one program at a time: the machine is shared
            values, error = run_once(impl, command, args.timeout, metric_names)
            for metric, value in values.items():
                samples[impl][metric].append(value)
            if error:
                failures.append({"suite": suite_name, "round": round_no, "impl": impl, "error": error})
                print(f"  {impl} FAILED: {error}", file=sys.stderr)

    summary = {impl: {m: summarize(samples[impl][m]) for m in metric_names} for impl in commands}

    def cell(impl, metric):
        stats = summary.get(impl, {}).get(metric)
        if not stats:
            return "-"
        return f"{fmt(stats['median'])} ({fmt(stats['min'])}-{fmt(stats['max'])})"

    mode = "quick" if args.quick else "full"
    print(f"{suite_name} workloads, {args.rounds} round(s) ({mode}); median (min-max); "
          f"ratio = how many times better ours is than the peer")
    # The peers this suite has a column for: Asio (even when it has no program: "-"), Python, a floor.
    peers = [peer for peer in ("asio", "python", "floor") if peer == "python" or peer in suite]
    header = ["workload", "unit", "ours", *peers, *(f"vs {peer}" for peer in peers), "target", "met"]
    rows = []
    for metric, unit, lower_is_better, target in suite["metrics"]:
        ratios = [advantage(summary, peer, metric, lower_is_better) for peer in peers]
        rows.append([metric, unit + (" (lower is better)" if lower_is_better else " (higher is better)"),
                     cell("ours", metric), *(cell(peer, metric) for peer in peers),
                     *("-" if r is None else f"{r:.2f}x" for r in ratios),
                     *target_cells(summary, metric, lower_is_better, target)])
    print_table(header, rows, left_columns=2)
    for note in notes:
        print(f"note: {note}")
    return summary, samples, failures, notes, commands


# --- Server suites: echo and http ---------------------------------------------------------------
# A fresh server per run, on a free port of 127.0.0.1, pinned to one CPU; the load client pinned
# to another. The server must exit with status 0 on SIGTERM.

# Echo workloads: name, message size (bytes), connections. The targets are ours over each peer.
ECHO_WORKLOADS = [("64 B x 50", 64, 50), ("64 KiB x 50", 65536, 50), ("64 B x 1000", 64, 1000)]
# Targets per (workload, server): (peer, at least this many times its round trips/s), or ("cpu",
# at most this many times the floor's server CPU per round trip). The other rows are reported.
ECHO_TARGETS = {("64 B x 50", "ours"): [("asio", 1.0), ("floor", 0.95)],
                ("64 B x 50", "ours-buffered"): [("floor", 1.0), ("cpu", 1.05)],
                ("64 B x 50", "ours-uring"): [("floor", 1.0), ("cpu", 1.0)],
                ("64 B x 1000", "ours-uring"): [("floor", 1.0), ("cpu", 0.9)],
                ("64 KiB x 50", "ours-buffered"): [("asio", 1.1)],
                ("TLS 64 B x 50", "ours"): [("asio", 1.0)],
                ("TLS 16 KiB x 50", "ours"): [("asio", 1.0)]}
# The TLS echo workloads (compare.py tls_echo): the peer "asio" is Boost.Asio's ssl::stream echo.
TLS_ECHO_WORKLOADS = [("TLS 64 B x 50", 64, 50), ("TLS 16 KiB x 50", 16384, 50)]
ECHO_METRICS = ["round_trips_per_s", "latency_p50_us", "latency_p90_us", "latency_p99_us", "latency_p999_us",
                "server_cpu_ns_per_rt"]
# Measured and warm-up seconds per echo run, HTTP seconds per wrk run: full and --quick.
ECHO_SECONDS = {False: (3.0, 1.0), True: (0.5, 0.25)}
HTTP_SECONDS = {False: 5, True: 1}
SERVER_START_SECONDS = 10
SERVER_STOP_SECONDS = 5


def find_tool(name):
    """The path of an installed program, looking in the sbin directories too (nginx is there)."""
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def pick_cpus(notes):
    """Two CPUs this process may run on: (server's, client's). None, with a note, when there are
    fewer or taskset (util-linux) is missing."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or not shutil.which("taskset"):
        notes.append("fewer than 2 CPUs, or no taskset: server and client are not pinned")
        return None
    return cpus[0], cpus[1]


def pinned(cpu, command):
    return command if cpu is None else ["taskset", "-c", str(cpu)] + command


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(command, port, cpu, log):
    """Starts the server (stdout dropped, stderr into `log`) and waits until its port accepts a
    connection. Returns (process, error message or None)."""
    proc = subprocess.Popen(pinned(cpu, command), stdout=subprocess.DEVNULL, stderr=log,
                            stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return proc, f"the server exited with status {proc.returncode} before accepting"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, None
        except OSError:
            time.sleep(0.05)
    return proc, f"the server did not accept within {SERVER_START_SECONDS} s"


def stop_server(proc):
    """SIGTERM, then waits; kills it when it does not exit in time. Returns an error or None."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=SERVER_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return f"the server did not exit within {SERVER_STOP_SECONDS} s of SIGTERM (killed)"
    return None if proc.returncode == 0 else f"the server exited with status {proc.returncode}"


def process_cpu_seconds(pid):
    """User + system CPU time a live process and its live children (nginx's workers) have used
    (/proc/PID/stat), or None."""
    def stat_fields(path):
        with open(path) as stat:
            return stat.read().rsplit(")", 1)[1].split()

    try:
        fields = stat_fields(f"/proc/{pid}/stat")
    except (OSError, IndexError):
        return None
    ticks = int(fields[11]) + int(fields[12])
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != pid:
            try:
                child = stat_fields(f"/proc/{entry}/stat")
            except (OSError, IndexError):
                continue
            if child[1] == str(pid):  # field 4, the parent's pid
                ticks += int(child[11]) + int(child[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def run_with_server(server_command, client_command, cpus, timeout):
    """Runs client_command(port) against server_command(port); returns (client's stdout, error,
    the server's CPU seconds up to the client's end)."""
    port = free_port()
    server_cpu, client_cpu = cpus or (None, None)
    with tempfile.TemporaryFile(mode="w+") as log:
        proc, error = start_server(server_command(port), port, server_cpu, log)
        stdout = ""
        cpu_seconds = None
        try:
            if error is None:
                client = subprocess.run(pinned(client_cpu, client_command(port)), capture_output=True,
                                        text=True, timeout=timeout)
                stdout = client.stdout
                cpu_seconds = process_cpu_seconds(proc.pid)
                if client.returncode != 0:
                    tail = client.stderr.strip().splitlines()[-2:]
                    error = f"client exit status {client.returncode}" + (f" ({' | '.join(tail)})" if tail else "")
        except subprocess.TimeoutExpired:
            error = f"the client timed out after {timeout} s"
        finally:  # also when interrupted: no server is left running
            stop_error = stop_server(proc)
        error = "; ".join(e for e in (error, stop_error) if e) or None
        if error:
            log.seek(0)
            tail = log.read().strip().splitlines()[-2:]
            if tail:
                error += f" (server: {' | '.join(tail)})"
        return stdout, error, cpu_seconds


def make_certificate(directory):
    """A self-signed P-256 certificate for localhost and 127.0.0.1 in `directory`: (cert, key)."""
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


def rotated(items, round_no):
    """The items in an order that starts one later each round, so no server always goes first."""
    shift = round_no % len(items) if items else 0
    return items[shift:] + items[:shift]


def tls_echo_servers(args, cert, key):
    """The TLS echo servers: ours in its three forms with --tls, and Boost.Asio's ssl::stream
    echo as "asio"; like echo_servers()."""
    ours = os.path.join(args.build, "echo_server")
    asio = os.path.join(args.build, "peers", "bench_echo_asio_tls")
    servers, notes = {}, []
    for name, flags in (("ours", []), ("ours-protocol", ["--protocol"]), ("ours-buffered", ["--buffered"])):
        if os.path.exists(ours):
            servers[name] = lambda port, flags=flags: [ours, str(port), *flags, "--tls", cert, key]
    if not os.path.exists(ours):
        notes.append(f"ours: not built (no program at {ours})")
    if os.path.exists(asio):
        servers["asio"] = lambda port: [asio, str(port), cert, key]
    else:
        notes.append(f"asio: not installed (no program at {asio})")
    return servers, notes


def backend(name):
    """The command prefix that puts our server `name` on its backend: "-uring" rows run with
    ASYNCIO_SELECTOR=io_uring (through env(1), which execs: the pid stays the server's)."""
    return ["env", "ASYNCIO_SELECTOR=io_uring"] if name.startswith("ours") and name.endswith("-uring") else []


def echo_servers(args):
    """({name: command(port)} of the echo servers that are there, [notes on those that are not])."""
    peers = os.path.join(args.build, "peers")
    script = os.path.join(HERE, "peers", "echo_asyncio.py")
    programs = [("ours", os.path.join(args.build, "echo_server")),
                ("ours-protocol", os.path.join(args.build, "echo_server"), "--protocol"),
                ("ours-buffered", os.path.join(args.build, "echo_server"), "--buffered"),
                ("ours-uring", os.path.join(args.build, "echo_server")),
                ("ours-buffered-uring", os.path.join(args.build, "echo_server"), "--buffered"),
                ("floor", os.path.join(peers, "bench_echo_floor")),
                ("uring-floor", os.path.join(peers, "bench_echo_uring_floor")),
                ("asio", os.path.join(peers, "bench_echo_asio")),
                ("asio-uring", os.path.join(peers, "bench_echo_asio_uring")),
                ("libuv", os.path.join(peers, "bench_echo_libuv"))]
    servers, notes = {}, []
    for name, path, *flags in programs:
        if os.path.exists(path):
            servers[name] = lambda port, name=name, path=path, flags=flags: [*backend(name), path, str(port), *flags]
        else:
            notes.append((name, f"{name}: not installed (no program at {path})"))
    has_uvloop = subprocess.run([args.python, "-c", "import uvloop"], capture_output=True).returncode == 0
    if has_uvloop:
        servers["uvloop"] = lambda port: [args.python, script, str(port), "--uvloop"]
        servers["uvloop-protocol"] = lambda port: [args.python, script, str(port), "--uvloop", "--protocol"]
    else:
        notes.append(("uvloop", f"uvloop: not installed (no uvloop module for {args.python}; Debian: python3-uvloop)"))
    servers["asyncio"] = lambda port: [args.python, script, str(port)]

    def wanted(name):  # --servers: only those named
        return not args.servers or name in args.servers

    return ({name: command for name, command in servers.items() if wanted(name)},
            [note for name, note in notes if wanted(name)])


def compare_tls_echo(args):
    """The tls_echo suite: the echo workloads over TLS; returns what compare_echo() does."""
    directory = tempfile.mkdtemp(prefix="asyncio-tls-echo-")
    try:
        cert, key = make_certificate(directory)
        return compare_echo(args, TLS_ECHO_WORKLOADS, tls=(cert, key))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def compare_echo(args, workloads=ECHO_WORKLOADS, tls=None):
    """The echo suite, or other echo `workloads` (name, message size, connections), over TLS
    with tls=(cert, key); returns (summary, samples, failures, notes, commands) like compare()."""
    suite = "tls_echo" if tls else "echo"
    servers, notes = tls_echo_servers(args, *tls) if tls else echo_servers(args)
    client = os.path.join(args.build, "echo_client")
    cpus = pick_cpus(notes)
    seconds, warmup = ECHO_SECONDS[args.quick]
    samples = {w[0]: {name: {m: [] for m in ECHO_METRICS} for name in servers} for w in workloads}
    failures = []
    if not os.path.exists(client):
        notes.append(f"no load client at {client}: nothing measured")
        servers = {}
    for note in notes:
        print(note, file=sys.stderr)

    def client_command(size, connections):
        return lambda port: [client, "--port", str(port), "--connections", str(connections), "--size", str(size),
                             "--seconds", str(seconds), "--warmup", str(warmup)] + (["--tls"] if tls else [])

    for round_no in range(1, args.rounds + 1):
        print(f"{suite}: round {round_no}/{args.rounds}", file=sys.stderr)
        for workload, size, connections in workloads:
            for name in rotated(list(servers), round_no):
                started = time.monotonic()
                stdout, error, cpu_seconds = run_with_server(servers[name], client_command(size, connections),
                                                             cpus, timeout=seconds + warmup + 60)
                values = parse_output(stdout, ECHO_METRICS + ["round_trips_total"])
                total = values.pop("round_trips_total", None)
                if cpu_seconds is not None and total:
                    values["server_cpu_ns_per_rt"] = cpu_seconds * 1e9 / total
                for metric, value in values.items():
                    samples[workload][name][metric].append(value)
                if error is None and "round_trips_per_s" not in values:
                    error = "no round_trips_per_s from the client"
                print(f"  {workload} {name}: {time.monotonic() - started:.1f} s", file=sys.stderr)
                if error:
                    failures.append({"suite": suite, "round": round_no, "impl": f"{name} ({workload})",
                                     "error": error})
                    print(f"  {name} FAILED: {error}", file=sys.stderr)

    summary = {w: {name: {m: summarize(samples[w][name][m]) for m in ECHO_METRICS} for name in servers}
               for w in samples}
    mode = "quick" if args.quick else "full"
    print(f"{suite} workloads, {args.rounds} round(s) ({mode}, {seconds:g} s measured after {warmup:g} s warm-up); "
          f"round trips/s (higher is better): median (min-max); p99 latency: median; "
          f"vs = this server's round trips / the peer's")
    print_table(*echo_table(summary), left_columns=2)
    for note in notes:
        print(f"note: {note}")
    commands = {name: pinned((cpus or (None,))[0], command("PORT")) for name, command in servers.items()}
    commands["client"] = pinned(cpus[1] if cpus else None, client_command(64, 50)("PORT"))
    return summary, samples, failures, notes, commands


def stats_cell(stats):
    return f"{fmt(stats['median'])} ({fmt(stats['min'])}-{fmt(stats['max'])})" if stats else "-"


def echo_table(summary):
    """(header, rows) of the echo suite's table: per workload, a row per server."""
    def median(workload, name, metric):
        stats = summary[workload].get(name, {}).get(metric)
        return stats["median"] if stats else None

    def ratio(workload, name, peer):
        this, other = median(workload, name, "round_trips_per_s"), median(workload, peer, "round_trips_per_s")
        return this / other if this and other else None

    def cpu_ratio(workload, name):
        this, floor = median(workload, name, "server_cpu_ns_per_rt"), median(workload, "floor", "server_cpu_ns_per_rt")
        return this / floor if this and floor else None

    header = ["workload", "server", "round trips/s", "p99 us", "server CPU ns/rt", "vs asio", "vs floor",
              "CPU vs floor", "target", "met"]
    rows = []
    for workload in summary:
        for i, name in enumerate(summary.get(workload, {})):
            ratios = [ratio(workload, name, peer) for peer in ("asio", "floor")]
            targets = ECHO_TARGETS.get((workload, name), [])
            target = ", ".join(f"CPU <= {m}x floor" if peer == "cpu" else f">= {m}x {peer}" for peer, m in targets) or "-"
            met = "-"
            checks = [(cpu_ratio(workload, name), m, True) if peer == "cpu" else (ratio(workload, name, peer), m, False)
                      for peer, m in targets]
            if checks and all(c is not None for c, _, _ in checks):
                met = "yes" if all((c <= m) if lower else (c >= m) for c, m, lower in checks) else "NO"
            cpu = cpu_ratio(workload, name)
            rows.append([workload if i == 0 else "", name, stats_cell(summary[workload][name]["round_trips_per_s"]),
                         fmt(median(workload, name, "latency_p99_us")),
                         fmt(median(workload, name, "server_cpu_ns_per_rt")),
                         *("-" if r is None else f"{r:.2f}x" for r in ratios),
                         "-" if cpu is None else f"{cpu:.2f}x", target, met])
    return header, rows


def http_table(summary):
    """(header, rows) of the http suite's table: a row per server."""
    median = {name: (summary[name]["requests_per_s"] or {}).get("median") for name in summary}
    rows = []
    for name in summary:
        p99 = summary[name]["latency_p99_us"]
        cpu = (summary[name].get("server_cpu_ns_per_request") or {}).get("median")
        vs = median[name] / median["nginx"] if median.get(name) and median.get("nginx") else None
        rows.append([name, stats_cell(summary[name]["requests_per_s"]), fmt(p99["median"] if p99 else None),
                     fmt(cpu), "-" if vs is None else f"{vs:.2f}x"])
    return ["server", "requests/s", "p99 us", "server CPU ns/request", "vs nginx"], rows


def nginx_command(nginx, directory, conf="nginx.conf", workers=1):
    """command(port) for nginx serving `directory` with bench/peers/`conf` (nginx.conf: the file
    hello.txt, written here); with workers > 1, that many worker processes, each listening on
    the port with SO_REUSEPORT."""
    with open(os.path.join(HERE, "peers", conf)) as template:
        config = template.read()
    if workers > 1:
        config = config.replace("worker_processes 1;", f"worker_processes {workers};")
        config = config.replace("listen 127.0.0.1:@PORT@;", "listen 127.0.0.1:@PORT@ reuseport;")
    if conf in ("nginx.conf", "nginx_https.conf"):
        with open(os.path.join(directory, "hello.txt"), "w") as hello:
            hello.write("Hello, world!\n")
    os.chmod(directory, 0o755)  # nginx's worker may run as another user

    def command(port):
        path = os.path.join(directory, "nginx.conf")
        with open(path, "w") as out:
            out.write(config.replace("@DIR@", directory).replace("@PORT@", str(port)))
        return [nginx, "-p", directory, "-e", os.path.join(directory, "error.log"), "-c", path]
    return command


def parse_wrk(stdout):
    """({"requests_per_s": ..., "latency_p50_us": ..., ... "latency_p99_us": ...}, error or None) from
    wrk --latency's output."""
    values, errors = {}, []
    units = {"us": 1.0, "ms": 1e3, "s": 1e6}
    for line in stdout.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            values["requests_per_s"] = float(parts[1])
        elif len(parts) == 2 and parts[0] in ("50%", "75%", "90%", "99%"):
            number = parts[1].rstrip("mus")
            values[f"latency_p{parts[0][:-1]}_us"] = float(number) * units[parts[1][len(number):]]
        elif line.strip().startswith(("Socket errors:", "Non-2xx")):
            errors.append(line.strip())
    return values, "; ".join(errors) or None


def wrk_requests_total(stdout):
    """How many requests wrk's run completed ("N requests in Ts, ..."), or None."""
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1:3] == ["requests", "in"]:
            return float(parts[0])
    return None


def compare_http(args):
    """The http suite; returns (summary, samples, failures, notes, commands) like compare()."""
    notes = []
    wrk, nginx = find_tool("wrk"), find_tool("nginx")
    ours = os.path.normpath(os.path.join(args.build, "..", "examples", "example_http_hello"))
    servers, urls = {}, {}
    if os.path.exists(ours):
        servers["ours"], urls["ours"] = (lambda port: [ours, str(port)]), "/"
        servers["ours-uring"], urls["ours-uring"] = (lambda port: [*backend("ours-uring"), ours, str(port)]), "/"
    else:
        notes.append(f"ours: not built (no program at {ours}; the examples must be on)")
    directory = tempfile.mkdtemp(prefix="asyncio-nginx-")
    if nginx:
        servers["nginx"], urls["nginx"] = nginx_command(nginx, directory), "/hello.txt"
    else:
        notes.append("nginx: not installed (Debian: nginx)")
    if not wrk:
        notes.append("wrk: not installed (Debian: wrk): nothing measured")
        servers = {}
    cpus = pick_cpus(notes)
    seconds = HTTP_SECONDS[args.quick]
    for note in notes:
        print(note, file=sys.stderr)

    def client_command(name):
        return lambda port: [wrk, "-t1", "-c50", f"-d{seconds}s", "--latency", f"http://127.0.0.1:{port}{urls[name]}"]

    metrics = ["requests_per_s", "latency_p50_us", "latency_p75_us", "latency_p90_us", "latency_p99_us",
               "server_cpu_ns_per_request"]
    samples = {name: {m: [] for m in metrics} for name in servers}
    failures = []
    try:
        for round_no in range(1, args.rounds + 1):
            print(f"http: round {round_no}/{args.rounds}", file=sys.stderr)
            for name in rotated(list(servers), round_no):
                started = time.monotonic()
                stdout, error, cpu_seconds = run_with_server(servers[name], client_command(name), cpus,
                                                             timeout=seconds + 60)
                values, wrk_error = parse_wrk(stdout)
                total = wrk_requests_total(stdout)
                if cpu_seconds is not None and total:
                    values["server_cpu_ns_per_request"] = cpu_seconds * 1e9 / total
                for metric, value in values.items():
                    samples[name][metric].append(value)
                error = "; ".join(e for e in (error, wrk_error) if e) or None
                if error is None and "requests_per_s" not in values:
                    error = "no Requests/sec from wrk"
                print(f"  {name}: {time.monotonic() - started:.1f} s", file=sys.stderr)
                if error:
                    failures.append({"suite": "http", "round": round_no, "impl": name, "error": error})
                    print(f"  {name} FAILED: {error}", file=sys.stderr)
    finally:
        shutil.rmtree(directory, ignore_errors=True)

    summary = {name: {m: summarize(samples[name][m]) for m in metrics} for name in servers}
    mode = "quick" if args.quick else "full"
    print(f"http: wrk -t1 -c50 -d{seconds}s, {args.rounds} round(s) ({mode}); requests/s (higher is better): "
          f"median (min-max); p99 latency: median; vs nginx = this server's requests/s / nginx's")
    print_table(*http_table(summary), left_columns=1)
    for note in notes:
        print(f"note: {note}")
    commands = {name: pinned((cpus or (None,))[0], command("PORT")) for name, command in servers.items()
                if name != "nginx"}
    if servers:
        commands["client"] = pinned(cpus[1] if cpus else None, client_command(next(iter(servers)))("PORT"))
    return summary, samples, failures, notes, commands


# The https workloads: name, wrk's extra arguments. "handshake per request" closes each
# connection after its answer, so every request pays a new connection and a full handshake.
HTTPS_WORKLOADS = [("keep-alive", []), ("handshake per request", ["-H", "Connection: close"])]
HTTP_METRICS = ["requests_per_s", "latency_p50_us", "latency_p75_us", "latency_p90_us", "latency_p99_us"]


def compare_https(args):
    """The https suite: wrk over TLS against examples/https_hello and nginx with TLS, both with
    one certificate made for the run; returns (summary, samples, failures, notes, commands)."""
    notes = []
    wrk, nginx = find_tool("wrk"), find_tool("nginx")
    ours = os.path.normpath(os.path.join(args.build, "..", "examples", "example_https_hello"))
    directory = tempfile.mkdtemp(prefix="asyncio-https-")
    cert, key = make_certificate(directory)
    servers, urls = {}, {}
    if os.path.exists(ours):
        servers["ours"], urls["ours"] = (lambda port: [ours, cert, key, str(port)]), "/"
    else:
        notes.append(f"ours: not built (no program at {ours}; the examples must be on)")
    if nginx:
        servers["nginx"], urls["nginx"] = nginx_command(nginx, directory, "nginx_https.conf"), "/hello.txt"
    else:
        notes.append("nginx: not installed (Debian: nginx)")
    if not wrk:
        notes.append("wrk: not installed (Debian: wrk): nothing measured")
        servers = {}
    cpus = pick_cpus(notes)
    seconds = HTTP_SECONDS[args.quick]
    for note in notes:
        print(note, file=sys.stderr)

    def client_command(name, extra):
        return lambda port: [wrk, "-t1", "-c50", f"-d{seconds}s", "--latency", *extra,
                             f"https://127.0.0.1:{port}{urls[name]}"]

    samples = {w: {name: {m: [] for m in HTTP_METRICS} for name in servers} for w, _ in HTTPS_WORKLOADS}
    failures = []
    try:
        for round_no in range(1, args.rounds + 1):
            print(f"https: round {round_no}/{args.rounds}", file=sys.stderr)
            for workload, extra in HTTPS_WORKLOADS:
                for name in rotated(list(servers), round_no):
                    stdout, error, _cpu = run_with_server(servers[name], client_command(name, extra), cpus,
                                                          timeout=seconds + 60)
                    values, wrk_error = parse_wrk(stdout)
                    for metric, value in values.items():
                        samples[workload][name][metric].append(value)
                    error = "; ".join(e for e in (error, wrk_error) if e) or None
                    if error is None and "requests_per_s" not in values:
                        error = "no Requests/sec from wrk"
                    if error:
                        failures.append({"suite": "https", "round": round_no, "impl": f"{name} ({workload})",
                                         "error": error})
                        print(f"  {name} ({workload}) FAILED: {error}", file=sys.stderr)
    finally:
        shutil.rmtree(directory, ignore_errors=True)

    summary = {w: {name: {m: summarize(samples[w][name][m]) for m in HTTP_METRICS} for name in servers}
               for w in samples}
    mode = "quick" if args.quick else "full"
    print(f"https: wrk -t1 -c50 -d{seconds}s over TLS, {args.rounds} round(s) ({mode}); requests/s (higher is "
          f"better): median (min-max); p99 latency: median; vs nginx = this server's requests/s / nginx's")
    print_table(*https_table(summary), left_columns=2)
    for note in notes:
        print(f"note: {note}")
    commands = {name: pinned((cpus or (None,))[0], command("PORT")) for name, command in servers.items()
                if name != "nginx"}
    if servers:
        for workload, extra in HTTPS_WORKLOADS:
            commands[f"client ({workload})"] = pinned(cpus[1] if cpus else None,
                                                      client_command(next(iter(servers)), extra)("PORT"))
    return summary, samples, failures, notes, commands


def https_table(summary):
    """(header, rows) of the https suite's table: per workload, a row per server."""
    rows = []
    for workload, servers in summary.items():
        median = {name: (servers[name]["requests_per_s"] or {}).get("median") for name in servers}
        for i, name in enumerate(servers):
            p99 = servers[name]["latency_p99_us"]
            vs = median[name] / median["nginx"] if median.get(name) and median.get("nginx") else None
            rows.append([workload if i == 0 else "", name, stats_cell(servers[name]["requests_per_s"]),
                         fmt(p99["median"] if p99 else None), "-" if vs is None else f"{vs:.2f}x"])
    return ["workload", "server", "requests/s", "p99 us", "vs nginx"], rows


# The sharding suite's workloads: name, the load client ("wrk" or "echo"), the servers' names.
SHARDING_WORKLOADS = [("HTTP hello, wrk -c50", "wrk", ["ours 1 shard", "ours 2 shards", "nginx 1 worker",
                                                     "nginx 2 workers"]),
                      ("echo 64 B x 50 (streams)", "echo", ["ours 1 shard", "ours 2 shards"])]
SHARDING_METRICS = ["ops_per_s", "server_cpu_ns_per_op"]


def compare_sharding(args):
    """The sharding suite: examples/http_hello and bench/echo_server with --shards 1 and 2 (every
    shard listening with SO_REUSEPORT), and nginx with 1 and 2 workers; the server's CPU time per
    request or round trip. All of a server's threads or workers are pinned to one CPU, the load
    client to the other: what is compared is the cost per operation, which stays flat when the
    loops do not contend. Returns (summary, samples, failures, notes, commands) like compare()."""
    notes = []
    wrk, nginx = find_tool("wrk"), find_tool("nginx")
    http_hello = os.path.normpath(os.path.join(args.build, "..", "examples", "example_http_hello"))
    echo_server, echo_client = (os.path.join(args.build, p) for p in ("echo_server", "echo_client"))
    directory = tempfile.mkdtemp(prefix="asyncio-nginx-")
    seconds = HTTP_SECONDS[args.quick]
    echo_seconds, warmup = ECHO_SECONDS[args.quick]
    runs = {}  # (workload, server): (server command(port), client command(port), metric parser)
    for shards in (1, 2):
        name = f"ours {shards} shard" + ("s" if shards > 1 else "")
        if wrk and os.path.exists(http_hello):
            runs[(SHARDING_WORKLOADS[0][0], name)] = (
                lambda port, n=shards: [http_hello, str(port), "--shards", str(n)],
                lambda port: [wrk, "-t1", "-c50", f"-d{seconds}s", f"http://127.0.0.1:{port}/"], "wrk")
        if os.path.exists(echo_server) and os.path.exists(echo_client):
            runs[(SHARDING_WORKLOADS[1][0], name)] = (
                lambda port, n=shards: [echo_server, str(port), "--shards", str(n)],
                lambda port: [echo_client, "--port", str(port), "--connections", "50", "--size", "64",
                              "--seconds", str(echo_seconds), "--warmup", str(warmup)], "echo")
    if wrk and nginx:
        os.chmod(directory, 0o755)  # nginx's workers may run as another user
        for workers in (1, 2):
            nginx_dir = os.path.join(directory, f"workers-{workers}")
            os.makedirs(nginx_dir)
            runs[(SHARDING_WORKLOADS[0][0], f"nginx {workers} worker" + ("s" if workers > 1 else ""))] = (
                nginx_command(nginx, nginx_dir, workers=workers),
                lambda port: [wrk, "-t1", "-c50", f"-d{seconds}s", f"http://127.0.0.1:{port}/hello.txt"], "wrk")
    if not runs:
        notes.append("nothing to run: wrk, the examples or the echo programs are missing")
    cpus = pick_cpus(notes)
    for note in notes:
        print(note, file=sys.stderr)
    samples = {w: {name: {m: [] for m in SHARDING_METRICS} for (wl, name) in runs if wl == w}
               for w, _client, _names in SHARDING_WORKLOADS}
    failures = []
    try:
        for round_no in range(1, args.rounds + 1):
            print(f"sharding: round {round_no}/{args.rounds}", file=sys.stderr)
            for key in rotated(list(runs), round_no):
                workload, name = key
                server, client, kind = runs[key]
                stdout, error, cpu_seconds = run_with_server(server, client, cpus, timeout=seconds + 60)
                if kind == "wrk":
                    values, wrk_error = parse_wrk(stdout)
                    error = "; ".join(e for e in (error, wrk_error) if e) or None
                    rate, total = values.get("requests_per_s"), wrk_requests_total(stdout)
                else:
                    values = parse_output(stdout, ["round_trips_per_s", "round_trips_total"])
                    rate, total = values.get("round_trips_per_s"), values.get("round_trips_total")
                if error is None and not (rate and total):
                    error = "no rate from the load client"
                if rate:
                    samples[workload][name]["ops_per_s"].append(rate)
                if cpu_seconds is not None and total:
                    samples[workload][name]["server_cpu_ns_per_op"].append(cpu_seconds * 1e9 / total)
                if error:
                    failures.append({"suite": "sharding", "round": round_no, "impl": f"{name} ({workload})",
                                     "error": error})
                    print(f"  {name} FAILED: {error}", file=sys.stderr)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    summary = {w: {name: {m: summarize(samples[w][name][m]) for m in SHARDING_METRICS} for name in samples[w]}
               for w in samples}
    mode = "quick" if args.quick else "full"
    print(f"sharding: {args.rounds} round(s) ({mode}); each server's threads or workers pinned to one CPU, "
          f"the client to the other; operations/s and server CPU ns per operation: median (min-max); "
          f"2 vs 1 = CPU per operation with 2 shards (workers) / with 1")
    print_table(*sharding_table(summary), left_columns=2)
    for note in notes:
        print(f"note: {note}")
    commands = {f"{name} ({workload})": pinned((cpus or (None,))[0], server("PORT"))
                for (workload, name), (server, _client, _kind) in runs.items() if not name.startswith("nginx")}
    return summary, samples, failures, notes, commands


def sharding_table(summary):
    """(header, rows) of the sharding suite's table: per workload, a row per server."""
    rows = []
    for workload, servers in summary.items():
        for name, metrics in servers.items():
            cpu = (metrics["server_cpu_ns_per_op"] or {}).get("median")
            one = name.replace("2 shards", "1 shard").replace("2 workers", "1 worker")
            base = (servers.get(one, {}).get("server_cpu_ns_per_op") or {}).get("median")
            ratio = f"{cpu / base:.2f}x" if cpu and base and one != name else "-"
            rows.append([workload, name, stats_cell(metrics["ops_per_s"]),
                         stats_cell(metrics["server_cpu_ns_per_op"]), ratio])
    return ["workload", "server", "operations/s", "server CPU ns/op", "2 vs 1"], rows


# The server suites: how to run each, and the (header, rows) of its table from its summary.
# The sendfile workload: a file of this many bytes (full, --quick) downloaded once per run.
SENDFILE_BYTES = {False: 1 << 30, True: 128 << 20}
SENDFILE_METRICS = ["mb_per_s", "server_cpu_ms_per_gb"]


def compare_sendfile(args):
    """The sendfile suite: one download of a large file over loopback with curl, from
    examples/sendfile_server (loop.sendfile) and from nginx (sendfile on); returns (summary,
    samples, failures, notes, commands) like compare()."""
    notes = []
    curl, nginx = find_tool("curl"), find_tool("nginx")
    ours = os.path.normpath(os.path.join(args.build, "..", "examples", "example_sendfile_server"))
    directory = tempfile.mkdtemp(prefix="asyncio-sendfile-")
    size = SENDFILE_BYTES[args.quick]
    big = os.path.join(directory, "big.bin")
    with open(big, "wb") as out:  # pseudo-random bytes, the same every run
        block = bytes((i * 7 + i // 251) & 0xFF for i in range(1 << 20))
        for _ in range(size >> 20):
            out.write(block)
    servers, urls = {}, {}
    if os.path.exists(ours):
        servers["ours"], urls["ours"] = (lambda port: [ours, big, str(port)]), "/big.bin"
    else:
        notes.append(f"ours: not built (no program at {ours}; the examples must be on)")
    if nginx:
        servers["nginx"], urls["nginx"] = nginx_command(nginx, directory, "nginx_sendfile.conf"), "/big.bin"
    else:
        notes.append("nginx: not installed (Debian: nginx)")
    if not curl:
        notes.append("curl: not installed: nothing measured")
        servers = {}
    cpus = pick_cpus(notes)
    for note in notes:
        print(note, file=sys.stderr)
    commands = {name: pinned((cpus or (None,))[0], command("PORT")) for name, command in servers.items()}

    def client_command(name):
        return lambda port: [curl, "--noproxy", "*", "-sf", "-o", "/dev/null", "-w",
                             "size %{size_download}\nseconds %{time_total}\n", f"http://127.0.0.1:{port}{urls[name]}"]

    samples = {name: {m: [] for m in SENDFILE_METRICS} for name in servers}
    failures = []
    try:
        for round_no in range(1, args.rounds + 1):
            print(f"sendfile: round {round_no}/{args.rounds}", file=sys.stderr)
            for name in rotated(list(servers), round_no):
                stdout, error, cpu_seconds = run_with_server(servers[name], client_command(name), cpus, timeout=120)
                values = parse_output(stdout, ["size", "seconds"])
                if error is None and values.get("size") != size:
                    error = f"downloaded {values.get('size')} bytes of {size}"
                if error is None and values.get("seconds"):
                    samples[name]["mb_per_s"].append(size / values["seconds"] / 1e6)
                    if cpu_seconds is not None:
                        samples[name]["server_cpu_ms_per_gb"].append(cpu_seconds * 1e3 / (size / 1e9))
                if error:
                    failures.append({"suite": "sendfile", "round": round_no, "impl": name, "error": error})
                    print(f"  {name} FAILED: {error}", file=sys.stderr)
    finally:
        shutil.rmtree(directory, ignore_errors=True)

    summary = {name: {m: summarize(samples[name][m]) for m in SENDFILE_METRICS} for name in servers}
    print(f"sendfile: one {size >> 20} MiB download per run with curl over loopback, {args.rounds} round(s); "
          f"MB/s (higher is better): median (min-max); server CPU ms per GB: median")
    print_table(*sendfile_table(summary), left_columns=1)
    for note in notes:
        print(f"note: {note}")
    if servers:
        commands["client"] = pinned(cpus[1] if cpus else None, client_command(next(iter(servers)))("PORT"))
    return summary, samples, failures, notes, commands


def sendfile_table(summary):
    """(header, rows) of the sendfile suite's table."""
    rows = []
    nginx = (summary.get("nginx", {}).get("mb_per_s") or {}).get("median")
    for name, stats in summary.items():
        mb = (stats.get("mb_per_s") or {}).get("median")
        rows.append([name, stats_cell(stats.get("mb_per_s")), fmt((stats.get("server_cpu_ms_per_gb") or {}).get("median")),
                     f"{mb / nginx:.2f}x" if mb and nginx and name != "nginx" else "-"])
    return ["server", "MB/s", "server CPU ms/GB", "vs nginx"], rows


# --- System calls per round trip (strace -c) -----------------------------------------------------
# The echo servers with strace -c -f attached for the client's whole run (no warm-up): system
# calls counted per round trip, and which calls. strace slows every call down a great deal, so the
# round trips are far fewer than in the echo suite and each poll finds more ready: the counts are
# what the servers do under that load, for comparing the servers with one another.

SYSCALL_WORKLOADS = [("64 B x 50", 64, 50), ("64 B x 1000", 64, 1000)]
SYSCALL_SERVERS = ["ours", "ours-uring", "floor", "uring-floor", "asio", "asio-uring"]


def parse_strace_summary(text):
    """{syscall: calls} from strace -c's table."""
    calls = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) in (5, 6) and parts[0][0].isdigit() and parts[-1] != "total":
            calls[parts[-1]] = int(parts[3])
    return calls


def compare_syscalls(args):
    """The syscalls suite; returns (summary, samples, failures, notes, commands) like compare()."""
    servers, notes = echo_servers(args)
    servers = {name: command for name, command in servers.items() if name in SYSCALL_SERVERS}
    strace = find_tool("strace")
    client = os.path.join(args.build, "echo_client")
    if not strace:
        notes.append("strace: not installed (Debian: strace): nothing measured")
        servers = {}
    cpus = pick_cpus(notes)
    server_cpu, client_cpu = cpus or (None, None)
    seconds = ECHO_SECONDS[args.quick][0]
    samples = {w[0]: {name: {"syscalls_per_rt": []} for name in servers} for w in SYSCALL_WORKLOADS}
    top = {w[0]: {} for w in SYSCALL_WORKLOADS}
    failures = []
    for workload, size, connections in SYSCALL_WORKLOADS:
        for name in servers:
            port = free_port()
            with tempfile.TemporaryFile(mode="w+") as log, tempfile.NamedTemporaryFile(mode="r") as counts:
                proc, error = start_server(servers[name](port), port, server_cpu, log)
                tracer = None
                try:
                    if error is None:
                        tracer = subprocess.Popen([strace, "-c", "-f", "-q", "-o", counts.name, "-p", str(proc.pid)],
                                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                        time.sleep(0.5)  # strace attaches (to every thread of the server)
                        run = subprocess.run(pinned(client_cpu, [client, "--port", str(port), "--connections",
                                                                 str(connections), "--size", str(size), "--seconds",
                                                                 str(seconds), "--warmup", "0"]),
                                             capture_output=True, text=True, timeout=seconds + 120)
                        tracer.send_signal(signal.SIGINT)
                        tracer.wait(timeout=30)
                        total = parse_output(run.stdout, ["round_trips_total"]).get("round_trips_total")
                        calls = parse_strace_summary(counts.read())
                        if total and calls:
                            samples[workload][name]["syscalls_per_rt"].append(sum(calls.values()) / total)
                            top[workload][name] = sorted(calls.items(), key=lambda c: -c[1])[:3]
                            top[workload][name] = [(call, n / total) for call, n in top[workload][name]]
                        else:
                            error = "no round trips or no strace counts"
                except subprocess.TimeoutExpired:
                    error = "timed out"
                finally:
                    if tracer and tracer.poll() is None:
                        tracer.kill()
                        tracer.wait()
                    stop_error = stop_server(proc)
                error = "; ".join(e for e in (error, stop_error) if e) or None
                if error:
                    failures.append({"suite": "syscalls", "round": 1, "impl": f"{name} ({workload})", "error": error})
                    print(f"  {name} FAILED: {error}", file=sys.stderr)
    summary = {w: {name: {"syscalls_per_rt": summarize(samples[w][name]["syscalls_per_rt"]),
                          "top": top[w].get(name, [])} for name in servers} for w in samples}
    print(f"syscalls: strace -c -f over a {seconds:g} s echo run; system calls per round trip (lower is better)")
    print_table(*syscalls_table(summary), left_columns=2)
    for note in notes:
        print(f"note: {note}")
    commands = {name: [strace, "-c", "-f", "-p", "PID"] for name in servers}
    return summary, samples, failures, notes, commands


def syscalls_table(summary):
    """(header, rows): per workload, a row per server with its calls per round trip."""
    rows = []
    for workload, by_server in summary.items():
        for name, result in by_server.items():
            per_rt = (result["syscalls_per_rt"] or {}).get("median")
            calls = ", ".join(f"{call} {n:.2f}" for call, n in result["top"]) or "-"
            rows.append([workload, name, fmt(per_rt), calls])
    return ["workload", "server", "syscalls per round trip", "most made (per round trip)"], rows


# --- The Redis protocol: redis-benchmark against examples/resp_server and redis-server -----------
# One server per (server, pipeline depth) run, pinned to one CPU; redis-benchmark, pinned to the
# other, runs each test in turn against it (one invocation per test, so that the server's CPU
# time is read before and after each; LPOP pops what LPUSH pushed, as in one invocation of all).

RESP_TESTS = ["SET", "GET", "INCR", "LPUSH", "LPOP"]
RESP_PIPELINES = [1, 16]
# Requests per test, by pipeline depth: full mode, --quick.
RESP_REQUESTS = {False: {1: 50_000, 16: 500_000}, True: {1: 2_000, 16: 20_000}}
RESP_METRICS = ["requests_per_s", "server_cpu_ns_per_request"]
# The goal for ours (epoll), on every test: requests/s >= 1.0x redis-server's, server CPU
# per request <= 1.0x redis-server's.
RESP_TARGETS = {"ours": (1.0, 1.0)}


def parse_redis_benchmark_csv(stdout):
    """{test: requests/s} from redis-benchmark --csv's rows ("SET","32883.92",...)."""
    rates = {}
    for line in stdout.splitlines():
        cells = [cell.strip('"') for cell in line.split(",")]
        if len(cells) >= 2 and cells[0] != "test":
            try:
                rates[cells[0]] = float(cells[1])
            except ValueError:
                pass
    return rates


def run_redis_benchmark(server_command, benchmark, pipeline, requests, cpus):
    """Starts one server and runs redis-benchmark once per test of RESP_TESTS against it;
    returns ({test: (requests/s, server CPU ns per request or None)}, error or None)."""
    port = free_port()
    server_cpu, client_cpu = cpus or (None, None)
    results, error = {}, None
    with tempfile.TemporaryFile(mode="w+") as log:
        proc, error = start_server(server_command(port), port, server_cpu, log)
        try:
            for test in RESP_TESTS if error is None else []:
                before = process_cpu_seconds(proc.pid)
                client = subprocess.run(pinned(client_cpu, [benchmark, "-h", "127.0.0.1", "-p", str(port), "-t",
                                                            test.lower(), "-c", "50", "-n", str(requests), "-P",
                                                            str(pipeline), "-q", "--csv"]),
                                        capture_output=True, text=True, timeout=120)
                after = process_cpu_seconds(proc.pid)
                rate = parse_redis_benchmark_csv(client.stdout).get(test)
                if client.returncode != 0 or rate is None:
                    tail = (client.stderr or client.stdout).strip().splitlines()[-2:]
                    error = f"redis-benchmark -t {test.lower()}: exit status {client.returncode}, no rate" + \
                            (f" ({' | '.join(tail)})" if tail else "")
                    break
                cpu = (after - before) * 1e9 / requests if before is not None and after is not None else None
                results[test] = (rate, cpu)
        except subprocess.TimeoutExpired:
            error = "redis-benchmark timed out after 120 s"
        finally:  # also when interrupted: no server is left running
            stop_error = stop_server(proc)
        error = "; ".join(e for e in (error, stop_error) if e) or None
        if error:
            log.seek(0)
            tail = log.read().strip().splitlines()[-2:]
            if tail:
                error += f" (server: {' | '.join(tail)})"
    return results, error


def compare_resp(args):
    """The resp suite: redis-benchmark against examples/resp_server (epoll, and io_uring as
    ours-uring) and redis-server; returns (summary, samples, failures, notes, commands)."""
    notes = []
    benchmark, redis = find_tool("redis-benchmark"), find_tool("redis-server")
    ours = os.path.normpath(os.path.join(args.build, "..", "examples", "example_resp_server"))
    directory = tempfile.mkdtemp(prefix="asyncio-redis-")
    servers = {}
    if os.path.exists(ours):
        servers["ours"] = lambda port: [ours, str(port)]
        servers["ours-uring"] = lambda port: [*backend("ours-uring"), ours, str(port)]
    else:
        notes.append(f"ours: not built (no program at {ours}; the examples must be on)")
    if redis:
        servers["redis"] = lambda port: [redis, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                         "--appendonly", "no", "--dir", directory, "--logfile", ""]
    else:
        notes.append("redis-server: not installed (Debian: redis-server)")
    if not benchmark:
        notes.append("redis-benchmark: not installed (Debian: redis-tools): nothing measured")
        servers = {}
    cpus = pick_cpus(notes)
    for note in notes:
        print(note, file=sys.stderr)
    workloads = [f"{test} -P {pipeline}" for pipeline in RESP_PIPELINES for test in RESP_TESTS]
    samples = {w: {name: {m: [] for m in RESP_METRICS} for name in servers} for w in workloads}
    failures = []
    try:
        for round_no in range(1, args.rounds + 1):
            print(f"resp: round {round_no}/{args.rounds}", file=sys.stderr)
            for pipeline in RESP_PIPELINES:
                requests = RESP_REQUESTS[args.quick][pipeline]
                for name in rotated(list(servers), round_no):
                    started = time.monotonic()
                    results, error = run_redis_benchmark(servers[name], benchmark, pipeline, requests, cpus)
                    for test, (rate, cpu) in results.items():
                        samples[f"{test} -P {pipeline}"][name]["requests_per_s"].append(rate)
                        if cpu is not None:
                            samples[f"{test} -P {pipeline}"][name]["server_cpu_ns_per_request"].append(cpu)
                    print(f"  -P {pipeline} {name}: {time.monotonic() - started:.1f} s", file=sys.stderr)
                    if error:
                        failures.append({"suite": "resp", "round": round_no, "impl": f"{name} (-P {pipeline})",
                                         "error": error})
                        print(f"  {name} FAILED: {error}", file=sys.stderr)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    summary = {w: {name: {m: summarize(samples[w][name][m]) for m in RESP_METRICS} for name in servers}
               for w in workloads}
    mode = "quick" if args.quick else "full"
    counts = ", ".join(f"-n {RESP_REQUESTS[args.quick][p]} with -P {p}" for p in RESP_PIPELINES)
    print(f"resp: redis-benchmark -c 50, one test at a time ({counts}), {args.rounds} round(s) ({mode}); "
          f"requests/s (higher is better): median (min-max); server CPU ns per request: median; "
          f"vs redis = this server's requests/s / redis-server's; CPU vs redis = its CPU per request / "
          f"redis-server's")
    print_table(*resp_table(summary), left_columns=2)
    for note in notes:
        print(f"note: {note}")
    commands = {name: pinned((cpus or (None,))[0], command("PORT")) for name, command in servers.items()
                if name != "redis"}
    if servers:
        commands["client"] = pinned(cpus[1] if cpus else None,
                                    [benchmark, "-h", "127.0.0.1", "-p", "PORT", "-t", "TEST", "-c", "50", "-n",
                                     "N", "-P", "1|16", "-q", "--csv"])
    return summary, samples, failures, notes, commands


def resp_table(summary):
    """(header, rows) of the resp suite's table: per test and pipeline depth, a row per server."""
    rows = []
    for workload, by_server in summary.items():
        def median(name, metric):
            return ((by_server.get(name) or {}).get(metric) or {}).get("median")

        for i, name in enumerate(by_server):
            rate, cpu = median(name, "requests_per_s"), median(name, "server_cpu_ns_per_request")
            redis_rate, redis_cpu = median("redis", "requests_per_s"), median("redis", "server_cpu_ns_per_request")
            vs = rate / redis_rate if rate and redis_rate and name != "redis" else None
            cpu_vs = cpu / redis_cpu if cpu and redis_cpu and name != "redis" else None
            target, met = "-", "-"
            if name in RESP_TARGETS:
                least, most = RESP_TARGETS[name]
                target = f">= {least}x redis, CPU <= {most}x"
                if vs is not None and cpu_vs is not None:
                    met = "yes" if vs >= least and cpu_vs <= most else "NO"
            rows.append([workload if i == 0 else "", name, stats_cell(by_server[name]["requests_per_s"]), fmt(cpu),
                         "-" if vs is None else f"{vs:.2f}x", "-" if cpu_vs is None else f"{cpu_vs:.2f}x", target, met])
    return ["test", "server", "requests/s", "server CPU ns/request", "vs redis", "CPU vs redis", "target", "met"], rows


SERVER_SUITES = {"echo": compare_echo, "http": compare_http, "sendfile": compare_sendfile,
                 "tls_echo": compare_tls_echo, "https": compare_https, "sharding": compare_sharding,
                 "syscalls": compare_syscalls, "resp": compare_resp}
SERVER_TABLES = {"echo": echo_table, "http": http_table, "sendfile": sendfile_table,
                 "tls_echo": echo_table, "https": https_table, "sharding": sharding_table,
                 "syscalls": syscalls_table, "resp": resp_table}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # ([] among the choices: argparse checks the empty default against them too.)
    parser.add_argument("suites", nargs="*", choices=[[]] + list(SUITES) + list(SERVER_SUITES), default=[],
                        help="suites to run (default: all)")
    parser.add_argument("--build", default=DEFAULT_BUILD,
                        help="the build tree's bench/ directory (default: %(default)s)")
    parser.add_argument("--python", default="/usr/bin/python3", help="the interpreter for the Python peers")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of all programs (default: 5)")
    parser.add_argument("--quick", action="store_true",
                        help="pass --quick on: smaller counts; shorter echo and http runs")
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed per program run")
    parser.add_argument("--json", metavar="FILE", help="also write the raw figures to FILE")
    parser.add_argument("--servers", type=lambda names: names.split(","), default=[],
                        help="echo and syscalls suites: only these servers (comma-separated names, as in the table)")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    results = {}
    all_failures = []
    for suite_name in args.suites or list(SUITES) + list(SERVER_SUITES):
        if suite_name in SERVER_SUITES:
            summary, samples, failures, notes, commands = SERVER_SUITES[suite_name](args)
        else:
            summary, samples, failures, notes, commands = compare(suite_name, args)
        results[suite_name] = {"commands": commands, "samples": samples, "summary": summary, "notes": notes}
        all_failures += failures
        print()
    if all_failures:
        print(f"{len(all_failures)} failed run(s):")
        for failure in all_failures:
            print(f"  {failure['suite']} round {failure['round']} {failure['impl']}: {failure['error']}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"rounds": args.rounds, "quick": args.quick, "suites": results,
                       "failures": all_failures}, out, indent=1)
    return 1 if all_failures else 0


if __name__ == "__main__":
    sys.exit(main())
