#!/usr/bin/env python3
"""cpu.py — CPU the invokd server process spends per invoke.

For each function (echo-fn, rt-echo) and concurrency in --conc: read utime+stime of the invokd
process from /proc/PID/stat (all its threads; function processes are separate processes and are
not included), run exactly -n invokes with lbench, read it again:
  server µs/invoke = (delta ticks / CLK_TCK) / ok invokes * 1e6.
The function processes' CPU per invoke is reported beside it (sum over invokd's children).
Before measuring, an unrecorded warm-up at the highest concurrency starts every environment
needed, so no cold start is counted. Resolution: 1 tick = 10 ms over the whole run.
bench/warm.py gives the same figure for every target (cores / rps) from the interleaved runs,
including the relays, so the server's cost can be compared with the floor.

Usage: bench/cpu.py [--quick] [-n 20000] [--conc 1,8,32]
Writes $BENCH_OUT/cpu.json and prints a table.
"""
import argparse
import os

import common as C
from invoke_bench import run_lbench  # peer-bench


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("-n", type=int)
    ap.add_argument("--conc", default="1,8,32")
    a = ap.parse_args()
    n = a.n or (3000 if a.quick else 20000)
    concs = [int(c) for c in a.conc.split(",")]
    C.install_cleanup()
    C.ensure_built()
    out = C.out_dir("cpu")
    inv = C.Invokd(out, "invokd-cpu", verbose=False)
    rows = []
    try:
        for fn, binary in (("echo-fn", C.echo_fn_bin()), ("rt-echo", C.tool("rt-echo"))):
            inv.create_function(fn, C.zip_bootstrap(binary))
            url = f"{inv.endpoint}/2015-03-31/functions/{fn}/invocations"
            run_lbench(url, ["-c", str(max(concs)), "-n", "2000", "--warmup", "5"], C.BODY)
            for c in concs:
                kids0 = {p: C.cpu_ticks(p) for p in inv.function_pids()}
                t0 = inv.cpu_ticks()
                r = run_lbench(url, ["-c", str(c), "-n", str(n), "--warmup", "0"], C.BODY)
                t1 = inv.cpu_ticks()
                kids1 = {p: C.cpu_ticks(p) for p in inv.function_pids()}
                fn_ticks = sum((v or 0) - (kids0.get(p) or 0) for p, v in kids1.items())
                ok = r["ok"] or 1
                row = {"function": fn, "conc": c, "invokes": r["ok"], "errors": r["errors"], "rps": r["rps"],
                       "server_us_per_invoke": (t1 - t0) / C.CLK / ok * 1e6,
                       "function_us_per_invoke": fn_ticks / C.CLK / ok * 1e6,
                       "client_us_per_invoke": r["client_cpu_s"] / ok * 1e6,
                       "environments": len(kids1)}
                rows.append(row)
                C.log(f"cpu fn={fn} c={c} invokes={r['ok']:.0f} errors={r['errors']:.0f} rps={r['rps']:.0f} "
                      f"server_us={row['server_us_per_invoke']:.1f} function_us={row['function_us_per_invoke']:.1f} "
                      f"envs={len(kids1)}")
    finally:
        inv.stop()
    C.write_json(os.path.join(out, "cpu.json"), {"n": n, "rows": rows})
    print(table(rows))


def table(rows):
    out = ["| server CPU per invoke (invokd process, /proc/PID/stat) | concurrency | µs/invoke | "
           "function µs/invoke | req/s during | invokes |", "|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['function']} | {r['conc']} | {r['server_us_per_invoke']:.1f} | "
                   f"{r['function_us_per_invoke']:.1f} | {r['rps']:.0f} | {r['invokes']:.0f} |")
    return "\n".join(out)


if __name__ == "__main__":
    main()
