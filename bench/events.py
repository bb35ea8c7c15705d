#!/usr/bin/env python3
"""events.py — durable asynchronous (Event) invokes: acceptance rate and enqueue-to-start latency.

  accepted/s     closed-loop load of `X-Amz-Invocation-Type: Event` invokes at -c connections for
                 --duration s against an rt-echo function; counts 202 responses per second. invokd
                 group-commits events to SQLite with fsync before answering, so every 202 is on disk.
                 The server runs the accepted events at the same time (default 64 async workers):
                 the figure is acceptance while executing. After the load, the time until the queue
                 is empty (GET /_invokd/events) gives the drain rate. The same load is repeated on a
                 second invokd with --async-workers 1 (execution nearly held back: the enqueue path
                 alone). The fsync time of the data directory's filesystem is measured for context.
  enqueue->start --latency-n events sent one at a time (--pace ms apart) to a function whose
                 bootstrap (a tiny Python Runtime-API client) appends "seq start_ns" to a file the
                 moment GET /next returns the event; latency = start_ns - time the client read the
                 202 (and - time it sent the request). One environment is warmed first.
lbench cannot set request headers (it sends only Host and Content-Type), so the load comes from
an asyncio HTTP/1.1 client here (keep-alive, one request in flight per connection, like lbench);
its own CPU is reported: if it is near 1 core, the client was the bottleneck.

Usage: bench/events.py [--quick] [-c 32] [--duration 5] [--latency-n 100] [--pace 20]
Writes $BENCH_OUT/events.json and prints a table.
"""
import argparse
import asyncio
import json
import os
import resource
import sys
import time
import urllib.parse

import common as C

RECORDER = """#!{python}
# Runtime-API client for the enqueue-to-start benchmark: records when each event arrives.
import http.client, json, os, time
host = os.environ["AWS_LAMBDA_RUNTIME_API"]
out = open(os.environ["BENCH_RECORD"], "a", buffering=1)
c = http.client.HTTPConnection(host)
while True:
    c.request("GET", "/2018-06-01/runtime/invocation/next")
    r = c.getresponse()
    body = r.read()
    t = time.time_ns()
    rid = r.getheader("Lambda-Runtime-Aws-Request-Id")
    try:
        seq = json.loads(body).get("seq", -1)
    except Exception:
        seq = -1
    out.write(f"{{seq}} {{t}} {{rid}}\\n")
    c.request("POST", f"/2018-06-01/runtime/invocation/{{rid}}/response", body=b"{{}}")
    c.getresponse().read()
"""


