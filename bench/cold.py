#!/usr/bin/env python3
"""cold.py — cold starts of invokd, against the relay's spawn cold start and the process-spawn floor.

  create_first   CreateFunction (upload of the zip included) -> first response of the new function,
                 --repeat new functions on one invokd; reported as create ms + first invoke ms.
                 For echo-fn (lambda_runtime) and rt-echo (cheapest runtime).
  reaped         invokd with --idle-timeout 1: invoke once, wait until the idle environment has
                 been reaped (its function process has exited: /proc/PID gone or a zombie), then
                 time the next invoke, which must start a new environment. --repeat cycles.
  relay --spawn  peer-bench's cold_bench.py on a fresh relay that spawns the function on the first
                 invoke (echo-fn and rt-echo): the floor of a process cold start behind the Invoke API.
  cargo-lambda   the peer's first invoke with `cargo lambda watch --wait` (function started on the
                 first invoke), fresh per repetition, if cargo-lambda is installed.
  spawn floor    peer-bench's spawn_floor.sh (hyperfine: spawn+exec+exit of /bin/true and tiny
                 binaries), if hyperfine is installed.
First invokes are timed by lbench (`-c 1 -n 1`: includes the TCP connect, like cold_bench.py).

Usage: bench/cold.py [--quick] [--repeat 5]
Writes $BENCH_OUT/cold.json (+ cold-relay-*.json, cold-cargo-lambda.json, spawn-floor.json) and prints a table.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import common as C
from invoke_bench import run_lbench  # peer-bench


def first_invoke_ms(endpoint, fn):
    r = run_lbench(f"{endpoint}/2015-03-31/functions/{fn}/invocations",
                   ["-c", "1", "-n", "1", "--check-echo", "--timeout", "60"], C.BODY)
    if r["ok"] != 1 or r["mismatches"]:
        raise RuntimeError(f"cold invoke of {fn} failed: {r}")
    return r["first_us"] / 1000


def warm_p50_ms(endpoint, fn, n=200):
    r = run_lbench(f"{endpoint}/2015-03-31/functions/{fn}/invocations", ["-c", "1", "-n", str(n), "--warmup", "5"],
                   C.BODY)
    return r["p50_us"] / 1000


def create_first(out, repeat):
    inv = C.Invokd(out, "invokd-cold-create")
    res = {}
    try:
        for label, binary in (("echo-fn", C.echo_fn_bin()), ("rt-echo", C.tool("rt-echo"))):
            z = C.zip_bootstrap(binary)
            rows = []
            for i in range(repeat):
                name = f"cold-{label}-{i}"
                t0 = time.perf_counter()
                inv.create_function(name, z)
                create_ms = (time.perf_counter() - t0) * 1000
                first_ms = first_invoke_ms(inv.endpoint, name)
                rows.append({"create_ms": create_ms, "first_invoke_ms": first_ms, "total_ms": create_ms + first_ms})
                C.log(f"create_first {label} rep={i + 1} create_ms={create_ms:.2f} first_invoke_ms={first_ms:.2f}")
            res[label] = {"runs": rows, "zip_kib": round(len(z) * 3 / 4 / 1024),
                          **{k: C.median([r[k] for r in rows]) for k in ("create_ms", "first_invoke_ms", "total_ms")}}
            res[label]["warm_p50_ms"] = warm_p50_ms(inv.endpoint, f"cold-{label}-0")
    finally:
        inv.stop()
    return res


def wait_gone(pids, timeout=15.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if not any(C.alive(p) for p in pids):
            return time.monotonic() - t0
        time.sleep(0.02)
    return None


def reaped(out, repeat):
    inv = C.Invokd(out, "invokd-cold-reaped", extra=["--idle-timeout", "1"])
    res = {}
    try:
        for label, binary in (("echo-fn", C.echo_fn_bin()), ("rt-echo", C.tool("rt-echo"))):
            name = f"reap-{label}"
            inv.create_function(name, C.zip_bootstrap(binary))
            before = set(inv.function_pids())
            first_invoke_ms(inv.endpoint, name)  # the very first cold start (not counted)
            rows = []
            for i in range(repeat):
                pids = [p for p in inv.function_pids() if p not in before]
                if not pids:
                    raise RuntimeError(f"no function process of {name} found under invokd pid {inv.pid}")
                waited = wait_gone(pids)
                if waited is None:
                    raise RuntimeError(f"environment of {name} (pids {pids}) was not reaped within 15 s "
                                       f"with --idle-timeout 1")
                ms = first_invoke_ms(inv.endpoint, name)
                rows.append({"reap_wait_s": waited, "cold_ms": ms})
                C.log(f"reaped {label} rep={i + 1} reaped_after_s={waited:.2f} cold_ms={ms:.2f}")
            res[label] = {"runs": rows, "cold_ms": C.median([r["cold_ms"] for r in rows]),
                          "reap_wait_s": C.median([r["reap_wait_s"] for r in rows])}
    finally:
        inv.stop()
    return res


def relay_spawn(out, repeat):
    res = {}
    env = dict(os.environ, LBENCH=C.tool("lbench"))
    for label, binary in (("echo-fn", C.echo_fn_bin()), ("rt-echo", C.tool("rt-echo"))):
        path = os.path.join(out, f"cold-relay-spawn-{label}.json")
        cmd = [sys.executable, os.path.join(C.PEER_BENCH, "cold_bench.py"), "--repeat", str(repeat),
               "--function", label, "--port", str(C.free_port()), "--json-out", path,
               "--start-cmd", f"exec {C.tool('relay')} --addr 127.0.0.1:{{port}} --spawn {binary} "
                              f"--function-name {label} --max-instances 1"]
        C.log("# " + " ".join(cmd))
        subprocess.run(cmd, env=env, check=True)
        s = json.load(open(path))["summary"]
        res[label] = {"cold_ms": s["cold_ms"]["median"], "warm_p50_ms": s["warm_p50_ms"]["median"], "json": path}
    return res


def cargo_lambda_cold(out, repeat):
    """The peer's cold start: `cargo lambda watch --wait` starts the function on its first invoke
    (peer-bench cold_bench.py, a fresh emulator per repetition). None when cargo-lambda is not
    installed."""
    if not shutil.which("cargo-lambda"):
        C.log("# cargo-lambda is not installed: its cold start is not measured")
        return None
    env = dict(os.environ, LBENCH=C.tool("lbench"),
               FN_DIR=os.path.join(C.PEER_BENCH, "functions", "echo-fn"),
               CARGO_TARGET_DIR=os.environ.get("CARGO_LAMBDA_TARGET", "/tmp/echo-fn-cargo-lambda-target"),
               RUST_LOG=os.environ.get("RUST_LOG", "warn"))
    path = os.path.join(out, "cold-cargo-lambda.json")
    start = f"exec {os.path.join(C.PEER_BENCH, 'peer_cargo_lambda.sh')} {{port}} 1 --wait"

    def run(n, json_out):
        cmd = [sys.executable, os.path.join(C.PEER_BENCH, "cold_bench.py"), "--repeat", str(n),
               "--function", "echo-fn", "--port", str(C.free_port()), "--json-out", json_out,
               "--ready-timeout", "900", "--start-cmd", start]
        C.log("# " + " ".join(cmd))
        subprocess.run(cmd, env=env, check=True)

    # Once unrecorded: the first start may compile the function into CARGO_TARGET_DIR.
    run(1, os.path.join(out, "cold-cargo-lambda-warmup.json"))
    run(repeat, path)
    s = json.load(open(path))["summary"]
    return {"cold_ms": s["cold_ms"]["median"], "warm_p50_ms": s["warm_p50_ms"]["median"], "json": path}


def spawn_floor(out, quick):
    if not shutil.which("hyperfine"):
        C.log("# hyperfine is not installed: spawn floor skipped (Debian/Ubuntu: apt-get install hyperfine)")
        return None
    path = os.path.join(out, "spawn-floor.json")
    env = dict(os.environ, BENCH_TARGET_DIR=C.BENCH_TARGET_DIR, RUNS="100" if quick else "300", OUT_JSON=path)
    subprocess.run([os.path.join(C.PEER_BENCH, "spawn_floor.sh")], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    res = {}
    for r in json.load(open(path))["results"]:
        res[os.path.basename(r["command"])] = r["median"] * 1000
    return res


def table(res):
    rows = ["| cold start | median ms | notes |", "|---|---|---|"]
    for fn, v in res["create_first"].items():
        rows.append(f"| invokd CreateFunction -> first response ({fn}) | {v['total_ms']:.1f} | "
                    f"create {v['create_ms']:.1f} + first invoke {v['first_invoke_ms']:.1f}; zip {v['zip_kib']} KiB; "
                    f"warm p50 afterwards {v['warm_p50_ms']:.3f} |")
    for fn, v in res["reaped"].items():
        rows.append(f"| invokd first invoke after the idle environment was reaped ({fn}) | {v['cold_ms']:.1f} | "
                    f"--idle-timeout 1; process gone {v['reap_wait_s']:.1f} s after the wait began |")
    for fn, v in res["relay_spawn"].items():
        rows.append(f"| relay --spawn first invoke ({fn}) | {v['cold_ms']:.1f} | peer-bench cold_bench.py; "
                    f"warm p50 {v['warm_p50_ms']:.3f} |")
    if res.get("cargo_lambda"):
        v = res["cargo_lambda"]
        rows.append(f"| cargo-lambda first invoke (echo-fn, `cargo lambda watch --wait`) | {v['cold_ms']:.1f} | "
                    f"peer-bench cold_bench.py; warm p50 {v['warm_p50_ms']:.3f} |")
    if res.get("spawn_floor"):
        for cmd, ms in res["spawn_floor"].items():
            rows.append(f"| spawn+exec+exit {cmd} | {ms:.2f} | peer-bench spawn_floor.sh (hyperfine) |")
    else:
        rows.append("| spawn+exec+exit floor | n/a | hyperfine not installed |")
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int)
    a = ap.parse_args()
    repeat = a.repeat or (3 if a.quick else 5)
    C.install_cleanup()
    C.ensure_built()
    out = C.out_dir("cold")
    res = {"repeat": repeat}
    res["create_first"] = create_first(out, repeat)
    res["reaped"] = reaped(out, repeat)
    res["relay_spawn"] = relay_spawn(out, repeat)
    res["cargo_lambda"] = cargo_lambda_cold(out, repeat)
    res["spawn_floor"] = spawn_floor(out, a.quick)
    C.write_json(os.path.join(out, "cold.json"), res)
    print(table(res))


if __name__ == "__main__":
    main()
