"""Fixtures of the end-to-end tests: the real `invokd` binary on a kernel-chosen port, driven by boto3,
the AWS CLI and raw HTTP.

Environment: INVOKD_BIN (default <repo>/target/debug/invokd), INVOKD_PYTHON (the interpreter
python3.x functions run under; it needs awslambdaric; default: the one running pytest).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
from botocore.config import Config

from helpers import REGION, ROLE, python_package, shell_package, unique_name

REPO_ROOT = Path(__file__).resolve().parents[2]
START_DEADLINE = 30.0
READY_LINE = re.compile(r"serving the Lambda API on http://[0-9.]+:(?P<port>\d+)")
STOP_DEADLINE = 30.0

DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIDINVOKDTEST", "AWS_SECRET_ACCESS_KEY": "invokd-test-secret"}


# --------------------------------------------------------------------------------------------
# Locating programs


@pytest.fixture(scope="session")
def invokd_bin() -> Path:
    path = Path(os.environ.get("INVOKD_BIN") or REPO_ROOT / "target" / "debug" / "invokd")
    assert path.is_file() and os.access(path, os.X_OK), (
        f"invokd binary not found at {path}: build it with `cargo build -p invokd` or set INVOKD_BIN"
    )
    return path


@pytest.fixture(scope="session")
def function_python() -> str:
    python = os.environ.get("INVOKD_PYTHON") or sys.executable
    probe = subprocess.run([python, "-c", "import awslambdaric"], capture_output=True, text=True)
    assert probe.returncode == 0, f"{python} cannot import awslambdaric: {probe.stderr}"
    return python


def aws_cli() -> str:
    beside = Path(sys.executable).parent / "aws"
    if beside.is_file():
        return str(beside)
    found = shutil.which("aws")
    assert found, "the AWS CLI (awscli) is not installed"
    return found


# --------------------------------------------------------------------------------------------
# The server


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class CliResult:
    returncode: int
    out: Any  # parsed JSON when stdout is JSON, else the text
    err: str

    def __iter__(self):  # `rc, out, err = server.cli(...)`
        return iter((self.returncode, self.out, self.err))


class InvokdServer:
    """One `invokd serve` process on a fixed port and data directory."""

    def __init__(self, binary: Path, python: str, data_dir: Path, work_dir: Path, extra_args: tuple[str, ...] = (),
                 env: dict[str, str] | None = None, standard_flags: bool = True):
        self.binary = binary
        self.python = python
        self.data_dir = data_dir
        self.work_dir = work_dir
        self.extra_args = extra_args
        # Variables added to the server's environment (which otherwise has no INVOKD_* variable).
        self.env = dict(env or {})
        # False: only `serve` and `extra_args` (no --listen/--data-dir/--python), run in work_dir,
        # for tests of the configuration itself; the address is taken from the "serving" line.
        self.standard_flags = standard_flags
        self.host = "127.0.0.1"
        self.port = 0  # chosen by the kernel at the first start, kept for restarts
        self.endpoint = ""
        self.stderr_path = work_dir / "invokd.stderr"
        self.proc: subprocess.Popen | None = None
        self.stopped = False  # stopped on purpose (terminate/kill)
        self._stderr_file = None
        self._client = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self.stopped = False
        env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKD_")}
        env.update(self.env)
        if self.standard_flags:
            standard = ["--listen", f"{self.host}:{self.port}", "--data-dir", str(self.data_dir), "--python", self.python]
            cwd = None
        else:
            standard, cwd = [], self.work_dir
        args = [str(Path(self.binary).resolve()), "serve", *standard, *self.extra_args]
        self._stderr_file = open(self.stderr_path, "ab")
        offset = self._stderr_file.tell()
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self._stderr_file, stderr=self._stderr_file,
                                     env=env, cwd=cwd)
        self._wait_until_ready(offset)

    def _wait_until_ready(self, offset: int) -> None:
        """Waits for the "serving" line (which names the bound port) and for the port to accept."""
        deadline = time.monotonic() + START_DEADLINE
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"invokd exited with {self.proc.returncode} while starting:\n{self.stderr()}")
            if not self.endpoint:
                with open(self.stderr_path, "rb") as f:
                    f.seek(offset)
                    m = READY_LINE.search(f.read().decode(errors="replace"))
                if m:
                    assert self.port in (0, int(m["port"])), f"invokd listens on {m['port']}, not {self.port}"
                    self.port = int(m["port"])
                    self.endpoint = f"http://{self.host}:{self.port}"
            if self.endpoint:
                try:
                    with socket.create_connection((self.host, self.port), timeout=0.5):
                        return
                except OSError:
                    pass
            if time.monotonic() >= deadline:
                raise AssertionError(f"invokd was not ready within {START_DEADLINE}s:\n{self.stderr()}")
            time.sleep(0.02)

    def terminate(self, timeout: float = STOP_DEADLINE) -> int:
        """SIGTERM, then wait for the exit; returns the exit code."""
        assert self.proc is not None
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"invokd did not stop within {timeout}s of SIGTERM:\n{self.stderr()}")
        finally:
            self._close_stderr()

    def kill(self) -> None:
        assert self.proc is not None
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._close_stderr()

    def restart(self) -> None:
        """SIGKILL, then start again on the same port and data directory."""
        self.kill()
        self.endpoint = ""  # ready again only once the new process says so
        self.start()
        assert self.endpoint, "restarted server did not report its address"

    def _close_stderr(self) -> None:
        if self._stderr_file is not None:
            self._stderr_file.close()
            self._stderr_file = None

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-8000:]
        except OSError:
            return ""

    # -- clients -----------------------------------------------------------------------------

    @property
    def lambda_client(self):
        if self._client is None:
            self._client = self.new_client()
        return self._client

    def new_client(self, read_timeout: float = 70, region: str = REGION, credentials: dict[str, str] | None = None):
        """A fresh boto3 Lambda client (clients are not shared across threads); `credentials`
        (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) replace the dummy ones."""
        credentials = credentials or DUMMY_CREDENTIALS
        session = boto3.session.Session(
            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
            region_name=region,
        )
        config = Config(
            retries={"mode": "standard", "total_max_attempts": 1},
            read_timeout=read_timeout,
            connect_timeout=5,
        )
        return session.client("lambda", endpoint_url=self.endpoint, config=config)

    def cli(self, *args: str, timeout: float = 120, credentials: dict[str, str] | None = None) -> CliResult:
        """Runs `aws lambda <args>` against this server (signing with `credentials`, by default
        the dummy ones)."""
        cmd = [aws_cli(), "lambda", *args, "--endpoint-url", self.endpoint, "--region", REGION, "--output", "json"]
        env = dict(os.environ)
        env.update(credentials or DUMMY_CREDENTIALS)
        env.update({
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": str(self.work_dir / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.work_dir / "no-aws-credentials"),
            "AWS_RETRY_MODE": "standard",
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_PAGER": "",
        })
        env.pop("AWS_PROFILE", None)
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=self.work_dir)
        out: Any = done.stdout
        if done.stdout.strip():
            try:
                out = json.loads(done.stdout)
            except json.JSONDecodeError:
                pass
        return CliResult(done.returncode, out, done.stderr)

    def raw(self, method: str, path: str, body: bytes | str | None = None, headers: dict[str, str] | None = None) -> RawResponse:
        """An unsigned HTTP request, for what botocore refuses to send."""
        if isinstance(body, str):
            body = body.encode()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=70)
        try:
            hdrs = {"Content-Type": "application/json"} if body is not None else {}
            hdrs.update(headers or {})
            try:
                conn.request(method, path, body=body, headers=hdrs)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server answered (e.g. 413) before reading the whole body; read that answer
            res = conn.getresponse()
            return RawResponse(res.status, {k.lower(): v for k, v in res.getheaders()}, res.read())
        finally:
            conn.close()

    # -- conveniences ------------------------------------------------------------------------

    def create_function(self, name: str | None = None, *, package: bytes | None = None, runtime: str = "python3.12",
                        handler: str = "app.echo", **kwargs: Any) -> dict:
        """Creates a function (a Python echo by default) and returns CreateFunction's response."""
        name = name or unique_name()
        if package is None:
            package = shell_package() if runtime.startswith("provided") else python_package()
        return self.lambda_client.create_function(
            FunctionName=name, Runtime=runtime, Role=ROLE, Handler=handler, Code={"ZipFile": package}, **kwargs
        )

    def logs_dir(self, function: str) -> Path:
        return self.data_dir / "logs" / function


