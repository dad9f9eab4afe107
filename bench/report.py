#!/usr/bin/env python3
# The benchmark report in one command: installs the missing peers, builds in release mode, runs
# every workload for us and each peer in alternating rounds (through compare.py), measures how
# costs scale, and writes docs/benchmarks.md with its tables and PNG charts.
"""Build, run every benchmark against its peers, and write the report.

  python3 bench/report.py            full mode (about an hour on 2 cores)
  python3 bench/report.py --quick    quick mode (about 5 minutes): smaller counts, shorter runs

The page (docs/benchmarks.md by default) is bench/report_template.md with its placeholders
filled from this run: the machine, the date, one table per workload, and the charts (written
next to the page, in benchmarks/, with the raw figures in benchmarks/results.json). Nothing on
it is typed by hand. --render benchmarks/results.json writes the page again without running;
with --merge FILE it first adds the suites of a separate `compare.py --json FILE` run, which the
page then says were measured apart.
"""
import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

import compare

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEER_PACKAGES = ["python3-uvloop", "libboost1.81-dev", "libuv1-dev", "nginx", "wrk", "python3-matplotlib", "curl",
                 "strace", "redis-server", "redis-tools"]
PEER_NAMES = {"asio": "Boost.Asio", "python": "CPython asyncio", "uvloop": "uvloop", "libuv": "libuv",
              "floor": "C epoll floor", "uring-floor": "C io_uring floor", "nginx": "nginx",
              "asyncio": "CPython asyncio", "redis": "redis-server"}


def peer_name(suite_name, impl):
    """How the page names impl in a compare.py suite: the suite's own name for it, if it has one
    (the subprocess suite's floor is not the echo suite's), else PEER_NAMES'."""
    if impl == "ours":
        return "ours"
    names = compare.SUITES.get(suite_name, {}).get("names", {})
    return names.get(impl) or PEER_NAMES.get(impl, impl)


# How each cost grows: per workload, the counts (full mode, quick mode) and the unit.
SCALING = [
    ("spawn_ns", "ns/task", "spawn: create_task + sleep(0) + gather", [10_000, 100_000, 1_000_000], [1_000, 10_000, 100_000]),
    ("pending_task_bytes", "B/task", "memory per task pending on a future", [10_000, 100_000, 1_000_000], [1_000, 10_000, 100_000]),
    ("timer_overhead_ns", "ns/timer", "timer overhead (random 0-50 ms)", [10_000, 100_000, 1_000_000], [1_000, 10_000, 100_000]),
    ("sleeping_tasks_ns", "ns/task", "tasks sleeping random 0-50 ms, gathered", [10_000, 100_000, 1_000_000], [1_000, 10_000, 100_000]),
    # Each run lasts the 10 s deadline: in quick mode one small count only.
    ("wait_for_ns", "ns/wait", "wait_for(q.get(), 10 s), 90% satisfied", [10_000, 100_000, 1_000_000], [1_000]),
]


def log(message):
    print(message, file=sys.stderr, flush=True)


def install_peers():
    subprocess.run([os.path.join(ROOT, "scripts", "deps.sh"), *PEER_PACKAGES], check=True)


