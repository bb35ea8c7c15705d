#!/usr/bin/env python3
"""summarize.py — one Markdown report from a bench/run output directory.

Usage: bench/summarize.py OUT_DIR [--command "bench/run ..."]
Reads warm.json, cold.json, memory.json, cpu.json, events.json, variants.json, instructions.json (whichever exist) and prints the
report (bench/run also saves it as OUT_DIR/report.md). The full per-target table comes from
peer-bench's report.py (ratios vs relay-8).
"""
import argparse
import json
import os
import subprocess
import sys

import common as C
import cold as cold_mod
import cpu as cpu_mod
import instructions as instructions_mod
import events as events_mod
import memory as memory_mod
import variants as variants_mod

FN_COMMS = ("echo-fn", "rt-echo", "bootstrap")


def load(d, name):
    p = os.path.join(d, name)
    return json.load(open(p)) if os.path.exists(p) else None


def med(s, test, key):
    try:
        return s[test][key]["median"]
    except (KeyError, TypeError):
        return None


def server_us(s, test):
    """Server CPU per invoke from an invoke_bench summary: non-function cores / rps."""
    try:
        t = s[test]
        srv = sum(v["median"] for c, v in t["cpu_cores"].items() if c not in FN_COMMS)
        return srv / t["rps"]["median"] * 1e6
    except (KeyError, TypeError, ZeroDivisionError):
        return None


