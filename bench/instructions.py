#!/usr/bin/env python3
"""instructions.py — user-space instructions the server executes per warm invoke, under callgrind.

CPU time per invoke on a shared 2-core VM moves 10-20% between runs of the same binary, which
hides the effect of most changes to the invoke path. Instructions counted by callgrind do not
move: the same binary and load give the same count to within 1%. So this part serves each
target under `valgrind --tool=callgrind`, runs unrecorded warm-up invokes, zeroes the counters
(`callgrind_control -z`), runs exactly -n sequential invokes on one keep-alive connection,
dumps the counters (`callgrind_control -d`), and divides. Only the server process is counted
(not the function processes, not the client), and only user space: kernel work (the socket
exchanges, about half of the server's CPU) is not in it, so compare it with the relay, which
does the same socket work, rather than read it as time.

Targets: invokd and peer-bench's relay (one instance), each serving rt-echo and echo-fn.
`callgrind_annotate` on the dumps in $BENCH_OUT/instructions-*/ shows where the instructions go.

Usage: bench/instructions.py [--quick] [-n 2000] [--functions rt-echo,echo-fn] [-c 1] [--cache-sim]
(needs valgrind). --cache-sim adds callgrind's cache and branch simulation: first-level misses of
code and data and mispredicted branches per invoke, and KCachegrind's cycle estimate from them,
which weighs what the instruction count leaves out (code and data that do not stay in cache).
With -c above 1 (e.g. 32), both servers run up to 8 environments and the clients queue for them,
which counts what waiting for a busy environment costs.
Writes $BENCH_OUT/instructions.json and prints a table.
"""
import argparse
import glob
import os
import shutil
import subprocess

import common as C
from invoke_bench import run_lbench  # peer-bench


def totals(dump):
    """The counts a callgrind dump reports for the whole program, by event name (`Ir` always;
    with the cache simulation also `I1mr`, `D1mr`, `D1mw`, `ILmr`, ..., `Bcm`, `Bim`)."""
    names = None
    with open(dump) as f:
        for line in f:
            if line.startswith("events:"):
                names = line.split()[1:]
            elif line.startswith(("summary:", "totals:")) and names:
                return dict(zip(names, (int(x) for x in line.split()[1:])))
    raise RuntimeError(f"no totals in {dump}")


def cycle_estimate(t):
    """KCachegrind's estimate of cycles from the simulated events: an instruction costs 1, a
    mispredicted branch or a first-level miss 10, a last-level miss 100. A rough model, but it
    weighs what the instruction count alone leaves out: code and data that fall out of cache."""
    l1 = t["I1mr"] + t["D1mr"] + t["D1mw"]
    ll = t["ILmr"] + t["DLmr"] + t["DLmw"]
    return t["Ir"] + 10 * (t["Bcm"] + t["Bim"]) + 10 * l1 + 100 * ll


def measure(pid, url, n, work, conc):
    """Instructions of process `pid` per invoke over `n` invokes of `url` by `conc` clients."""
    c = str(conc)
    run_lbench(url, ["-c", c, "-n", str(max(300, 20 * conc)), "--warmup", "5"], C.BODY)
    subprocess.run(["callgrind_control", "-z", str(pid)], check=True, capture_output=True)
    r = run_lbench(url, ["-c", c, "-n", str(n), "--warmup", "0"], C.BODY)
    subprocess.run(["callgrind_control", "-d", str(pid)], check=True, capture_output=True)
    dumps = sorted(glob.glob(os.path.join(work, "callgrind.out.*")))
    if not dumps or not r["ok"]:
        raise RuntimeError(f"no callgrind dump in {work} or no successful invoke ({r})")
    per_invoke = {k: v / r["ok"] for k, v in totals(dumps[0]).items()}
    if "I1mr" in per_invoke:
        per_invoke["cycles_est"] = cycle_estimate(per_invoke)
    return per_invoke, r["ok"], r["errors"]


# Environments at c > 1, as warm.py gives both servers.
ENVS = 8


# Set by --cache-sim: callgrind also simulates the caches and the branch predictor.
CACHE_SIM = []


def callgrind(work):
    return ["valgrind", "--tool=callgrind", *CACHE_SIM,
            f"--callgrind-out-file={os.path.join(work, 'callgrind.out')}"]


