"""The binary's own tools: `invokd invoke`, `invokd logs` (with --follow), and how `invokd serve` takes
its configuration (flags, INVOKD_* variables, a TOML file) and refuses invalid configuration before
it binds a port or creates anything."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from helpers import ACCOUNT, ROLE, assert_aws_error, aws_error, eventually, python_package, unique_name

CLI_TIMEOUT = 30
FOLLOW_DEADLINE = 20.0


def run(binary: Path, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
        timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess:
    """Runs the binary with `args`, in an environment without INVOKD_* variables (plus `env`)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKD_")}
    full_env.update(env or {})
    return subprocess.run([str(binary), *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ============================================================================================
# invokd invoke


@pytest.fixture(scope="module")
def echo(server) -> str:
    return server.create_function(unique_name("cliecho"), handler="app.echo")["FunctionName"]


def cli_invoke(server, *args: str) -> subprocess.CompletedProcess:
    return run(server.binary, "invoke", *args, "--endpoint", server.endpoint)


def test_invoke_prints_the_response(server, echo):
    done = cli_invoke(server, echo, "--payload", '{"a":1}')

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"a": 1}


def test_invoke_without_payload_sends_an_empty_object(server, echo):
    done = cli_invoke(server, echo)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {}


def test_invoke_with_log_prints_the_log_tail_to_stderr(server, echo):
    done = cli_invoke(server, echo, "--payload", '{"b":2}', "--log")

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"b": 2}
    lines = done.stderr.splitlines()
    assert lines[0].startswith("START RequestId: ") and lines[0].endswith(" Version: $LATEST"), done.stderr
    request_id = lines[0].split()[2]
    assert f"END RequestId: {request_id}" in lines
    assert any(line.startswith(f"REPORT RequestId: {request_id}\tDuration: ") for line in lines), done.stderr


def test_invoke_without_log_prints_nothing_to_stderr(server, echo):
    done = cli_invoke(server, echo)
    assert (done.returncode, done.stderr) == (0, "")


@pytest.fixture(scope="module")
def published(server) -> str:
    """A function with version 1, whose handler reports the context."""
    return server.create_function(unique_name("cliver"), handler="app.context_info", Publish=True)["FunctionName"]


def test_invoke_with_qualifier_runs_that_version(server, published):
    done = cli_invoke(server, published, "--qualifier", "1")

    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert (seen["function_version"], seen["invoked_function_arn"]) == (
        "1", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{published}:1")


def test_invoke_accepts_a_qualified_name(server, published):
    done = cli_invoke(server, f"{published}:1")

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["function_version"] == "1"


def test_invoke_with_log_shows_the_version_that_ran(server, published):
    done = cli_invoke(server, published, "--qualifier", "1", "--log")

    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[0].endswith(" Version: 1"), done.stderr


def test_a_function_error_exits_with_code_2_and_prints_the_error(server):
    name = server.create_function(unique_name("cliboom"), handler="app.boom")["FunctionName"]

    done = cli_invoke(server, name)

    assert done.returncode == 2, (done.stdout, done.stderr)
    error = json.loads(done.stdout)
    assert (error["errorMessage"], error["errorType"]) == ("boom", "Exception")


def test_invoke_reads_the_payload_from_a_file(server, echo, tmp_path):
    path = tmp_path / "event.json"
    path.write_text('{"from": "file", "n": [1, 2, 3]}')

    done = cli_invoke(server, echo, "--payload", f"@{path}")

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"from": "file", "n": [1, 2, 3]}


def test_invoke_of_an_unknown_function_fails_with_the_error(server):
    name = unique_name("clinone")

    done = cli_invoke(server, name)

    assert done.returncode == 1
    assert done.stdout == ""
    assert "ResourceNotFoundException" in done.stderr
    assert f"Function not found: arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}:$LATEST" in done.stderr


