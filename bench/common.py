"""Shared helpers of the invokd benchmark scripts (stdlib only).

Where things are (every path overridable by environment variable):
  PEER_BENCH        the peer-bench harness (lbench, relay, rt-echo, echo-fn, report.py ...)
                    default: <repo>/../shared/peer-bench
  BENCH_TARGET_DIR  where peer-bench's build.sh puts its tools (default /tmp/lambda-bench-target)
  ECHO_FN_TARGET    CARGO_TARGET_DIR of the echo-fn function (default /tmp/echo-fn-target)
  INVOKD_TARGET_DIR CARGO_TARGET_DIR of invokd (default: the workspace's own target/, or
                    /tmp/invokd-bench-target when INVOKD_REV is set)
  INVOKD_REV        benchmark this commit (bench/build exports it with git archive) instead of
                    the working tree
  INVOKD_BIN        the invokd binary (default $INVOKD_TARGET_DIR/release/invokd)
  BENCH_OUT         where results are written (default /tmp/invokd-bench/<script>-<time>)
  BENCH_NO_BUILD=1  do not run bench/build first (bench/run builds once and sets this)

Every process a script starts is registered here and stopped (SIGTERM to its process group,
SIGKILL after a grace period) on normal exit, on an exception, and on SIGINT/SIGTERM.
"""
import base64
import http.client
import io
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
PEER_BENCH = os.path.abspath(os.environ.get("PEER_BENCH") or os.path.join(REPO, "..", "shared", "peer-bench"))
BENCH_TARGET_DIR = os.environ.get("BENCH_TARGET_DIR", "/tmp/lambda-bench-target")
ECHO_FN_TARGET = os.environ.get("ECHO_FN_TARGET", "/tmp/echo-fn-target")
INVOKD_TARGET_DIR = os.environ.get("INVOKD_TARGET_DIR") or (
    "/tmp/invokd-bench-target" if os.environ.get("INVOKD_REV") else os.path.join(REPO, "target"))
CLK = os.sysconf("SC_CLK_TCK")
BODY = '{"key1":"value1","key2":"value2","key3":"value3"}'
ROLE = "arn:aws:iam::123456789012:role/bench"

# peer-bench's modules (run_lbench, mem_tree, ...) are reused, never copied.
sys.path.insert(0, PEER_BENCH)


def tool(name):
    """A binary built by peer-bench's build.sh."""
    return os.path.join(BENCH_TARGET_DIR, "release", name)


def invokd_bin():
    return os.environ.get("INVOKD_BIN") or os.path.join(INVOKD_TARGET_DIR, "release", "invokd")


def echo_fn_bin():
    return os.path.join(ECHO_FN_TARGET, "release", "echo-fn")


def ensure_built():
    """Runs bench/build (idempotent: cargo is a no-op when nothing changed) unless BENCH_NO_BUILD=1."""
    if os.environ.get("BENCH_NO_BUILD") == "1":
        missing = [p for p in (invokd_bin(), echo_fn_bin(), tool("lbench"), tool("rt-echo")) if not os.path.exists(p)]
        if missing:
            sys.exit(f"missing binaries {missing}: run bench/build")
        return
    subprocess.run([os.path.join(BENCH_DIR, "build")], check=True)


def out_dir(script):
    d = os.environ.get("BENCH_OUT") or os.path.join(
        "/tmp/invokd-bench", f"{script}-{time.strftime('%Y%m%d-%H%M%S')}")
    os.makedirs(d, exist_ok=True)
    return d


def log(*a):
    print(*a, flush=True)


# ---------------------------------------------------------------- process bookkeeping
_started = []  # Popen objects, each the leader of its own process group
_data_dirs = []  # temporary invokd data directories, removed at exit


def _stop_all():
    while _started:
        stop_proc(_started.pop())
    _reap_orphans()
    import shutil
    while _data_dirs:
        shutil.rmtree(_data_dirs.pop(), ignore_errors=True)


def _reap_orphans():
    """Collects orphans handed to us as child subreaper (e.g. the servers start_baselines.sh
    backgrounds and leaves), so none is left as a zombie."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.1)
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return


def stop_proc(p, grace=10.0):
    """SIGTERM the process group (graceful shutdown), SIGKILL after `grace` s, reap.

    Also works when the leader already exited but left members (start_baselines.sh)."""
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    if p.poll() is None:
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            log(f"# pid {p.pid} ignored SIGTERM for {grace}s: SIGKILL")
    else:
        time.sleep(0.3)
    try:  # anything left in the group
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    p.wait()
    if p in _started:
        _started.remove(p)


def _on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def install_cleanup():
    import atexit
    import ctypes
    try:  # PR_SET_CHILD_SUBREAPER: orphaned descendants become our children, so we can reap them
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    atexit.register(_stop_all)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)


def spawn(cmd, log_path, env=None, cwd=None):
    """Starts cmd (a list) in its own session/process group, output to log_path."""
    lf = open(log_path, "ab")
    p = subprocess.Popen(cmd, stdout=lf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True, env=env, cwd=cwd)
    lf.close()
    _started.append(p)
    return p


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listen(port, timeout=60.0, proc=None):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.pid} exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return time.monotonic() - t0
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


# ---------------------------------------------------------------- /proc
def proc_stat(pid):
    """(state, ppid, utime+stime ticks, comm) or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    rp = s.rfind(")")
    comm = s[s.find("(") + 1: rp]
    fields = s[rp + 2:].split()
    return fields[0], int(fields[1]), int(fields[11]) + int(fields[12]), comm


