"""Stopping the server stops its functions: no runtime process outlives invokd."""

from __future__ import annotations

import json
import threading
import uuid

from helpers import eventually, processes_with, python_package, unique_name

SLEEPER = "import time\n\ndef handler(event, context):\n    time.sleep(event['sleep'])\n    return 'woke up'\n"


class SleepingInvocation:
    """A function whose module name is unique (so its runtime process can be found by command
    line), invoked from a thread; construction returns once the runtime process exists."""

    def __init__(self, server, seconds: float):
        self.module = f"sleeper_{uuid.uuid4().hex}"
        self.name = server.create_function(
            unique_name("sleeper"), package=python_package(SLEEPER, module=self.module),
            handler=f"{self.module}.handler", Timeout=int(seconds) + 30,
        )["FunctionName"]
        self.result: list[object] = []
        client = server.new_client(read_timeout=seconds + 40)

        def invoke() -> None:
            try:
                res = client.invoke(FunctionName=self.name, Payload=json.dumps({"sleep": seconds}).encode())
                self.result.append(json.loads(res["Payload"].read()))
            except Exception as e:  # the server going away mid-invoke is reported, not raised
                self.result.append(e)

        self.thread = threading.Thread(target=invoke, daemon=True)
        self.thread.start()
        eventually(lambda: processes_with(self.module), timeout=20, what=f"a runtime process running {self.module}")

    def processes(self) -> list[int]:
        return processes_with(self.module)


def test_sigterm_leaves_no_function_process_behind(fresh_server):
    sleeping = SleepingInvocation(fresh_server, seconds=3)

    exit_code = fresh_server.terminate(timeout=30)

    assert exit_code == 0, fresh_server.stderr()
    eventually(lambda: not sleeping.processes(), timeout=10, what=f"no process running {sleeping.module}")


def test_sigterm_lets_the_invocation_in_flight_finish(fresh_server):
    sleeping = SleepingInvocation(fresh_server, seconds=2)

    assert fresh_server.terminate(timeout=30) == 0, fresh_server.stderr()

    sleeping.thread.join(timeout=10)
    assert sleeping.result == ["woke up"]


def test_sigterm_stops_idle_environments(fresh_server):
    module = f"idle_{uuid.uuid4().hex}"
    name = fresh_server.create_function(
        unique_name("idle"), package=python_package(SLEEPER, module=module), handler=f"{module}.handler",
    )["FunctionName"]
    fresh_server.lambda_client.invoke(FunctionName=name, Payload=b'{"sleep": 0}')
    assert processes_with(module), "the warm environment should still be running"

    assert fresh_server.terminate(timeout=30) == 0, fresh_server.stderr()

    eventually(lambda: not processes_with(module), timeout=10, what=f"no process running {module}")


def test_sigkill_leaves_no_function_process_behind(fresh_server):
    sleeping = SleepingInvocation(fresh_server, seconds=30)

    fresh_server.kill()

    eventually(lambda: not sleeping.processes(), timeout=10, what=f"no process running {sleeping.module}")