def test_invoke_of_an_unreachable_endpoint_fails(server, echo):
    done = run(server.binary, "invoke", echo, "--endpoint", f"http://127.0.0.1:{free_port()}")

    assert done.returncode == 1
    assert "cannot reach invokd" in done.stderr


def test_invoke_event_returns_nothing_and_succeeds(server, echo):
    done = cli_invoke(server, echo, "--invocation-type", "Event", "--payload", '{"async":true}')
    assert (done.returncode, done.stdout.strip()) == (0, "")


# ============================================================================================
# invokd logs


@pytest.fixture(scope="module")
def shouter(server) -> str:
    """A function that prints its event's "marker" (to its log stream)."""
    return server.create_function(unique_name("clilogs"), handler="app.shout")["FunctionName"]


def invoke_marker(server, name: str, marker: str) -> str:
    res = server.lambda_client.invoke(FunctionName=name, Payload=json.dumps({"marker": marker}).encode())
    assert "FunctionError" not in res
    return res["ResponseMetadata"]["RequestId"]


def logs_once_written(server, name: str, request_id: str) -> subprocess.CompletedProcess:
    """Runs `invokd logs` until the invocation's REPORT line is in it: an environment invoked
    again within 100 ms writes its lines when that interval is up, not when the response is sent."""
    def printed():
        done = run(server.binary, "logs", name, "--data-dir", str(server.data_dir))
        assert done.returncode == 0, done.stderr
        assert f"REPORT RequestId: {request_id}\t" in done.stdout, done.stdout
        return done
    return eventually(printed, timeout=10, what=f"REPORT of {request_id} in `invokd logs {name}`")


def test_logs_prints_the_functions_log_lines(server, shouter):
    marker = unique_name("marker")
    request_id = invoke_marker(server, shouter, marker)

    done = logs_once_written(server, shouter, request_id)

    lines = done.stdout.splitlines()
    start = lines.index(f"START RequestId: {request_id} Version: $LATEST")
    assert lines[start + 1] == marker
    end = lines.index(f"END RequestId: {request_id}")
    assert lines[end + 1].startswith(f"REPORT RequestId: {request_id}\tDuration: ")


def test_logs_prints_earlier_invocations_first(server, shouter):
    first = invoke_marker(server, shouter, unique_name("first"))
    second = invoke_marker(server, shouter, unique_name("second"))

    done = logs_once_written(server, shouter, second)

    assert done.stdout.index(f"START RequestId: {first}") < done.stdout.index(f"START RequestId: {second}")


def test_logs_of_a_function_without_logs_fails(server):
    name = unique_name("nologs")

    done = run(server.binary, "logs", name, "--data-dir", str(server.data_dir))

    assert done.returncode != 0
    assert name in done.stderr


def test_logs_follow_prints_new_lines_as_they_are_written(server, shouter):
    invoke_marker(server, shouter, "before following")
    proc = subprocess.Popen(
        [str(server.binary), "logs", shouter, "--data-dir", str(server.data_dir), "--follow"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("INVOKD_")},
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line.rstrip("\n")) for line in proc.stdout], daemon=True)
    reader.start()
    try:
        wait_for_line(lines, proc, lambda line: line == "before following")
        marker = unique_name("followed")

        request_id = invoke_marker(server, shouter, marker)

        wait_for_line(lines, proc, lambda line: line == f"START RequestId: {request_id} Version: $LATEST")
        wait_for_line(lines, proc, lambda line: line == marker)
        wait_for_line(lines, proc, lambda line: line.startswith(f"REPORT RequestId: {request_id}\t"))
        assert proc.poll() is None, "--follow stopped by itself"
    finally:
        proc.kill()
        proc.wait()