def cpu_ticks(pid):
    st = proc_stat(pid)
    return st[2] if st else None


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def exe(pid):
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def children(pid):
    """Live (non-zombie) descendants of pid."""
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st and st[0] != "Z":
                kids.setdefault(st[1], []).append(int(d))
    out, stack = [], list(kids.get(pid, []))
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(kids.get(p, []))
    return out


def alive(pid):
    st = proc_stat(pid)
    return st is not None and st[0] != "Z"


def invokd_revision():
    """What is being measured: the commit (and whether the working tree differs from it)."""
    rev = os.environ.get("INVOKD_REV")
    try:
        if rev:
            sha = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", rev + "^{commit}"],
                                 capture_output=True, text=True).stdout.strip()
            return f"{sha} ({rev}, built from git archive)"
        sha = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--", "crates", "Cargo.toml",
                                "Cargo.lock"], capture_output=True, text=True).stdout.strip()
        return sha + (" + uncommitted changes in crates/" if dirty else "") + " (working tree)"
    except OSError:
        return "unknown"


def machine_info():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    return {"nproc": os.cpu_count(), "cpu_model": model, "mem_gib": round(mem_kb / 1048576, 1),
            "kernel": os.uname().release, "loadavg": load, "date": time.strftime("%Y-%m-%d %H:%M %Z")}


def median(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None


def pct(v, q):
    v = sorted(x for x in v if x is not None)
    if not v:
        return None
    k = max(1, min(len(v), int(-(-q * len(v) // 1))))
    return v[k - 1]


# ---------------------------------------------------------------- invokd
class Invokd:
    """One `invokd serve` on a free loopback port with a fresh data directory."""

    def __init__(self, out, name="invokd", extra=(), verbose=True, data_root=None, prefix=(), ready_s=60):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.data_dir = tempfile.mkdtemp(prefix=f"{name}-data-", dir=data_root or "/tmp")
        _data_dirs.append(self.data_dir)
        self.log_path = os.path.join(out, f"{name}.log")
        cmd = [*prefix, invokd_bin(), "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", self.data_dir, *extra]
        if verbose:
            cmd.append("-v")
        self.cmd = cmd
        self.proc = spawn(cmd, self.log_path)
        self.pid = self.proc.pid
        self.listen_s = wait_listen(self.port, ready_s, self.proc)
        # ready = the API answers
        for _ in range(200):
            try:
                st, _, _ = self.request("GET", "/2015-03-31/functions/")
                if st == 200:
                    break
            except OSError:
                pass
            time.sleep(0.02)

    def request(self, method, path, body=None, headers=None, timeout=120):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            h = {"Content-Type": "application/json"}
            h.update(headers or {})
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            return r.status, data, dict(r.getheaders())
        finally:
            c.close()

    def create_function(self, name, zip_b64, memory=128, timeout=30, env=None):
        doc = {"FunctionName": name, "Runtime": "provided.al2023", "Handler": "bootstrap", "Role": ROLE,
               "Timeout": timeout, "MemorySize": memory, "Code": {"ZipFile": zip_b64}}
        if env:
            doc["Environment"] = {"Variables": env}
        st, data, _ = self.request("POST", "/2015-03-31/functions", json.dumps(doc))
        if st != 201:
            raise RuntimeError(f"CreateFunction {name}: HTTP {st} {data[:300]!r}")
        return json.loads(data)

    def invoke(self, name, payload=BODY, headers=None, timeout=120):
        """One invoke on a new connection: (status, body, headers, seconds)."""
        t0 = time.perf_counter()
        st, data, hs = self.request("POST", f"/2015-03-31/functions/{name}/invocations",
                                    payload, headers, timeout)
        return st, data, hs, time.perf_counter() - t0

    def function_pids(self):
        """Function processes: invokd's descendants, less its spare processes (`--spare-processes`),
        which run invokd's own binary (`invokd __exec-helper`, or still the fork of the server
        while joining their cgroup) until a cold start makes one a runtime."""
        own = exe(self.pid)
        return [p for p in children(self.pid) if exe(p) != own]

    def rss_kb(self):
        return rss_kb(self.pid)

    def cpu_ticks(self):
        return cpu_ticks(self.pid)

    def stop(self):
        stop_proc(self.proc)
        leftovers = [p for p in children(self.pid)]
        import shutil
        shutil.rmtree(self.data_dir, ignore_errors=True)
        return leftovers

    def log_tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                return b"".join(f.readlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""


_zip_cache = {}


def zip_bootstrap(path=None, text=None):
    """Base64 zip holding one executable `bootstrap` (mode 0755): the file at `path`, or `text`."""
    key = (path, text)
    if key not in _zip_cache:
        data = open(path, "rb").read() if path else text.encode()
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            zi = zipfile.ZipInfo("bootstrap", date_time=(2020, 1, 1, 0, 0, 0))
            zi.external_attr = (0o100755 << 16)
            zi.create_system = 3  # unix, so the mode bits are honoured
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, data)
        _zip_cache[key] = base64.b64encode(buf.getvalue()).decode()
    return _zip_cache[key]


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
    log(f"# wrote {path}")