def warm_tables(w):
    s = w["summary"]
    tests = [t for t in next(iter(s.values())) if t != "memory_end"]
    names = [n for n in ("invokd", "relay-1", "relay-8", "invokd-rt-echo", "relay-8-rt-echo", "echo-http",
                         "cargo-lambda") if n in s]
    ratio = lambda a, b: "n/a" if not a or not b else f"{a / b:.2f}"
    out = []
    for key, label, fmt in (("rps", "throughput, req/s (median of rounds)", "{:.0f}"),
                            ("p50_us", "latency p50, µs (median of rounds)", "{:.0f}"),
                            ("p99_us", "latency p99, µs (median of rounds)", "{:.0f}")):
        out.append(f"**{label}**\n")
        hdr = "| test | " + " | ".join(names) + " | invokd ÷ relay-1 | invokd ÷ relay-8 | invokd-rt-echo ÷ relay-8-rt-echo |"
        out += [hdr, "|" + "---|" * (hdr.count("|") - 1)]
        for t in tests:
            v = {n: med(s.get(n, {}), t, key) for n in names}
            cells = ["n/a" if v[n] is None else fmt.format(v[n]) for n in names]
            out.append(f"| {t} | " + " | ".join(cells) + f" | {ratio(v.get('invokd'), v.get('relay-1'))} | "
                       f"{ratio(v.get('invokd'), v.get('relay-8'))} | "
                       f"{ratio(v.get('invokd-rt-echo'), v.get('relay-8-rt-echo'))} |")
        out.append("")
    out.append("**server CPU per invoke, µs** (server process cores ÷ req/s, from the same runs; function "
               "processes excluded)\n")
    hdr = "| test | " + " | ".join(names) + " |"
    out += [hdr, "|" + "---|" * (hdr.count("|") - 1)]
    for t in tests:
        cells = [server_us(s.get(n, {}), t) for n in names]
        out.append(f"| {t} | " + " | ".join("n/a" if c is None else f"{c:.1f}" for c in cells) + " |")
    out.append("")
    errs = {n: sum(med(s[n], t, "errors") or 0 for t in tests) for n in names}
    line = "errors (sum over tests of the median per test): " + ", ".join(f"{n} {e:.0f}" for n, e in errs.items())
    busy = [med(s[n], t, "machine_busy") for n in names for t in tests]
    busy = [b for b in busy if b is not None]
    if busy:
        line += f"; machine busy (1.00 = every core) during the runs: {min(busy):.2f}–{max(busy):.2f}"
    out.append(line)
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--command", default="bench/run")
    a = ap.parse_args()
    d = a.out
    w, cold, mem, cpu, ev, var, ins = (load(d, f) for f in ("warm.json", "cold.json", "memory.json", "cpu.json",
                                                          "events.json", "variants.json", "instructions.json"))
    m = (w or {}).get("extra", {}).get("machine") or C.machine_info()
    print(f"# invokd benchmark report\n")
    print(f"- date: {m['date']}")
    print(f"- machine: {m['nproc']} cores, {m['cpu_model']}, {m['mem_gib']} GiB, Linux {m['kernel']}; "
          f"load average at the start of the warm runs: {' '.join(w['loadavg_at_start']) if w else m['loadavg']}")
    rev_file = os.path.join(d, "revision.txt")
    rev = open(rev_file).read().strip() if os.path.exists(rev_file) else C.invokd_revision()
    print(f"- invokd: {rev}")
    print(f"- command: `{a.command}`; results in `{d}`")
    if w:
        args = w["args"]
        print(f"- warm runs: {args['rounds']} rounds, c=1 sequential ({args['latency_n']} invokes) and closed loop at "
              f"c={args['conc']} for {args['duration']:.0f} s each, all targets interleaved "
              f"({', '.join(w['extra']['targets'])}); took {w['extra']['wall_s']:.0f} s")
        cap = w["extra"].get("invokd_max_environments_per_function")
        print(f"- invokd environments per function: {f'at most {cap}' if cap else 'no cap (one per concurrent invoke)'}")
        print("\n## Warm invokes\n")
        print(warm_tables(w))
        print("\n### All targets (peer-bench report.py: min/median/max over rounds, ratios vs relay-8)\n")
        rep = subprocess.run([sys.executable, os.path.join(C.PEER_BENCH, "report.py"), "warm",
                              os.path.join(d, "warm.json"), "--ref", "relay-8"], capture_output=True, text=True)
        # report.py's first table; its per-process memory table is summarised below instead
        # (invokd keeps dozens of environments, one cell per process would be unreadable).
        print(rep.stdout.split("\n\n")[0])
        print("\n| target | server process RSS MiB | function processes | their RSS MiB, total |")
        print("|---|---|---|---|")
        for name, t in w["summary"].items():
            procs = t.get("memory_end") or []
            fns = [m for m in procs if m["comm"] in FN_COMMS]
            srv = [m for m in procs if m["comm"] not in FN_COMMS]
            srv_s = " + ".join("%.1f" % (m["rss_kb"] / 1024) for m in srv) or "n/a"
            print(f"| {name} | {srv_s} | {len(fns)} | {sum(m['rss_kb'] for m in fns) / 1024:.1f} |")
        print("\n(measured after the runs; invokd serves both invokd targets, so its row is the same twice)")
    else:
        print("\n## Warm invokes\n\nnot run")
    print("\n## Cold start\n")
    print(cold_mod.table(cold) if cold else "not run")
    print("\n## Memory\n")
    if mem:
        print(memory_mod.table(mem))
    if w:
        e = w["extra"]
        print(f"| after the warm runs (bench/warm.py) | {e['invokd_rss_after_load_kb'] / 1024:.1f} MiB | "
              f"{e['invokd_environments_after_load']} environments kept, their processes "
              f"{e['invokd_function_rss_after_load_kb'] / 1024:.1f} MiB RSS in total (not counted) |")
    if not mem and not w:
        print("not run")
    print("\n## Server CPU per invoke (fixed invoke count)\n")
    print(cpu_mod.table(cpu["rows"]) if cpu else "not run")
    print("\n## Server instructions per invoke (callgrind, deterministic)\n")
    print(instructions_mod.table(ins["rows"]) if ins else "not run")
    print("\n## Durable asynchronous (Event) invokes\n")
    print(events_mod.table(ev) if ev else "not run")
    print("\n## Invoke options against the plain invoke (LogType Tail, ClientContext, 6 MB)\n")
    print(variants_mod.table(var) if var else "not run")


if __name__ == "__main__":
    main()