def wait_for_line(lines: queue.Queue, proc: subprocess.Popen, wanted, deadline: float = FOLLOW_DEADLINE) -> str:
    """Reads `invokd logs --follow` output until a line satisfies `wanted`."""
    end = time.monotonic() + deadline
    seen = []
    while True:
        remaining = end - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no such line within {deadline}s; read {seen[-20:]}, stderr: {proc_stderr(proc)}")
        try:
            line = lines.get(timeout=min(remaining, 0.5))
        except queue.Empty:
            assert proc.poll() is None, f"invokd logs --follow exited with {proc.returncode}: {proc_stderr(proc)}"
            continue
        seen.append(line)
        if wanted(line):
            return line


def proc_stderr(proc: subprocess.Popen) -> str:
    return proc.stderr.read() if proc.poll() is not None else "(still running)"


# ============================================================================================
# invokd serve: invalid configuration


@pytest.fixture
def held_port():
    """A loopback port this test listens on: a server that bound before validating would fail on it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def serve_refused(invokd_bin: Path, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Runs `invokd serve` that must refuse its configuration at once; returns its stderr."""
    data = tmp_path / "data"
    started = time.monotonic()
    done = run(invokd_bin, "serve", "--data-dir", str(data), *args, env=env, cwd=tmp_path)
    assert done.returncode != 0, f"invokd serve {args} started:\n{done.stderr}"
    assert time.monotonic() - started < 10
    assert "serving the Lambda API" not in done.stderr
    assert "cannot listen" not in done.stderr, "it tried to bind before validating"
    assert not data.exists(), "it created the data directory before validating"
    assert "invalid configuration" in done.stderr, done.stderr
    return done.stderr


def test_serve_refuses_a_listen_address_that_is_not_addr_port(invokd_bin, tmp_path):
    err = serve_refused(invokd_bin, tmp_path, "--listen", "nonsense")
    assert '"nonsense"' in err and "ADDR:PORT" in err, err


@pytest.mark.parametrize("flag, value, why", [
    ("--spare-processes", "65", "spare processes must be at most 64"),
    ("--idle-timeout", "0", "idle timeout must be at least 1 second"),
    ("--async-workers", "0", "async workers must be at least 1"),
    ("--max-environments-per-function", "0", "max environments per function must be at least 1"),
])
def test_serve_refuses_out_of_range_engine_settings(invokd_bin, tmp_path, held_port, flag, value, why):
    err = serve_refused(invokd_bin, tmp_path, "--listen", f"127.0.0.1:{held_port}", flag, value)
    assert why in err, err


def test_serve_refuses_an_invalid_region(invokd_bin, tmp_path, held_port):
    err = serve_refused(invokd_bin, tmp_path, "--listen", f"127.0.0.1:{held_port}", "--region", "xyz")
    assert '"xyz"' in err and "region" in err, err


def test_serve_refuses_an_account_id_that_is_not_12_digits(invokd_bin, tmp_path, held_port):
    err = serve_refused(invokd_bin, tmp_path, "--listen", f"127.0.0.1:{held_port}", "--account-id", "123")
    assert '"123"' in err and "12 digits" in err, err


def test_serve_refuses_a_non_loopback_address_without_allow_anonymous(invokd_bin, tmp_path, held_port):
    err = serve_refused(invokd_bin, tmp_path, "--listen", f"0.0.0.0:{held_port}")
    assert f"0.0.0.0:{held_port}" in err and "without authentication" in err and "--allow-anonymous" in err, err


def test_serve_refuses_a_config_file_with_an_unknown_key(invokd_bin, tmp_path, held_port):
    config = tmp_path / "invokd.toml"
    config.write_text(f'listen = "127.0.0.1:{held_port}"\nbogus_setting = 1\n')

    err = serve_refused(invokd_bin, tmp_path, "--config", str(config))

    assert "bogus_setting" in err and str(config) in err, err


def test_serve_refuses_a_config_file_that_does_not_exist(invokd_bin, tmp_path):
    missing = tmp_path / "missing.toml"
    err = serve_refused(invokd_bin, tmp_path, "--config", str(missing))
    assert str(missing) in err, err


