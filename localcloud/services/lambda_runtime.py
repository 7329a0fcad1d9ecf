"""A Lambda function on this machine: its own long-lived worker processes (localcloud/services/lambda_worker.py),
each started with the function's variables and its role's credentials, as a Lambda execution environment
is. An invocation takes an idle worker or starts one (concurrent invocations get separate workers, as
separate environments); a worker stays warm for the next one.

What the Lambda service does with the function's role is authorized first: creating the log stream when an
environment starts and writing the invocation's log events (localcloud/services/local_iam.py). On AWS a
function whose role cannot write its log group still runs, with no logs; here that refusal fails the
invocation, so that the missing grant is seen before a deployment.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcloud.services.template import REPO_ROOT

# what a function's process must not inherit from the runner: its credentials are its role's
CALLER_ONLY = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE")


class FunctionErrors:
    """Exception classes named like the function's exception, so a state machine sees the same error name."""

    _made: dict[str, type[Exception]] = {}

    @classmethod
    def named(cls, name: str) -> type[Exception]:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name):
            name = "Runtime.UnknownError"
        return cls._made.setdefault(name, type(name, (Exception,), {}))


@dataclass
class _Worker:
    process: subprocess.Popen
    log: Path


class FunctionRuntime:
    """Call it like a handler: runtime(event, context) -> the function's response."""

    def __init__(self, *, name: str, handler_folder: str, environment: Mapping[str, str], log_dir: Path,
                 timeout_s: float = 900.0,
                 on_environment_start: Callable[[str], None] = lambda stream: None,
                 on_invoke: Callable[[str], None] = lambda stream: None) -> None:
        self.name, self.handler_folder = name, handler_folder
        self.environment = {k: str(v) for k, v in environment.items()}
        self.log_dir, self.timeout_s = Path(log_dir), timeout_s
        self.on_environment_start, self.on_invoke = on_environment_start, on_invoke
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.invocations = 0
        self._idle: list[_Worker] = []
        self._all: list[_Worker] = []
        self._lock = threading.Lock()

    def __call__(self, event: Any, context: Any = None) -> Any:
        worker = self._take()
        try:
            self.on_invoke(worker.log.stem)
            request = {"event": event, "function_name": self.name, "timeout_s": self.timeout_s}
            answer = self._exchange(worker, request)
        except BaseException:
            self._discard(worker)
            raise
        with self._lock:
            self.invocations += 1
            self._idle.append(worker)
        if "errorType" in answer:
            raise FunctionErrors.named(answer["errorType"])(answer["errorMessage"])
        return answer["response"]

    def close(self) -> None:
        with self._lock:
            workers, self._idle, self._all = list(self._all), [], []
        for worker in workers:
            _stop(worker.process)

    @property
    def environments_started(self) -> int:
        return len(self._all)

    # --- workers -------------------------------------------------------------------------------------
    def _take(self) -> _Worker:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            stream = f"{self.name}-{len(self._all):02d}-{uuid.uuid4().hex[:8]}"
        self.on_environment_start(stream)  # the service creates the environment's log stream
        log = self.log_dir / f"{stream}.log"
        with open(log, "w") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "localcloud.services.lambda_worker", self.handler_folder],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=out, text=True, cwd=REPO_ROOT,
                env=self.environment, start_new_session=True,
            )
        worker = _Worker(process, log)
        with self._lock:
            self._all.append(worker)
        return worker

    def _exchange(self, worker: _Worker, request: dict) -> dict:
        timer = threading.Timer(self.timeout_s, worker.process.kill)  # Lambda ends an invocation at its timeout
        timer.daemon = True
        timer.start()
        try:
            worker.process.stdin.write(json.dumps(request) + "\n")
            worker.process.stdin.flush()
            line = worker.process.stdout.readline()
        except BrokenPipeError:
            line = ""
        finally:
            timer.cancel()
        if not line:
            code = worker.process.wait()
            raise FunctionErrors.named("Runtime.ExitError")(
                f"{self.name}: the environment exited with {code} (timeout {self.timeout_s} s); see {worker.log}")
        return json.loads(line)

    def _discard(self, worker: _Worker) -> None:
        with self._lock:
            if worker in self._all:
                self._all.remove(worker)
        _stop(worker.process)


def function_environment(base: Mapping[str, str], variables: Mapping[str, Any], credentials: Mapping[str, str],
                         *, function_name: str, region: str, endpoints: Mapping[str, str]) -> dict[str, str]:
    """A function's process environment: the runner's (less its credentials), the function's variables,
    its role's session, its name and region, and the local service endpoints."""
    env = {k: v for k, v in base.items() if k not in CALLER_ONLY and not k.startswith("AWS_ENDPOINT_URL")}
    env.update({k: str(v) for k, v in variables.items()})
    env.update(credentials)
    env.update(endpoints)
    env.update({"AWS_LAMBDA_FUNCTION_NAME": function_name, "AWS_REGION": region, "AWS_DEFAULT_REGION": region,
                "PYTHONPATH": str(REPO_ROOT)})
    return env


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        try:
            process.stdin.close()
        except OSError:
            pass
        try:
            process.wait(2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