def _start(tmp: Path, binary: Path, python: str, extra_args: tuple[str, ...] = (),
           env: dict[str, str] | None = None, standard_flags: bool = True) -> InvokdServer:
    data = tmp / "data"
    data.mkdir(parents=True, exist_ok=True)
    server = InvokdServer(binary, python, data, tmp, extra_args, env, standard_flags)
    server.start()
    return server


def _stop(server: InvokdServer) -> None:
    """Stops a server at teardown; one that died on its own is reported as an error."""
    if server.proc is None or server.stopped:
        return
    if server.proc.poll() is not None:
        raise AssertionError(f"invokd exited on its own with {server.proc.returncode}:\n{server.stderr()}")
    server.terminate()


@pytest.fixture(scope="module")
def server(tmp_path_factory, invokd_bin, function_python) -> Iterator[InvokdServer]:
    """One server shared by the tests of a module; tests use unique function names."""
    s = _start(tmp_path_factory.mktemp("invokd"), invokd_bin, function_python)
    yield s
    _stop(s)


@pytest.fixture
def fresh_server(tmp_path, invokd_bin, function_python) -> Iterator[InvokdServer]:
    """A server of the test's own, for tests that count, restart or stop it."""
    s = _start(tmp_path, invokd_bin, function_python)
    yield s
    _stop(s)


def _servers(tmp: Path, invokd_bin: Path, function_python: str) -> Iterator:
    """A function that starts servers with extra `invokd serve` flags; stops them all afterwards."""
    started: list[InvokdServer] = []

    def start(*extra_args: str, env: dict[str, str] | None = None, standard_flags: bool = True) -> InvokdServer:
        s = _start(tmp / f"server{len(started)}", invokd_bin, function_python, tuple(extra_args), env, standard_flags)
        started.append(s)
        return s

    yield start
    problems = []
    for s in started:
        try:
            _stop(s)
        except AssertionError as e:  # stop the others before reporting it
            problems.append(e)
    if problems:
        raise problems[0]


@pytest.fixture
def server_factory(tmp_path, invokd_bin, function_python) -> Iterator:
    """Starts servers of the test's own with extra `invokd serve` flags; stops them afterwards.

    `env` adds environment variables; `standard_flags=False` passes only the given flags (see
    InvokdServer) and runs the server in its own directory.
    """
    yield from _servers(tmp_path, invokd_bin, function_python)


@pytest.fixture(scope="module")
def module_server_factory(tmp_path_factory, invokd_bin, function_python) -> Iterator:
    """`server_factory` for module-scoped fixtures: servers shared by a module's tests."""
    yield from _servers(tmp_path_factory.mktemp("invokd"), invokd_bin, function_python)
