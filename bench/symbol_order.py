#!/usr/bin/env python3
"""symbol_order.py — regenerates crates/cli/symbol-order.txt, the link order of invokd's code.

The server's idle RSS is mostly its own code, paged in by 64 KiB fault-around windows as it
first runs (docs/benchmarks.md, finding 6). Left in the compiler's order, the few thousand
functions a server runs are spread over its whole `.text`; listed in this file, lld places them
first and together (crates/cli/build.rs passes `--symbol-ordering-file` to release links), so
they occupy a few windows instead of a hundred, and the hot path shares fewer cache lines and
TLB entries with code that never runs.

How: the release binary serves a short session under callgrind (start, CreateFunction, cold and
warm invokes, `LogType: Tail`, `ClientContext`, `Event` invokes, control-plane reads, idle
ticks, shutdown), and every function of the binary that ran is listed, hottest first
(callgrind's self instruction count). Symbols are mangled names, stable across builds of the
same source and toolchain; a function added since the file was made is simply placed after the
listed ones, so the file needs regenerating only when the figures in docs/benchmarks.md drift.

Usage: bench/symbol_order.py [--out crates/cli/symbol-order.txt]   (needs valgrind; ~2 minutes)
       bench/symbol_order.py --check   (how many listed functions the built binary has; bench/build
                                        runs it and warns below 90%)
"""
import argparse
import collections
import os
import subprocess
import time

import common as C


def exercise(inv):
    """The session profiled: what a server does from start to an idle, serving state."""
    inv.create_function("echo-fn", C.zip_bootstrap(C.echo_fn_bin()))
    for i in range(30):
        st, body, _, _ = inv.invoke("echo-fn")
        if st != 200:
            raise RuntimeError(f"invoke {i}: HTTP {st} {body[:200]!r}")
    for _ in range(3):
        inv.invoke("echo-fn", headers={"X-Amz-Log-Type": "Tail"})
        inv.invoke("echo-fn", headers={"X-Amz-Client-Context": "eyJjdXN0b20iOnsiYSI6MX19"})
    for _ in range(5):
        st, body, _, _ = inv.invoke("echo-fn", headers={"X-Amz-Invocation-Type": "Event"})
        if st != 202:
            raise RuntimeError(f"Event invoke: HTTP {st} {body[:200]!r}")
    for path in ("/2015-03-31/functions/", "/2015-03-31/functions/echo-fn",
                 "/2015-03-31/functions/echo-fn/configuration", "/2019-09-25/functions/echo-fn/event-invoke-config",
                 "/2015-03-31/functions/missing"):
        inv.request("GET", path)
    # The events run, the reaper and the queue's timers tick.
    time.sleep(3)


def parse(path, binary):
    """Self instruction counts of the binary's functions in a callgrind profile."""
    cost = collections.Counter()
    ob = fn = None
    skip_next = False
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("ob="):
                ob = line[3:].strip()
            elif line.startswith("fn="):
                # `name'2`: callgrind's mark of a recursion level, not part of the symbol.
                fn = line[3:].strip().split("'")[0]
            elif line.startswith("calls="):
                skip_next = True  # the next cost line is the call's inclusive cost
            elif line[:1].isdigit() or line[:1] in "+-*":
                if skip_next:
                    skip_next = False
                    continue
                if fn and ob and os.path.realpath(ob) == binary and not fn.startswith("0x"):
                    parts = line.split()
                    if len(parts) >= 2 and parts[1].isdigit():
                        cost[fn] += int(parts[1])
                    else:
                        cost[fn] += 0
    return cost


# Below this share of its functions found in the binary, the order no longer describes the code.
STALE_BELOW = 0.9


def check(binary, order_file):
    """Says how many of the functions `order_file` lists the release `binary` still has.

    Names go stale when functions are added or renamed, and also when a dependency or one of its
    features changes (the crates' hashes in every mangled name change): the linker then places
    most of the code in the compiler's order and the idle RSS drifts back up by 1-2 MiB."""
    listed = [line.strip() for line in open(order_file) if line.strip()]
    nm = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True)
    if nm.returncode != 0 or not listed:
        C.log(f"# symbol order: cannot check ({nm.stderr.strip()[:200] or 'empty order file'})")
        return
    names = {line.split()[-1] for line in nm.stdout.splitlines() if line.strip()}
    found = sum(1 for name in listed if name in names)
    share = found / len(listed)
    C.log(f"# symbol order: {found} of the {len(listed)} functions {order_file} lists are in {binary}")
    if share < STALE_BELOW:
        C.log(f"# WARNING: the code order is stale ({share:.0%} found): regenerate it with "
              f"bench/symbol_order.py, or memory figures will be 1-2 MiB high")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(C.REPO, "crates", "cli", "symbol-order.txt"),
                    help="the order file: written, or with --check read")
    ap.add_argument("--check", action="store_true",
                    help="only say whether the built binary still has the listed functions")
    a = ap.parse_args()
    if a.check:
        check(os.path.realpath(C.invokd_bin()), a.out)
        return
    C.install_cleanup()
    C.ensure_built()
    out = C.out_dir("symbol-order")
    binary = os.path.realpath(C.invokd_bin())
    profile = os.path.join(out, "callgrind.out")
    prefix = ["valgrind", "--tool=callgrind", "--demangle=no", "--compress-strings=no", "--compress-pos=no",
              f"--callgrind-out-file={profile}"]
    # Spares execute /proc/self/exe, which under valgrind is valgrind itself.
    inv = C.Invokd(out, "invokd", extra=["--spare-processes", "0"], prefix=prefix, ready_s=120)
    try:
        exercise(inv)
    finally:
        C.stop_proc(inv.proc, grace=120)
    cost = parse(profile, binary)
    if len(cost) < 500:
        raise SystemExit(f"only {len(cost)} functions of {binary} in {profile}: was it built with symbols?")
    ranked = sorted(cost, key=lambda f: (-cost[f], f))
    with open(a.out, "w") as f:
        f.write("".join(name + "\n" for name in ranked))
    C.log(f"# {len(ranked)} functions, {sum(cost.values())} instructions; wrote {a.out}")


if __name__ == "__main__":
    main()