def invokd(out, fn, n, conc):
    work = os.path.join(out, f"instructions-invokd-{fn}-c{conc}")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    # Spares execute /proc/self/exe, which under valgrind is valgrind itself.
    inv = C.Invokd(work, "invokd", extra=["--spare-processes", "0", "--max-environments-per-function",
                                          str(ENVS)], prefix=callgrind(work), ready_s=120, verbose=False)
    try:
        binary = C.tool("rt-echo") if fn == "rt-echo" else C.echo_fn_bin()
        inv.create_function(fn, C.zip_bootstrap(binary))
        return measure(inv.pid, f"{inv.endpoint}/2015-03-31/functions/{fn}/invocations", n, work, conc)
    finally:
        C.stop_proc(inv.proc, grace=120)


def relay(out, fn, n, conc):
    work = os.path.join(out, f"instructions-relay-{fn}-c{conc}")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    port = C.free_port()
    binary = C.tool("rt-echo") if fn == "rt-echo" else C.echo_fn_bin()
    p = C.spawn(callgrind(work) + [C.tool("relay"), "--addr", f"127.0.0.1:{port}", "--spawn", binary,
                                   "--function-name", fn, "--max-instances", str(min(conc, ENVS)),
                                   "--prewarm", str(min(conc, ENVS)),
                                   "--trace-header"], os.path.join(work, "relay.log"))
    try:
        C.wait_listen(port, 120, p)
        return measure(p.pid, f"http://127.0.0.1:{port}/2015-03-31/functions/{fn}/invocations", n, work, conc)
    finally:
        C.stop_proc(p, grace=60)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("-n", type=int)
    ap.add_argument("--functions", default="rt-echo,echo-fn")
    ap.add_argument("-c", "--concurrency", type=int, default=1,
                    help="clients; above 1 both servers run up to 8 environments, as in warm.py")
    ap.add_argument("--cache-sim", action="store_true",
                    help="also count cache misses and mispredicted branches (about 3x slower)")
    a = ap.parse_args()
    if a.cache_sim:
        CACHE_SIM.extend(["--cache-sim=yes", "--branch-sim=yes"])
    n = a.n or (500 if a.quick else 2000)
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        raise SystemExit("instructions.py needs valgrind (apt-get install valgrind)")
    C.install_cleanup()
    C.ensure_built()
    out = C.out_dir("instructions")
    rows = []
    for fn in a.functions.split(","):
        for target, run in (("invokd", invokd), ("relay", relay)):
            per_invoke, ok, errors = run(out, fn, n, a.concurrency)
            row = {"target": target, "function": fn, "concurrency": a.concurrency,
                   "instructions_per_invoke": per_invoke["Ir"], "invokes": ok, "errors": errors}
            if "cycles_est" in per_invoke:
                row["per_invoke"] = per_invoke
            rows.append(row)
            C.log(f"instructions {target} fn={fn} c={a.concurrency} per_invoke={per_invoke['Ir']:.0f} "
                  f"invokes={ok:.0f} errors={errors:.0f}")
    C.write_json(os.path.join(out, "instructions.json"), {"n": n, "rows": rows})
    print(table(rows))


def table(rows):
    relay = {r["function"]: r["instructions_per_invoke"] for r in rows if r["target"] == "relay"}
    c = rows[0].get("concurrency", 1) if rows else 1
    out = [f"| server user-space instructions per warm invoke (callgrind, c={c}) | function | instructions | "
           "÷ relay |", "|---|---|---|---|"]
    for r in rows:
        ratio = r["instructions_per_invoke"] / relay[r["function"]] if relay.get(r["function"]) else float("nan")
        out.append(f"| {r['target']} | {r['function']} | {r['instructions_per_invoke']:.0f} | {ratio:.2f} |")
    if all("per_invoke" in r for r in rows) and rows:
        est = {r["function"]: r["per_invoke"]["cycles_est"] for r in rows if r["target"] == "relay"}
        out += ["", f"| simulated per warm invoke (callgrind --cache-sim, c={c}) | function | instructions | "
                "L1 instruction misses | L1 data misses (read + write) | mispredicted branches | "
                "estimated cycles | ÷ relay |", "|---|---|---|---|---|---|---|---|"]
        for r in rows:
            p = r["per_invoke"]
            ratio = p["cycles_est"] / est[r["function"]] if est.get(r["function"]) else float("nan")
            out.append(f"| {r['target']} | {r['function']} | {p['Ir']:.0f} | {p['I1mr']:.0f} | "
                       f"{p['D1mr']:.0f} + {p['D1mw']:.0f} | {p['Bcm'] + p['Bim']:.0f} | {p['cycles_est']:.0f} | "
                       f"{ratio:.2f} |")
    return "\n".join(out)


if __name__ == "__main__":
    main()
