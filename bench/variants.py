#!/usr/bin/env python3
"""variants.py — what Invoke's options cost against the plain invoke of the same size.

  plain          50-byte JSON, no options (the baseline of the small variants)
  tail           the same with X-Amz-Log-Type: Tail (the last 4 KB of log, base64, in a header)
  client-context the same with X-Amz-Client-Context (base64 JSON, decoded for the runtime)
  plain-6mb      a 6,000,010-byte JSON string, echoed back (the baseline of the large variant)
  tail-6mb       the same with Tail

One invokd serving the `echo-fn` function; one keep-alive HTTP/1.1 connection sending invokes one
after another (`lbench` cannot send headers, so this client is Python's http.client: its own cost
is in every figure alike, which dilutes the differences, never hides one). Rounds interleave the
variants; each reports the median over rounds of the per-round p50 latency and of the server's CPU
per invoke (utime+stime of the invokd process over the round's invokes). Every answer is checked:
status 200, the echo byte-identical, a LogResult exactly when asked for.

Usage: bench/variants.py [--quick] [--rounds 3] [-n 2000] [--n-large 60]
Writes $BENCH_OUT/variants.json and prints a table.
"""
import argparse
import base64
import http.client
import json
import os
import time

import common as C

SMALL = b'{"key1":"value1","key2":"value2","key3":"value3"}'
LARGE = b'{"d":"' + b"x" * 6_000_000 + b'"}'
# No "client": lambda_runtime requires every field of ClientApplication once the key is present.
CONTEXT = base64.b64encode(json.dumps({"custom": {"k": "v"}, "env": {"locale": "en"}}).encode()).decode()

VARIANTS = [
    ("plain", SMALL, {}),
    ("tail", SMALL, {"X-Amz-Log-Type": "Tail"}),
    ("client-context", SMALL, {"X-Amz-Client-Context": CONTEXT}),
    ("plain-6mb", LARGE, {}),
    ("tail-6mb", LARGE, {"X-Amz-Log-Type": "Tail"}),
]
BASELINE = {"plain": "plain", "tail": "plain", "client-context": "plain", "plain-6mb": "plain-6mb", "tail-6mb": "plain-6mb"}


def run(inv, body, headers, n):
    conn = http.client.HTTPConnection("127.0.0.1", inv.port, timeout=60)
    path = "/2015-03-31/functions/echo/invocations"
    h = {"Content-Type": "application/json", **headers}
    lat = []
    t0 = C.cpu_ticks(inv.pid)
    try:
        for _ in range(n):
            start = time.perf_counter()
            conn.request("POST", path, body=body, headers=h)
            resp = conn.getresponse()
            got = resp.read()
            lat.append(time.perf_counter() - start)
            if resp.status != 200 or got != body:
                raise RuntimeError(f"bad answer: {resp.status} {got[:200]!r}")
            if ("X-Amz-Log-Type" in headers) != (resp.getheader("X-Amz-Log-Result") is not None):
                raise RuntimeError("X-Amz-Log-Result present exactly when Tail was asked for: no")
    finally:
        conn.close()
    ticks = C.cpu_ticks(inv.pid) - t0
    lat.sort()
    return {"p50_us": lat[len(lat) // 2] * 1e6, "cpu_us": ticks / C.CLK * 1e6 / n}


def table(res):
    rows = ["| variant | p50 µs | ÷ plain of its size | server CPU µs/invoke | ÷ plain of its size | invokes per round |",
            "|---|---|---|---|---|---|"]
    v = res["variants"]
    for name, _, _ in VARIANTS:
        r, b = v[name], v[BASELINE[name]]
        rows.append(f"| {name} | {r['p50_us']:.0f} | {r['p50_us'] / b['p50_us']:.2f} | {r['cpu_us']:.1f} | "
                    f"{r['cpu_us'] / b['cpu_us']:.2f} | {r['n']} |")
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("-n", type=int)
    ap.add_argument("--n-large", type=int)
    a = ap.parse_args()
    rounds = a.rounds or (1 if a.quick else 3)
    n_small = a.n or (300 if a.quick else 2000)
    n_large = a.n_large or (10 if a.quick else 60)
    C.install_cleanup()
    C.ensure_built()
    out = C.out_dir("variants")
    inv = C.Invokd(out, "invokd-variants", verbose=False)
    try:
        inv.create_function("echo", C.zip_bootstrap(C.echo_fn_bin()))
        for name, body, headers in VARIANTS:  # warm up, and check every variant once
            run(inv, body, headers, 20 if len(body) < 1000 else 2)
        per = {name: [] for name, _, _ in VARIANTS}
        for r in range(rounds):
            order = VARIANTS[r % len(VARIANTS):] + VARIANTS[:r % len(VARIANTS)]
            for name, body, headers in order:
                n = n_small if len(body) < 1000 else n_large
                m = run(inv, body, headers, n)
                per[name].append(m)
                C.log(f"round={r + 1} variant={name} n={n} p50_us={m['p50_us']:.0f} cpu_us={m['cpu_us']:.1f}")
        res = {"variants": {name: {"p50_us": C.median([m["p50_us"] for m in ms]),
                                   "cpu_us": C.median([m["cpu_us"] for m in ms]),
                                   "n": n_small if BASELINE[name] == "plain" else n_large}
                            for name, ms in per.items()},
               "rounds": rounds}
    finally:
        inv.stop()
    C.write_json(os.path.join(out, "variants.json"), res)
    print(table(res))


if __name__ == "__main__":
    main()