def test_serve_refuses_an_invalid_region_from_the_environment(invokd_bin, tmp_path, held_port):
    err = serve_refused(invokd_bin, tmp_path, "--listen", f"127.0.0.1:{held_port}", env={"INVOKD_REGION": "xyz"})
    assert '"xyz"' in err, err


# ============================================================================================
# invokd serve: where configuration comes from


def arn_prefix(region: str) -> str:
    return f"arn:aws:lambda:{region}:{ACCOUNT}:function:"


def created_arn(server, region: str) -> str:
    """Creates a function through a client of `region`; returns the ARN the server gave it."""
    client = server.new_client(region=region)
    return client.create_function(FunctionName=unique_name("cfg"), Runtime="python3.12", Role=ROLE,
                                  Handler="app.echo", Code={"ZipFile": python_package()})["FunctionArn"]


def test_serve_takes_listen_and_region_from_a_toml_file(server_factory, tmp_path):
    port = free_port()
    config = tmp_path / "invokd.toml"
    config.write_text(f'listen = "127.0.0.1:{port}"\nregion = "eu-west-1"\ndata_dir = "data"\n')

    s = server_factory("--config", str(config), standard_flags=False)

    assert s.port == port
    assert created_arn(s, "eu-west-1").startswith(arn_prefix("eu-west-1"))


def test_arns_of_the_configured_region_are_reachable_and_others_are_not(server_factory, tmp_path):
    config = tmp_path / "invokd.toml"
    config.write_text('listen = "127.0.0.1:0"\nregion = "eu-west-1"\ndata_dir = "data"\n')
    s = server_factory("--config", str(config), standard_flags=False)
    name = s.create_function(unique_name("cfgarn"))["FunctionName"]

    err = aws_error(s.lambda_client.get_function, FunctionName=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}")

    assert_aws_error(err, 404, "ResourceNotFoundException",
                     "Functions from 'us-east-1' are not reachable in this region ('eu-west-1')")
    arn = f"{arn_prefix('eu-west-1')}{name}"
    assert s.lambda_client.get_function(FunctionName=arn)["Configuration"]["FunctionArn"] == arn


def test_serve_takes_listen_and_region_from_the_environment(server_factory):
    port = free_port()

    s = server_factory("--data-dir", "data", standard_flags=False,
                       env={"INVOKD_LISTEN": f"127.0.0.1:{port}", "INVOKD_REGION": "eu-west-2"})

    assert s.port == port
    assert created_arn(s, "eu-west-2").startswith(arn_prefix("eu-west-2"))


def test_flags_beat_the_environment(server_factory):
    env_port, flag_port = free_port(), free_port()

    s = server_factory("--data-dir", "data", "--listen", f"127.0.0.1:{flag_port}", "--region", "ap-southeast-2",
                       standard_flags=False, env={"INVOKD_LISTEN": f"127.0.0.1:{env_port}", "INVOKD_REGION": "eu-west-2"})

    assert s.port == flag_port
    assert created_arn(s, "ap-southeast-2").startswith(arn_prefix("ap-southeast-2"))


def test_the_environment_beats_the_config_file(server_factory, tmp_path):
    config = tmp_path / "invokd.toml"
    config.write_text('listen = "127.0.0.1:0"\nregion = "eu-west-1"\ndata_dir = "data"\n')

    s = server_factory("--config", str(config), standard_flags=False, env={"INVOKD_REGION": "eu-central-1"})

    assert created_arn(s, "eu-central-1").startswith(arn_prefix("eu-central-1"))


def test_the_config_file_may_be_named_by_the_environment(server_factory, tmp_path):
    config = tmp_path / "invokd.toml"
    config.write_text('listen = "127.0.0.1:0"\nregion = "sa-east-1"\ndata_dir = "data"\n')

    s = server_factory(standard_flags=False, env={"INVOKD_CONFIG": str(config)})

    assert created_arn(s, "sa-east-1").startswith(arn_prefix("sa-east-1"))
