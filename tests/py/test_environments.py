"""Execution environments: one invocation at a time each, reused while warm, reclaimed when idle."""

from __future__ import annotations

import json
import os
import shutil
import threading
import uuid
from pathlib import Path

from helpers import decode_log_result, eventually, processes_with, python_package, unique_name

SLOW_STREAM = "import time\n\ndef handler(event, context):\n    time.sleep(1.5)\n    return context.log_stream_name\n"


def test_concurrent_invocations_run_in_separate_environments(server):
    name = server.create_function(unique_name("concurrent"), package=python_package(SLOW_STREAM),
                                  handler="app.handler")["FunctionName"]
    streams: list[str] = []
    errors: list[BaseException] = []

    def invoke() -> None:
        try:
            res = server.new_client().invoke(FunctionName=name, Payload=b"{}")
            assert "FunctionError" not in res
            streams.append(json.loads(res["Payload"].read()))
        except BaseException as e:  # reported below, in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=invoke) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert not errors, errors
    assert len(set(streams)) == 3, streams


def test_sequential_invocations_reuse_the_warm_environment(server):
    name = server.create_function(unique_name("warm"), handler="app.context_info")["FunctionName"]

    streams = [json.loads(server.lambda_client.invoke(FunctionName=name)["Payload"].read())["log_stream_name"]
               for _ in range(3)]

    assert len(set(streams)) == 1, streams


def test_idle_environment_is_stopped_after_the_idle_timeout(server_factory):
    server = server_factory("--idle-timeout", "1")
    module = f"idle_{uuid.uuid4().hex}"
    name = server.create_function(unique_name("idle"), package=python_package(module=module),
                                  handler=f"{module}.echo")["FunctionName"]
    server.lambda_client.invoke(FunctionName=name, Payload=b"{}")
    assert processes_with(module), "the environment should be warm right after an invocation"

    eventually(lambda: not processes_with(module), timeout=15, what=f"the idle {module} environment to stop")


def test_invocation_after_idle_reclaim_is_a_cold_start(server_factory):
    server = server_factory("--idle-timeout", "1")
    module = f"idle_{uuid.uuid4().hex}"
    name = server.create_function(unique_name("idle"), package=python_package(module=module),
                                  handler=f"{module}.echo")["FunctionName"]
    server.lambda_client.invoke(FunctionName=name, Payload=b"{}")
    eventually(lambda: not processes_with(module), timeout=15, what=f"the idle {module} environment to stop")

    res = server.lambda_client.invoke(FunctionName=name, Payload=b'{"again":true}', LogType="Tail")

    assert json.loads(res["Payload"].read()) == {"again": True}
    assert "\tInit Duration: " in decode_log_result(res["LogResult"])


def test_a_busy_environment_is_replaced_after_the_max_lifetime(server_factory):
    # Invoked back to back, so never idle: only the lifetime can retire it.
    server = server_factory("--max-environment-lifetime", "1")
    name = server.create_function(unique_name("lifetime"), handler="app.context_info")["FunctionName"]

    def stream() -> str:
        res = server.lambda_client.invoke(FunctionName=name)
        assert "FunctionError" not in res
        return json.loads(res["Payload"].read())["log_stream_name"]

    first = stream()
    eventually(lambda: stream() != first, timeout=15, what="a new environment once the first is a second old")


def test_function_processes_die_with_a_killed_server(server_factory):
    # The parent-death signal is armed before the runtime runs: even SIGKILL of invokd, which
    # leaves it no chance to clean up, takes every environment's process with it.
    server = server_factory()
    module = f"orphan_{uuid.uuid4().hex}"
    name = server.create_function(unique_name("orphan"), package=python_package(module=module),
                                  handler=f"{module}.echo")["FunctionName"]
    server.lambda_client.invoke(FunctionName=name, Payload=b"{}")
    assert processes_with(module), "the environment should be warm right after an invocation"

    helpers = spare_processes_of(server.proc.pid)

    server.kill()

    eventually(lambda: not processes_with(module), timeout=10, what=f"the {module} runtime to die with invokd")
    eventually(lambda: not any(Path(f"/proc/{pid}").exists() for pid in helpers), timeout=10,
               what="the spare processes to die with invokd")


def spare_processes_of(server_pid: int) -> list[int]:
    """The server's spare processes: its children waiting as `invokd __exec-helper`."""
    return [pid for pid in processes_with("__exec-helper")
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1] == str(server_pid)]


def in_invokd_cgroup(pid: int) -> bool:
    return "/invokd-" in Path(f"/proc/{pid}/cgroup").read_text()


def test_a_cold_start_uses_a_spare_process_unless_spares_are_off(server_factory):
    # A spare has already joined a memory cgroup (the slow part of a cold start) and becomes the
    # runtime in place; with --spare-processes 0 every runtime is started on demand.
    for spares in ("1", "0"):
        server = server_factory("--spare-processes", spares)
        module = f"spare_{uuid.uuid4().hex}"
        name = server.create_function(unique_name("spare"), package=python_package(module=module),
                                      handler=f"{module}.echo")["FunctionName"]
        if spares == "0":
            server.lambda_client.invoke(FunctionName=name, Payload=b"{}")
            assert spare_processes_of(server.proc.pid) == []
            continue
        eventually(lambda: len(spare_processes_of(server.proc.pid)) == 1, timeout=10, what="a spare process")
        [spare] = spare_processes_of(server.proc.pid)
        if not in_invokd_cgroup(spare):
            continue  # no writable memory cgroups here: spares are not used
        server.lambda_client.invoke(FunctionName=name, Payload=b"{}")
        assert processes_with(module) == [spare], "the runtime is the former spare process"
        eventually(lambda: len(spare_processes_of(server.proc.pid)) == 1, timeout=10, what="a new spare")
        assert spare_processes_of(server.proc.pid) != [spare]



def test_spares_keep_running_the_server_binary_after_an_upgrade_replaced_it_on_disk(
        tmp_path, invokd_bin, function_python):
    # A package upgrade renames a new binary over the running one. Spares started afterwards must
    # still run the running version (they speak its helper protocol), not whatever is at the path.
    from conftest import InvokdServer

    binary = tmp_path / "bin" / "invokd"
    binary.parent.mkdir()
    shutil.copy2(invokd_bin, binary)
    server = InvokdServer(binary, function_python, tmp_path / "data", tmp_path, ("--spare-processes", "1"))
    server.start()
    try:
        eventually(lambda: len(spare_processes_of(server.proc.pid)) == 1, timeout=10, what="a spare process")
        [first] = spare_processes_of(server.proc.pid)
        if not in_invokd_cgroup(first):
            return  # no writable memory cgroups here: spares are not used
        upgrade = binary.with_name("invokd.new")
        upgrade.write_text("#!/bin/sh\nexit 3\n")
        upgrade.chmod(0o755)
        os.replace(upgrade, binary)
        for _ in range(2):
            name = server.create_function(unique_name("upgrade"))["FunctionName"]
            res = server.lambda_client.invoke(FunctionName=name, Payload=b'{"a":1}')
            assert "FunctionError" not in res, res["Payload"].read()
            eventually(lambda: len(spare_processes_of(server.proc.pid)) == 1, timeout=10, what="a new spare")
            [spare] = spare_processes_of(server.proc.pid)
            assert Path(f"/proc/{spare}/exe").stat().st_ino == Path(f"/proc/{server.proc.pid}/exe").stat().st_ino
    finally:
        server.terminate()