async def load(port, fn, conc, duration, body):
    req = (f"POST /2015-03-31/functions/{fn}/invocations HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
           f"Content-Type: application/json\r\nX-Amz-Invocation-Type: Event\r\n"
           f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    statuses, lat, errors = {}, [], []
    start = asyncio.Event()
    t_end = [0.0]

    async def worker():
        r, w = await asyncio.open_connection("127.0.0.1", port)
        await start.wait()
        while time.monotonic() < t_end[0]:
            t = time.perf_counter()
            try:
                w.write(req)
                head = await r.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                st = int(lines[0].split()[1])
                n = 0
                for l in lines[1:]:
                    if l.lower().startswith("content-length:"):
                        n = int(l.split(":", 1)[1])
                if n:
                    await r.readexactly(n)
            except Exception as e:  # noqa: BLE001 - count and reconnect
                errors.append(repr(e))
                w.close()
                r, w = await asyncio.open_connection("127.0.0.1", port)
                continue
            statuses[st] = statuses.get(st, 0) + 1
            if st == 202:
                lat.append((time.perf_counter() - t) * 1e6)
        w.close()

    tasks = [asyncio.create_task(worker()) for _ in range(conc)]
    await asyncio.sleep(0.2)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    t_end[0] = t0 + duration
    start.set()
    await asyncio.gather(*tasks)
    wall = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return {"conc": conc, "duration_s": wall, "statuses": statuses, "accepted": statuses.get(202, 0),
            "accepted_per_s": statuses.get(202, 0) / wall, "p50_us": C.pct(lat, 0.5), "p99_us": C.pct(lat, 0.99),
            "max_us": max(lat) if lat else None, "errors": len(errors), "last_error": errors[-1] if errors else None,
            "client_cores": cpu / wall}


def fsync_floor(directory, n=50):
    """Median seconds of write(4 KiB) + fsync on the data directory's filesystem: the floor under
    one durable group commit (SQLite WAL, synchronous=FULL, syncs the WAL once per commit)."""
    path = os.path.join(directory, "bench-fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    v = []
    try:
        for _ in range(n):
            t = time.perf_counter()
            os.write(fd, b"x" * 4096)
            os.fsync(fd)
            v.append(time.perf_counter() - t)
    finally:
        os.close(fd)
        os.unlink(path)
    return C.median(v)


def accept_run(inv, conc, duration):
    """Event load against an rt-echo function; adds the server's CPU per accepted event."""
    inv.create_function("ev-sink", C.zip_bootstrap(C.tool("rt-echo")))
    st, _, _, _ = inv.invoke("ev-sink")
    if st != 200:
        raise RuntimeError(f"warm-up invoke of ev-sink: HTTP {st}")
    t0 = inv.cpu_ticks()
    r = asyncio.run(load(inv.port, "ev-sink", conc, duration, C.BODY.encode()))
    t1 = inv.cpu_ticks()
    r["server_cores"] = (t1 - t0) / C.CLK / r["duration_s"]
    r["server_us_per_accepted"] = (t1 - t0) / C.CLK / max(r["accepted"], 1) * 1e6
    C.log(f"events load c={conc} accepted={r['accepted']} accepted_per_s={r['accepted_per_s']:.0f} "
          f"p50_us={r['p50_us']} p99_us={r['p99_us']} statuses={r['statuses']} errors={r['errors']} "
          f"client_cores={r['client_cores']:.2f} server_cores={r['server_cores']:.2f}")
    return r


def queue_len(inv, fn):
    st, data, _ = inv.request("GET", "/_invokd/events?function=" + urllib.parse.quote(fn))
    if st != 200:
        raise RuntimeError(f"GET /_invokd/events: HTTP {st} {data[:200]!r}")
    d = json.loads(data)
    return len(d.get("Events", [])), len(d.get("DeadLetters", []))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("-c", type=int, default=32)
    ap.add_argument("--duration", type=float)
    ap.add_argument("--latency-n", type=int)
    ap.add_argument("--pace", type=float, default=20.0, help="ms between latency events")
    ap.add_argument("--drain-timeout", type=float, default=180.0)
    a = ap.parse_args()
    duration = a.duration or (2.0 if a.quick else 5.0)
    lat_n = a.latency_n or (20 if a.quick else 100)
    C.install_cleanup()
    C.ensure_built()
    out = C.out_dir("events")
    inv = C.Invokd(out, "invokd-events")
    res = {"data_dir_fs": os.popen(f"findmnt -n -o FSTYPE --target {inv.data_dir} 2>/dev/null || stat -f -c %T {inv.data_dir}").read().strip()}
    try:
        res["fsync_ms"] = fsync_floor(inv.data_dir) * 1000
        C.log(f"events fsync floor {res['fsync_ms']:.2f} ms on {res['data_dir_fs']}")
        # -- acceptance under load, while the server also runs the events (default workers)
        r = accept_run(inv, a.c, duration)
        t0 = time.monotonic()
        left, dead = queue_len(inv, "ev-sink")
        backlog = left
        while left and time.monotonic() - t0 < a.drain_timeout:
            time.sleep(0.5)
            left, dead = queue_len(inv, "ev-sink")
        drain_s = time.monotonic() - t0
        r.update({"backlog_at_end": backlog, "drain_s": drain_s, "left_after_drain": left, "dead_letters": dead,
                  "executed_per_s": r["accepted"] / (duration + drain_s)})
        C.log(f"events drain backlog={backlog} drain_s={drain_s:.1f} left={left} dead_letters={dead}")
        res["load"] = r

        # -- enqueue -> start latency
        record = os.path.join(out, "events-record.txt")
        open(record, "w").close()
        inv.create_function("ev-rec", C.zip_bootstrap(text=RECORDER.format(python=sys.executable)),
                            env={"BENCH_RECORD": record})
        st, body, _, _ = inv.invoke("ev-rec", json.dumps({"seq": -1}))  # start one environment
        assert st == 200, (st, body)
        sent = {}
        for i in range(lat_n):
            t_send = time.time_ns()
            st, body, _, _ = inv.invoke("ev-rec", json.dumps({"seq": i}), {"X-Amz-Invocation-Type": "Event"})
            t_ack = time.time_ns()
            if st != 202:
                raise RuntimeError(f"Event invoke: HTTP {st} {body[:200]!r}")
            sent[i] = (t_send, t_ack)
            time.sleep(a.pace / 1000)
        starts = {}
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60:
            starts = {}
            for line in open(record):
                p = line.split()
                if len(p) >= 2 and int(p[0]) >= 0:
                    starts.setdefault(int(p[0]), int(p[1]))
            if len(starts) >= lat_n:
                break
            time.sleep(0.2)
        from_ack = [(starts[i] - sent[i][1]) / 1000 for i in starts if i in sent]
        from_send = [(starts[i] - sent[i][0]) / 1000 for i in starts if i in sent]
        res["latency"] = {"n": lat_n, "started": len(starts), "pace_ms": a.pace,
                          "from_ack_p50_us": C.pct(from_ack, 0.5), "from_ack_p90_us": C.pct(from_ack, 0.9),
                          "from_ack_max_us": max(from_ack) if from_ack else None,
                          "from_send_p50_us": C.pct(from_send, 0.5), "from_send_p90_us": C.pct(from_send, 0.9),
                          "function_processes_total": len(inv.function_pids())}
        C.log(f"events latency {json.dumps(res['latency'])}")
    finally:
        inv.stop()
    # -- acceptance with execution held to one event at a time (--async-workers 1): how much of
    # the figure above is the enqueue path itself. The backlog is left queued (and discarded).
    inv = C.Invokd(out, "invokd-events-1worker", extra=["--async-workers", "1"])
    try:
        res["load_1worker"] = accept_run(inv, a.c, duration)
    finally:
        inv.stop()
    C.write_json(os.path.join(out, "events.json"), res)
    print(table(res))


def table(e):
    ld, lt, l1 = e["load"], e["latency"], e.get("load_1worker")

    def acc_row(label, r):
        other = {k: v for k, v in r["statuses"].items() if str(k) != "202"}
        return (f"| {label} | {r['accepted_per_s']:.0f} | {r['accepted']} in {r['duration_s']:.1f} s; 202 latency p50 "
                f"{fmt_us(r['p50_us'])}, p99 {fmt_us(r['p99_us'])}; server {r['server_cores']:.2f} cores = "
                f"{r['server_us_per_accepted']:.0f} µs CPU per accepted event; other statuses {other or 'none'}, "
                f"connection errors {r['errors']}; client {r['client_cores']:.2f} cores |")

    rows = ["| durable Event invokes | value | notes |", "|---|---|---|",
            acc_row(f"accepted (202) per second, c={ld['conc']}, events run meanwhile (64 async workers)", ld)]
    if l1:
        rows.append(acc_row(f"accepted (202) per second, c={l1['conc']}, --async-workers 1", l1))
    rows += [
        f"| fsync floor of the data dir ({e['data_dir_fs']}) | {e['fsync_ms']:.2f} ms | write 4 KiB + fsync, median "
        f"of 50: one group commit per fsync with up to c={ld['conc']} events each would allow "
        f"≈ {ld['conc'] / e['fsync_ms'] * 1000:.0f}/s |",
        f"| queue drained after the load | {ld['drain_s']:.1f} s | backlog {ld['backlog_at_end']} events when the load "
        f"stopped; {ld['executed_per_s']:.0f} events run/s overall; left {ld['left_after_drain']}, dead letters "
        f"{ld['dead_letters']} |",
        f"| enqueue -> function start, p50 | {fmt_us(lt['from_ack_p50_us'])} | from the client reading the 202; "
        f"p90 {fmt_us(lt['from_ack_p90_us'])}, max {fmt_us(lt['from_ack_max_us'])}; from sending the request p50 "
        f"{fmt_us(lt['from_send_p50_us'])}; {lt['started']}/{lt['n']} events, one every {lt['pace_ms']:.0f} ms, warm |",
    ]
    return "\n".join(rows)


def fmt_us(v):
    return "n/a" if v is None else (f"{v / 1000:.2f} ms" if abs(v) >= 1000 else f"{v:.0f} µs")


if __name__ == "__main__":
    main()
