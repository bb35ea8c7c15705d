#!/usr/bin/env python3
"""warm.py — warm invoke latency and throughput of invokd vs the physical-limit baselines,
every target interleaved in one run (peer-bench's invoke_bench.py, rounds rotate the order).

Targets
  invokd           invokd serving the lambda_runtime echo function (echo-fn binary as bootstrap)
  invokd-rt-echo   invokd serving rt-echo (cheapest runtime: isolates the server's cost)
  relay-1          relay (Invoke API + one Runtime-API handoff), 1 echo-fn instance
  relay-8          relay, up to 8 echo-fn instances
  relay-8-rt-echo  relay, up to 8 rt-echo instances (the floor for invokd-rt-echo)
  echo-http        one HTTP exchange, no function at all
  cargo-lambda     the peer (`cargo lambda watch`, concurrency 8), only if cargo-lambda is installed
Tests: c=1 sequential latency (--latency-n invokes), closed-loop load at each of --conc.
invokd runs with --max-environments-per-function 8 (--max-environments), so that at c=32 it
queues onto at most 8 environments like relay-8 and cargo-lambda; 0 lifts the cap (AWS's own
behaviour: one environment per concurrent invoke, so c=32 runs 32).

Usage: bench/warm.py [--quick] [--rounds 3] [--duration 10] [--conc 8,32] [--latency-n 2000]
                     [--no-cargo-lambda] [--max-environments 8]
Writes $BENCH_OUT/warm.json (invoke_bench.py's JSON plus "extra": invokd memory after the
runs and the environment count) and prints report.py's table.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import common as C


def start_baselines(out):
    """peer-bench's start_baselines.sh: echo-http, relay-1, relay-8 (echo-fn). Returns {name: pid}."""
    ports = {k: C.free_port() for k in ("echo", "relay1", "relayn")}
    env = dict(os.environ, BENCH_TARGET_DIR=C.BENCH_TARGET_DIR, FN_BIN=C.echo_fn_bin(), FN_NAME="echo-fn",
               LOG_DIR=out, ECHO_ADDR=f"127.0.0.1:{ports['echo']}", RELAY_ADDR=f"127.0.0.1:{ports['relay1']}",
               RELAY_N_ADDR=f"127.0.0.1:{ports['relayn']}", RELAY_N="8")
    # Its own process group: the servers it backgrounds stay in it, so one killpg stops them all.
    p = subprocess.Popen([os.path.join(C.PEER_BENCH, "start_baselines.sh")], env=env, stdout=subprocess.PIPE,
                         text=True, start_new_session=True)
    C._started.append(p)  # the group leader: stop_proc() kills the whole group at exit
    lines = p.stdout.read().split()
    p.wait()
    pids = dict(zip(lines[0::2], map(int, lines[1::2])))
    for port in ports.values():
        C.wait_listen(port, 30)
    return {
        "echo-http": (f"http://127.0.0.1:{ports['echo']}", pids["echo-http"]),
        "relay-1": (f"http://127.0.0.1:{ports['relay1']}", pids["relay-1"]),
        "relay-8": (f"http://127.0.0.1:{ports['relayn']}", pids["relay-n"]),
    }, p


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 round, 2 s loads: a smoke test")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--duration", type=float)
    ap.add_argument("--conc", default="8,32")
    ap.add_argument("--latency-n", type=int)
    ap.add_argument("--no-cargo-lambda", action="store_true")
    ap.add_argument("--max-environments", type=int, default=8,
                    help="invokd's --max-environments-per-function; 0: no cap")
    a = ap.parse_args()
    rounds = a.rounds or (1 if a.quick else 3)
    duration = a.duration or (2.0 if a.quick else 10.0)
    latency_n = a.latency_n or (300 if a.quick else 2000)
    prewarm = 1.0 if a.quick else 3.0

    C.install_cleanup()
    C.ensure_built()
    out = C.out_dir("warm")

    cap = ["--max-environments-per-function", str(a.max_environments)] if a.max_environments else []
    inv = C.Invokd(out, "invokd", extra=cap)
    inv.create_function("echo-fn", C.zip_bootstrap(C.echo_fn_bin()))
    inv.create_function("rt-echo", C.zip_bootstrap(C.tool("rt-echo")))
    C.log(f"# invokd pid={inv.pid} {inv.endpoint} data={inv.data_dir} log={inv.log_path}")

    base, _ = start_baselines(out)
    rt_port = C.free_port()
    relay_rt = C.spawn([C.tool("relay"), "--addr", f"127.0.0.1:{rt_port}", "--spawn", C.tool("rt-echo"),
                        "--function-name", "rt-echo", "--max-instances", "8"], os.path.join(out, "relay-8-rt-echo.log"))
    C.wait_listen(rt_port, 30, relay_rt)

    targets = [
        ("invokd", inv.endpoint, "echo-fn", inv.pid),
        ("relay-1", base["relay-1"][0], "echo-fn", base["relay-1"][1]),
        ("relay-8", base["relay-8"][0], "echo-fn", base["relay-8"][1]),
        ("echo-http", base["echo-http"][0], "echo-fn", base["echo-http"][1]),
        ("invokd-rt-echo", inv.endpoint, "rt-echo", inv.pid),
        ("relay-8-rt-echo", f"http://127.0.0.1:{rt_port}", "rt-echo", relay_rt.pid),
    ]

    cl = shutil.which("cargo-lambda")
    if cl and not a.no_cargo_lambda:
        cl_port = C.free_port()
        env = dict(os.environ, FN_DIR=os.path.join(C.PEER_BENCH, "functions", "echo-fn"),
                   CARGO_TARGET_DIR=os.environ.get("CARGO_LAMBDA_TARGET", "/tmp/echo-fn-cargo-lambda-target"),
                   RUST_LOG=os.environ.get("RUST_LOG", "warn"))
        p = C.spawn([os.path.join(C.PEER_BENCH, "peer_cargo_lambda.sh"), str(cl_port), "8"],
                    os.path.join(out, "cargo-lambda.log"), env=env)
        C.wait_listen(cl_port, 600, p)
        targets.append(("cargo-lambda", f"http://127.0.0.1:{cl_port}", "echo-fn", p.pid))
        C.log(f"# cargo-lambda peer pid={p.pid} port={cl_port}")
    elif not a.no_cargo_lambda:
        C.log("# cargo-lambda is not installed: the peer is left out. To include it:\n"
              "#   cargo install cargo-lambda --locked   (about 20 minutes on 2 cores; set CARGO_TARGET_DIR\n"
              "#   to a cache outside the repo, e.g. CARGO_TARGET_DIR=~/.cache/cargo-lambda-build)")

    cmd = [sys.executable, os.path.join(C.PEER_BENCH, "invoke_bench.py"), "--rounds", str(rounds),
           "--duration", str(duration), "--conc", a.conc, "--latency-n", str(latency_n),
           "--prewarm", str(prewarm), "--json-out", os.path.join(out, "warm.json")]
    for name, ep, fn, pid in targets:
        cmd += ["--target", f"{name}={ep}@{fn}#{pid}"]
    env = dict(os.environ, LBENCH=C.tool("lbench"))
    C.log("# " + " ".join(cmd))
    t0 = time.time()
    r = subprocess.run(cmd, env=env)
    if r.returncode != 0:
        C.log(f"# invoke_bench.py failed (exit {r.returncode}); invokd log tail:\n{inv.log_tail()}")
        sys.exit(1)

    # invokd after the load runs: its own RSS, and the environments it kept
    fn_pids = inv.function_pids()
    extra = {
        "invokd_rss_after_load_kb": inv.rss_kb(),
        "invokd_environments_after_load": len(fn_pids),
        "invokd_max_environments_per_function": a.max_environments or None,
        "invokd_function_rss_after_load_kb": sum(C.rss_kb(p) or 0 for p in fn_pids),
        "wall_s": round(time.time() - t0, 1),
        "machine": C.machine_info(),
        "targets": [t[0] for t in targets],
    }
    path = os.path.join(out, "warm.json")
    data = json.load(open(path))
    data["extra"] = extra
    C.write_json(path, data)
    C.log(f"# invokd after the runs: rss={extra['invokd_rss_after_load_kb'] / 1024:.1f} MiB, "
          f"{extra['invokd_environments_after_load']} environments")
    subprocess.run([sys.executable, os.path.join(C.PEER_BENCH, "report.py"), "warm", path, "--ref", "relay-8"])
    leftovers = inv.stop()
    if leftovers:
        C.log(f"# WARNING: function processes left after invokd stopped: {leftovers}")


if __name__ == "__main__":
    main()
