#!/usr/bin/env python3
"""cold_phases.py — where a cold start's time goes, phase by phase, invokd against the relay.

cold.py says how long a first invoke takes; this says where the difference with the relay's
spawn is. Each cold start runs under `perf record -a` of a handful of tracepoints, few enough
not to move the figures the way `perf trace` or `strace` do:

  read       the server reads the Invoke request (the first `recvfrom` after lbench connects)
  spawn      the last write of a server thread before the `execve`: invokd's request to its spare
             process; for the relay its `clone3`
  execve     the `execve` of the runtime starts
  exec done  `sched_process_exec`: the new program is in place
  connect    the runtime connects to the Runtime API
  answer     lbench reads the response

and prints, for each, the median of µs after `read` over the repetitions. The last column,
lbench's own time of the first invoke, includes the connection; a fresh relay under `perf` is
slow to take its first one, so its `answer` column, not that one, is what compares.

  invokd   --idle-timeout 1: invoke once, wait until the environment's process has exited
           (cold.py's reaped cold start), record the next invoke. Repetitions alternate between
           the binaries given with --bin (default: the built invokd), so that drift hits all alike.
  relay    a fresh relay `--spawn`ing the function on its first invoke (cold_bench.py's case).

Needs `perf` and the permission to trace system calls system-wide (root); not part of bench/run.

Usage: bench/cold_phases.py [--function rt-echo|echo-fn] [--repeat 20] [--bin BIN ...] [--no-relay]
Writes $BENCH_OUT/cold-phases.json and prints a table.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import time

import common as C
import cold
from invoke_bench import run_lbench  # peer-bench

EVENTS = ",".join([
    "syscalls:sys_enter_execve", "syscalls:sys_enter_connect", "syscalls:sys_exit_recvfrom",
    "syscalls:sys_enter_write", "syscalls:sys_enter_clone3", "sched:sched_process_exec",
])
PHASES = ("spawn", "execve", "exec_done", "connect", "answer")
LINE = re.compile(r"\s*(\S.*?)\s+(\d+)\s+([\d.]+):\s+(\S+):\s*(.*)")


def recorded(out, invoke):
    """Runs `invoke()` under `perf record` and returns the events: (comm, µs, event, args)."""
    data = os.path.join(out, "phases.data")
    rec = subprocess.Popen(["perf", "record", "-q", "-a", "-e", EVENTS, "-o", data],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.8)  # perf is tracing before the invoke starts
    try:
        first_us = invoke()
    finally:
        time.sleep(0.1)
        rec.send_signal(signal.SIGINT)
        rec.wait()
    script = subprocess.run(["perf", "script", "-i", data, "-F", "comm,tid,time,event,trace"],
                            capture_output=True, text=True).stdout
    events = []
    for line in script.splitlines():
        m = LINE.match(line)
        if m:
            events.append((m.group(1), float(m.group(3)) * 1e6, m.group(4), m.group(5)))
    return first_us, events


def phases(events, runtime):
    """µs after the server read the request, per phase; None if an event is missing."""
    ok = lambda e: not e[3].startswith("0xffff")  # noqa: E731 (a failed call returns -errno)
    try:
        start = next(i for i, e in enumerate(events) if e[0] == "lbench" and "enter_connect" in e[2])
        ev = events[start:]
        read = next(e[1] for e in ev if e[0].startswith("tokio") and "exit_recvfrom" in e[2] and ok(e))
        execve = next(e[1] for e in ev if "enter_execve" in e[2] and e[1] > read)
        clones = [e[1] for e in ev if "enter_clone3" in e[2] and read < e[1] < execve]
        # Not the 8-byte writes that wake a thread (eventfd).
        writes = [e[1] for e in ev if e[0].startswith("tokio") and "enter_write" in e[2]
                  and "count: 0x00000008" not in e[3] and read < e[1] < execve]
        spawn = clones[0] if clones else max(writes)
        done = next(e[1] for e in ev if "sched_process_exec" in e[2] and e[1] > execve)
        connect = next(e[1] for e in ev if e[0] == runtime and "enter_connect" in e[2] and e[1] > done)
        answer = next(e[1] for e in ev if e[0] == "lbench" and "exit_recvfrom" in e[2] and ok(e) and e[1] > connect)
    except (StopIteration, ValueError):
        return None
    return {"spawn": spawn - read, "execve": execve - read, "exec_done": done - read,
            "connect": connect - read, "answer": answer - read}


def first_invoke_us(url):
    r = run_lbench(url, ["-c", "1", "-n", "1", "--check-echo", "--timeout", "60"], C.BODY)
    if r["ok"] != 1 or r["mismatches"]:
        raise RuntimeError(f"cold invoke failed: {r}")
    return r["first_us"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--function", choices=("rt-echo", "echo-fn"), default="rt-echo")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--bin", action="append", help="invokd binary (repeat to compare several)")
    ap.add_argument("--no-relay", action="store_true")
    ap.add_argument("--quick", action="store_true", help="3 repetitions")
    a = ap.parse_args()
    if not shutil.which("perf"):
        C.log("# perf is not installed: cold_phases.py measures nothing")
        return
    C.ensure_built()
    C.install_cleanup()
    out = C.out_dir("cold_phases")
    repeat = 3 if a.quick else a.repeat
    binary = C.tool("rt-echo") if a.function == "rt-echo" else C.echo_fn_bin()
    runtime = "bootstrap"  # invokd's zips name the program bootstrap
    servers = []
    for i, b in enumerate(a.bin or [C.invokd_bin()]):
        os.environ["INVOKD_BIN"] = b
        inv = C.Invokd(out, f"invokd-phases-{i}", extra=["--idle-timeout", "1"], verbose=False)
        inv.create_function(a.function, C.zip_bootstrap(binary))
        url = f"{inv.endpoint}/2015-03-31/functions/{a.function}/invocations"
        servers.append((os.path.basename(b), inv, url))
    rows = {name: [] for name, _, _ in servers}
    if not a.no_relay:
        rows["relay"] = []
    for rep in range(repeat):
        for name, inv, url in servers if rep % 2 == 0 else servers[::-1]:
            first_invoke_us(url)
            cold.wait_gone(inv.function_pids())
            time.sleep(0.2)
            first_us, events = recorded(out, lambda url=url: first_invoke_us(url))
            p = phases(events, runtime)
            if p:
                rows[name].append({**p, "first_us": first_us})
        if not a.no_relay:
            port = C.free_port()
            relay = C.spawn([C.tool("relay"), "--addr", f"127.0.0.1:{port}", "--spawn", binary,
                             "--function-name", a.function, "--max-instances", "1"],
                            os.path.join(out, "relay.log"))
            try:
                C.wait_listen(port, proc=relay)
                url = f"http://127.0.0.1:{port}/2015-03-31/functions/{a.function}/invocations"
                first_us, events = recorded(out, lambda: first_invoke_us(url))
                p = phases(events, os.path.basename(binary)[:15])
                if p:
                    rows["relay"].append({**p, "first_us": first_us})
            finally:
                C.stop_proc(relay)
        C.log(f"# repetition {rep + 1}/{repeat}")
    for _, inv, _ in servers:
        inv.stop()
    res = {name: {k: C.median([r[k] for r in v]) for k in (*PHASES, "first_us")} | {"n": len(v)}
           for name, v in rows.items() if v}
    C.write_json(os.path.join(out, "cold-phases.json"), {"function": a.function, "runs": rows, "medians": res})
    C.log(f"\n| {a.function} cold start, µs after the server read the request (median) | spawn | execve "
          "starts | execve done | runtime connects | answer read | first invoke (lbench) | n |")
    C.log("|---|---|---|---|---|---|---|---|")
    for name, m in res.items():
        C.log(f"| {name} | " + " | ".join(f"{m[k]:.0f}" for k in (*PHASES, "first_us")) + f" | {m['n']} |")


if __name__ == "__main__":
    main()