def build(build_dir):
    """Configures (a new tree without the tests) and builds the release build in build_dir."""
    options = ["-DCMAKE_BUILD_TYPE=Release", "-DASYNCIO_BUILD_BENCHMARKS=ON", "-DASYNCIO_BUILD_EXAMPLES=ON"]
    if not os.path.exists(os.path.join(build_dir, "CMakeCache.txt")):
        options += ["-G", "Ninja", "-DASYNCIO_BUILD_TESTS=OFF"]
    subprocess.run(["cmake", "-S", ROOT, "-B", build_dir, *options], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", build_dir, "-j", str(os.cpu_count() or 2)], check=True, stdout=subprocess.DEVNULL)


# --- The machine -------------------------------------------------------------------------------

def first_line(command):
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    text = (proc.stdout or proc.stderr).strip()
    return text.splitlines()[0] if text else "not installed"


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    boost = "not installed"
    try:
        with open("/usr/include/boost/version.hpp") as version:
            found = re.search(r'BOOST_LIB_VERSION "([^"]+)"', version.read())
            boost = found.group(1).replace("_", ".") if found else boost
    except OSError:
        pass
    uvloop = first_line(["/usr/bin/python3", "-c", "import uvloop; print(uvloop.__version__)"])
    return [
        ("cores", str(os.cpu_count())),
        ("CPU", cpu),
        ("kernel", f"{platform.system()} {platform.release()}"),
        ("C++ compiler (our build and the C++ peers)", first_line(["c++", "--version"])),
        ("clang", first_line(["clang++-16", "--version"])),
        ("Python", first_line(["/usr/bin/python3", "--version"])),
        ("Boost", boost),
        ("libuv", first_line(["pkg-config", "--modversion", "libuv"])),
        ("uvloop", uvloop if not uvloop.startswith("Traceback") else "not installed"),
        ("nginx", first_line(["nginx", "-v"])),
        ("wrk", first_line(["wrk", "--version"])),
        ("redis-server", first_line(["redis-server", "--version"])),
    ]


# --- Running ------------------------------------------------------------------------------------

def run_suites(args):
    """Every compare.py suite, in alternating rounds: ({program suite: result}, {server suite:
    result}, failures). The server suites (echo, http) have tables of their own shape."""
    results, server_results, failures = {}, {}, []
    options = argparse.Namespace(quick=args.quick, build=args.bench_dir, python="/usr/bin/python3",
                                 rounds=args.rounds, timeout=600, servers=[])
    for name in compare.SUITES:
        summary, samples, suite_failures, notes, commands = compare.compare(name, options)
        results[name] = {"summary": summary, "samples": samples, "notes": notes, "commands": commands}
        failures += suite_failures
    for name, run in compare.SERVER_SUITES.items():
        summary, samples, suite_failures, notes, commands = run(options)
        server_results[name] = {"summary": summary, "samples": samples, "notes": notes, "commands": commands}
        failures += suite_failures
    return results, server_results, failures


def run_scaling(args):
    """Each scaling workload at each count, for ours and each core peer, alternating; medians."""
    suite = compare.SUITES["core"]
    programs = {"ours": [os.path.join(args.bench_dir, suite["ours"])],
                "asio": [os.path.join(args.bench_dir, suite["asio"])],
                "python": ["/usr/bin/python3", os.path.join(HERE, "peers", suite["python"])]}
    programs = {impl: command for impl, command in programs.items() if os.path.exists(command[-1])}
    rounds = 1 if args.quick else args.scaling_rounds
    samples = {}
    for round_no in range(1, rounds + 1):
        log(f"scaling: round {round_no}/{rounds}")
        for workload, _unit, _title, full_counts, quick_counts in SCALING:
            for count in quick_counts if args.quick else full_counts:
                for impl, command in programs.items():
                    values, error = compare.run_once(impl, command + ["--count", workload, str(count)], 600, [workload])
                    if error:
                        log(f"  {impl} {workload} {count}: {error}")
                    if workload in values:
                        samples.setdefault(workload, {}).setdefault(impl, {}).setdefault(count, []).append(values[workload])
    return {workload: {impl: {count: statistics.median(v) for count, v in by_count.items()}
                       for impl, by_count in by_impl.items()}
            for workload, by_impl in samples.items()}


# --- Writing the page ---------------------------------------------------------------------------

def ratio_text(ours, peer, lower_is_better):
    if not ours or not peer:
        return "-"
    return f"{(peer / ours if lower_is_better else ours / peer):.2f}×"


def suite_table(name, result):
    """Markdown: one row per workload, median (min–max) per implementation, ratios to peers, and
    for a suite with "targets_in_report" the issue's target and whether ours meets it."""
    suite = compare.SUITES[name]
    impls = [impl for impl in result["summary"]]
    peers = [impl for impl in impls if impl != "ours"]
    with_targets = suite.get("targets_in_report", False)
    header = ["workload", "unit"] + [peer_name(name, i) for i in impls] + \
             [f"ours vs {peer_name(name, p)}" for p in peers] + (["target", "met"] if with_targets else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for metric, unit, lower_is_better, target in suite["metrics"]:
        cells = []
        for impl in impls:
            stats = result["summary"][impl].get(metric)
            cells.append("-" if not stats else
                         f"{compare.fmt(stats['median'])} ({compare.fmt(stats['min'])}–{compare.fmt(stats['max'])})")
        ours = (result["summary"].get("ours", {}).get(metric) or {}).get("median")
        ratios = [ratio_text(ours, (result["summary"][p].get(metric) or {}).get("median"), lower_is_better) for p in peers]
        better = "lower is better" if lower_is_better else "higher is better"
        targets = []
        if with_targets:
            text, met = compare.target_cells(result["summary"], metric, lower_is_better, target)
            targets = [text.replace("x ", "× ").replace(">=", "≥"), met]
            for impl in peers:  # compare.py's short names, as the page names them
                targets[0] = targets[0].replace(f"× {impl}", f"× {peer_name(name, impl)}")
        lines.append("| " + " | ".join([f"`{metric}`", f"{unit} ({better})"] + cells + ratios + targets) + " |")
    return "\n".join(lines)


def server_suite_table(name, result):
    """Markdown of an echo or http table: compare.py's rows, with the peers' full names."""
    header, rows = compare.SERVER_TABLES[name](result["summary"])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        row = [PEER_NAMES.get(cell, cell) if i == header.index("server") else cell for i, cell in enumerate(row)]
        lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
    notes = [f"- {note}" for note in result["notes"]]
    return "\n".join(lines + ([""] + notes if notes else []))


# Echo round trips as connections grow (64-byte messages): full mode, quick mode.
ECHO_CONNECTIONS = ([1, 10, 100, 1000], [1, 10, 100])


def run_echo_scaling(args):
    """The echo servers at 1 to 1,000 connections; {server: {connections: median round trips/s}}."""
    counts = ECHO_CONNECTIONS[args.quick]
    options = argparse.Namespace(quick=args.quick, build=args.bench_dir, python="/usr/bin/python3",
                                 rounds=1 if args.quick else args.scaling_rounds, timeout=600, servers=[])
    workloads = [(f"64 B x {c}", 64, c) for c in counts]
    summary, _samples, failures, _notes, _commands = compare.compare_echo(options, workloads)
    scaling = {}
    for (workload, _size, connections) in workloads:
        for server, stats in summary[workload].items():
            if stats["round_trips_per_s"]:
                scaling.setdefault(server, {})[connections] = stats["round_trips_per_s"]["median"]
    return scaling, failures


def echo_scaling_table(scaling):
    counts = sorted({c for values in scaling.values() for c in values})
    if not counts:
        return ""
    lines = ["| server | " + " | ".join(f"{c:,} conn." for c in counts) + " |", "|---|" + "---|" * len(counts)]
    for server, values in scaling.items():
        lines.append(f"| {PEER_NAMES.get(server, server)} | " + " | ".join(compare.fmt(values.get(c)) for c in counts) + " |")
    return "\n".join(lines)


def scaling_table(scaling):
    lines = []
    for workload, unit, title, _full, _quick in SCALING:
        by_impl = scaling.get(workload, {})
        counts = sorted({count for values in by_impl.values() for count in values})
        if not counts:
            continue
        lines += [f"**{title}** ({unit}, median)", "",
                  "| implementation | " + " | ".join(f"{c:,}" for c in counts) + " |",
                  "|---|" + "---|" * len(counts)]
        for impl, values in by_impl.items():
            name = "ours" if impl == "ours" else PEER_NAMES.get(impl, impl)
            lines.append(f"| {name} | " + " | ".join(compare.fmt(values.get(c)) for c in counts) + " |")
        lines.append("")
    return "\n".join(lines)


def server_ratio_rows(server_results):
    """(label, how many times better ours is) for the echo, http and resp suites: throughput
    ratios."""
    rows = []
    for name, metric in (("echo", "round_trips_per_s"), ("http", "requests_per_s"), ("resp", "requests_per_s")):
        summary = server_results.get(name, {}).get("summary", {})
        tables = [("wrk -c50", summary)] if name == "http" else summary.items()
        for workload, by_server in tables:
            ours = ((by_server.get("ours") or {}).get(metric) or {}).get("median")
            for server, stats in by_server.items():
                peer = (stats.get(metric) or {}).get("median")
                if not server.startswith("ours") and ours and peer:
                    rows.append((f"{name} {workload} vs {PEER_NAMES.get(server, server)}", ours / peer))
    return rows


def latency_chart(plt, by_server, percentiles, title, path):
    """Grouped bars: each server's median latency at each percentile (log scale)."""
    servers = [s for s in by_server if any((by_server[s].get(m) or {}).get("median") for m, _ in percentiles)]
    if not servers:
        return False
    fig, ax = plt.subplots(figsize=(9, 3.8))
    width = 0.8 / len(percentiles)
    for i, (metric, label) in enumerate(percentiles):
        heights = [((by_server[s].get(metric) or {}).get("median") or 0) for s in servers]
        ax.bar([x + i * width for x in range(len(servers))], heights, width, label=label)
    ax.set_xticks([x + width * (len(percentiles) - 1) / 2 for x in range(len(servers))],
                  [PEER_NAMES.get(s, s) for s in servers], fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("latency, µs (log scale; lower is better)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def charts(results, server_results, scaling, echo_scaling, out_dir):
    """Writes the PNG charts; returns {placeholder: markdown image link}."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return {}
    os.makedirs(out_dir, exist_ok=True)
    links = {}

    # How many times better ours is than each peer, per workload (log scale; 1 = even).
    rows = []
    for name, result in results.items():
        summary = result["summary"]
        metrics = compare.SUITES[name]["metrics"]
        # Reference rows (a hand-written loop that others are measured "within") are no contest.
        references = {target[1] for _m, _u, _l, target in metrics if target and target[0] == "within"}
        for metric, _unit, lower_is_better, _target in metrics:
            if metric in references:
                continue
            ours = (summary.get("ours", {}).get(metric) or {}).get("median")
            for peer in summary:
                stats = summary[peer].get(metric) if peer != "ours" else None
                if ours and stats:
                    value = stats["median"] / ours if lower_is_better else ours / stats["median"]
                    rows.append((f"{metric} vs {peer_name(name, peer)}", value))
    rows += server_ratio_rows(server_results)
    if rows:
        fig, ax = plt.subplots(figsize=(9, 0.35 * len(rows) + 1.2))
        labels, values = zip(*rows)
        ax.barh(range(len(rows)), values, color=["tab:green" if v >= 1 else "tab:red" for v in values])
        ax.set_yticks(range(len(rows)), labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_xlabel("how many times better ours is (log scale; right of 1 = ours better)")
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "ratios.png"), dpi=110)
        plt.close(fig)
        links["ratios"] = "![ratio of ours to each peer, per workload](benchmarks/ratios.png)"

    if scaling:
        fig, axes = plt.subplots(1, len(SCALING), figsize=(3.4 * len(SCALING), 3.8))
        for ax, (workload, unit, title, _full, _quick) in zip(axes, SCALING):
            for impl, values in scaling.get(workload, {}).items():
                counts = sorted(values)
                ax.plot(counts, [values[c] for c in counts], marker="o",
                        label="ours" if impl == "ours" else PEER_NAMES.get(impl, impl))
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("tasks or timers")
            ax.set_ylabel(unit)
            ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "scaling.png"), dpi=110)
        plt.close(fig)
        links["scaling"] = "![cost per task or timer as their number grows](benchmarks/scaling.png)"

    if echo_scaling:
        fig, ax = plt.subplots(figsize=(7, 3.8))
        for server, values in echo_scaling.items():
            counts = sorted(values)
            ax.plot(counts, [values[c] for c in counts], marker="o", label=PEER_NAMES.get(server, server))
        ax.set_xscale("log")
        ax.set_xlabel("connections (64-byte messages)")
        ax.set_ylabel("round trips/s (higher is better)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "echo_scaling.png"), dpi=110)
        plt.close(fig)
        links["echo_scaling"] = "![echo round trips per second as connections grow](benchmarks/echo_scaling.png)"

    echo = server_results.get("echo", {}).get("summary", {})
    main_workload = compare.ECHO_WORKLOADS[0][0]
    if main_workload in echo and latency_chart(
            plt, echo[main_workload],
            [("latency_p50_us", "p50"), ("latency_p90_us", "p90"), ("latency_p99_us", "p99"), ("latency_p999_us", "p99.9")],
            f"echo {main_workload}: round-trip latency percentiles", os.path.join(out_dir, "echo_latency.png")):
        links["echo_latency"] = "![echo latency percentiles per server](benchmarks/echo_latency.png)"
    http = server_results.get("http", {}).get("summary", {})
    if latency_chart(plt, http, [("latency_p50_us", "p50"), ("latency_p75_us", "p75"), ("latency_p90_us", "p90"),
                                 ("latency_p99_us", "p99")],
                     "HTTP hello under wrk -c50: latency percentiles", os.path.join(out_dir, "http_latency.png")):
        links["http_latency"] = "![HTTP latency percentiles per server](benchmarks/http_latency.png)"
    return links


def merge(run, path):
    """Puts the program suites of a `compare.py --json` file into a saved run, each marked as
    measured apart (its date: the file's modification day), with its failures."""
    with open(path) as saved:
        separate = json.load(saved, object_hook=int_keys)
    date = datetime.date.fromtimestamp(os.path.getmtime(path)).isoformat()
    for name, result in separate["suites"].items():
        if name not in compare.SUITES:
            raise SystemExit(f"--merge: {name} is not a program suite of compare.py")
        run["results"][name] = result
        run.setdefault("separate_runs", {})[name] = {"date": date, "quick": separate["quick"],
                                                     "rounds": separate["rounds"]}
        run["failures"] = [f for f in run["failures"] if f["suite"] != name] + \
                          [f for f in separate["failures"] if f["suite"] == name]


def int_keys(mapping):
    """json.load's object_hook: the counts that were dictionary keys become numbers again."""
    return {int(key) if key.isdigit() else key: value for key, value in mapping.items()}


def render(template, values):
    def substitute(match):
        key = match.group(1)
        if key not in values:
            return f"(no figures for {key} in this run)"
        return values[key]
    return re.sub(r"<!--\s*report:([a-z0-9_:]+)\s*-->", substitute, template)


def use_system_python():
    """The charts need Debian's python3-matplotlib, installed for /usr/bin/python3: run under it
    when this interpreter is another one (a pyenv or virtualenv python3 first on PATH)."""
    system = "/usr/bin/python3"
    if os.path.realpath(sys.executable) != os.path.realpath(system) and os.path.exists(system):
        os.execv(system, [system, os.path.abspath(__file__), *sys.argv[1:]])


def main():
    use_system_python()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="quick mode: smaller counts, shorter runs")
    parser.add_argument("--output", default=os.path.join(ROOT, "docs", "benchmarks.md"),
                        help="the page to write (charts go to benchmarks/ beside it; default: %(default)s)")
    parser.add_argument("--build", default=os.path.join(ROOT, "build", "bench"), help="the release build tree")
    parser.add_argument("--rounds", type=int, help="alternating rounds per suite (default: 5; quick mode: 3)")
    parser.add_argument("--scaling-rounds", type=int, default=3, help="rounds of the scaling runs (full mode; quick: 1)")
    parser.add_argument("--no-install", action="store_true", help="do not install missing peers")
    parser.add_argument("--render", metavar="JSON", help="run nothing: write the page again from the results.json "
                        "an earlier run saved beside its charts (after editing the template)")
    parser.add_argument("--merge", metavar="FILE", help="with --render: first put the suites of a separate "
                        "`compare.py --json FILE` run into it (replacing those suites' figures; the page says "
                        "they were measured apart), and save the result beside the charts")
    args = parser.parse_args()
    if args.merge and not args.render:
        parser.error("--merge needs --render")
    args.bench_dir = os.path.join(args.build, "bench")
    if args.rounds is None:
        args.rounds = 3 if args.quick else 5
    started = time.monotonic()

    out_dir = os.path.dirname(os.path.abspath(args.output))
    charts_dir = os.path.join(out_dir, "benchmarks")
    if args.render:
        with open(args.render) as saved:
            run = json.load(saved, object_hook=int_keys)
        if args.merge:
            merge(run, args.merge)
            os.makedirs(charts_dir, exist_ok=True)
            with open(os.path.join(charts_dir, "results.json"), "w") as out:
                json.dump(run, out, indent=1)
    else:
        if not args.no_install:
            install_peers()
        log("building (release)")
        build(args.build)
        results, server_results, failures = run_suites(args)
        scaling = run_scaling(args)
        echo_scaling, echo_failures = run_echo_scaling(args)
        run = {"results": results, "server_results": server_results, "scaling": scaling,
               "echo_scaling": echo_scaling, "failures": failures + echo_failures, "machine": machine(),
               "date": datetime.date.today().isoformat(), "quick": args.quick, "rounds": args.rounds,
               "minutes": (time.monotonic() - started) / 60}
        os.makedirs(charts_dir, exist_ok=True)
        with open(os.path.join(charts_dir, "results.json"), "w") as out:  # --render FILE re-renders it
            json.dump(run, out, indent=1)
    results, server_results, failures = run["results"], run["server_results"], run["failures"]
    scaling, echo_scaling = run["scaling"], run["echo_scaling"]

    os.makedirs(out_dir, exist_ok=True)
    values = {"machine": "\n".join(f"| {key} | {value} |" for key, value in run["machine"]),
              "date": run["date"],
              "mode": (f"quick mode (`--quick`): smaller counts, {run['rounds']} rounds — for checking the command, "
                       "not for comparing" if run["quick"] else f"full mode, {run['rounds']} alternating rounds per suite"),
              "scaling": scaling_table(scaling),
              "echo_scaling": echo_scaling_table(echo_scaling),
              "duration": f"{run['minutes']:.1f} minutes"}
    for name, result in results.items():
        values[f"suite:{name}"] = suite_table(name, result)
        apart = run.get("separate_runs", {}).get(name)
        if apart:
            mode = "quick mode" if apart["quick"] else "full mode"
            values[f"suite:{name}"] += (f"\n\nThese figures come from a separate run (`compare.py {name}`, {mode}, "
                                        f"{apart['rounds']} alternating rounds, on {apart['date']}), not from the run "
                                        "described above.")
    for name, result in server_results.items():
        values[f"suite:{name}"] = server_suite_table(name, result)
    for key, link in charts(results, server_results, scaling, echo_scaling, charts_dir).items():
        values[f"chart:{key}"] = link
    if failures:
        values["failures"] = "\n".join(f"- {f['suite']} round {f['round']}, {f['impl']}: {f['error']}" for f in failures)
    else:
        values["failures"] = "None."
    with open(os.path.join(HERE, "report_template.md")) as template:
        page = render(template.read(), values)
    with open(args.output, "w") as out:
        out.write(page)
    log(f"wrote {args.output} in {values['duration']}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
