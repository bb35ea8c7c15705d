#!/usr/bin/env python3
"""memory.py — resident memory (VmRSS of the invokd server process only, /proc/PID/status).

  idle           a fresh invokd with no functions, after --settle seconds
  warmed         one function created and invoked: the code of those paths is now paged in
                 (file-backed text pages, faulted in 64 KiB windows, once per process)
  per function   create K more functions (echo-fn zip): (RSS_created - RSS_warmed) / K
  per idle env   invoke each once, so K environments sit idle: (RSS_after - RSS_warmed) / K
                 (the headline figure; also split into the part added by the invokes alone)
  after load     lbench at c=32 for --load-duration s on one function, then RSS
Function processes are not counted in the server figures; their RSS is reported on its own.
RSS is the median of 5 samples 0.2 s apart. The server's own logging is at its default level.
bench/warm.py also reports invokd's RSS after the interleaved warm runs.

Usage: bench/memory.py [--quick] [-k 20] [--load-duration 5]
Writes $BENCH_OUT/memory.json and prints a table.
"""
import argparse
import os
import time

import common as C
from invoke_bench import run_lbench  # peer-bench


def rss(pid, n=5):
    v = []
    for _ in range(n):
        v.append(C.rss_kb(pid))
        time.sleep(0.2)
    return C.median(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("-k", type=int, default=50)
    ap.add_argument("--settle", type=float, default=1.0)
    ap.add_argument("--load-duration", type=float)
    a = ap.parse_args()
    load_s = a.load_duration or (2.0 if a.quick else 5.0)
    C.install_cleanup()
    C.ensure_built()
    out = C.out_dir("memory")
    inv = C.Invokd(out, "invokd-memory", verbose=False)
    try:
        time.sleep(a.settle)
        idle = rss(inv.pid)
        z = C.zip_bootstrap(C.echo_fn_bin())

        def create_and_invoke(names):
            for n in names:
                inv.create_function(n, z)
            time.sleep(a.settle)
            created = rss(inv.pid)
            for n in names:
                st, body, _, _ = inv.invoke(n)
                if st != 200 or body != C.BODY.encode():
                    raise RuntimeError(f"invoke {n}: HTTP {st} {body[:200]!r}")
            return created

        create_and_invoke(["mem-warm"])
        time.sleep(a.settle)
        warmed = rss(inv.pid)
        names = [f"mem-{i}" for i in range(a.k)]
        created = create_and_invoke(names)
        time.sleep(a.settle)
        envs = inv.function_pids()
        after = rss(inv.pid)
        fn_rss = [C.rss_kb(p) or 0 for p in envs]
        r = run_lbench(f"{inv.endpoint}/2015-03-31/functions/{names[0]}/invocations",
                       ["-c", "32", "-d", str(load_s), "--warmup", "5"], C.BODY)
        time.sleep(a.settle)
        after_load = rss(inv.pid)
        res = {
            "k": a.k,
            "idle_kb": idle, "warmed_kb": warmed, "created_kb": created, "after_invoke_kb": after, "after_load_kb": after_load,
            "per_function_kb": (created - warmed) / a.k,
            "per_idle_env_kb": (after - warmed) / a.k,
            "per_idle_env_invokes_only_kb": (after - created) / a.k,
            "environments": len(envs),
            "function_rss_each_kb": C.median(fn_rss),
            "load": {"conc": 32, "duration_s": load_s, "rps": r["rps"], "errors": r["errors"],
                     "environments_after": len(inv.function_pids())},
        }
    finally:
        inv.stop()
    C.write_json(os.path.join(out, "memory.json"), res)
    print(table(res))


def table(m):
    mib = lambda kb: f"{kb / 1024:.1f} MiB"
    return "\n".join([
        "| memory (invokd server process VmRSS) | value | notes |", "|---|---|---|",
        f"| idle, no functions | {mib(m['idle_kb'])} | fresh data dir |",
        f"| warmed | {mib(m['warmed_kb'])} | one function created and invoked (its code paths paged in) |",
        f"| per idle environment | {m['per_idle_env_kb']:.0f} KiB | (RSS with {m['k']} more functions each with one idle "
        f"environment - warmed RSS) / {m['k']}; the invokes alone add {m['per_idle_env_invokes_only_kb']:.0f} KiB each, "
        f"creating the function {m['per_function_kb']:.0f} KiB |",
        f"| with {m['k'] + 1} idle environments | {mib(m['after_invoke_kb'])} | {m['environments']} function processes, "
        f"{m['function_rss_each_kb'] / 1024:.1f} MiB RSS each (not counted above) |",
        f"| after load (c=32, {m['load']['duration_s']:.0f} s, {m['load']['rps']:.0f} req/s) | {mib(m['after_load_kb'])} | "
        f"{m['load']['environments_after']} function processes then |",
    ])


if __name__ == "__main__":
    main()
