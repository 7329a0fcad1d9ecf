"""The rendezvous server as a separate process for the rendezvous benchmarks: loopback, free ports, its log in a
file (not a pipe: draining a pipe would steal the clients' CPU), and the helpers both benchmarks report with."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class ServerProcess:
    process: subprocess.Popen
    port: int
    health_port: int
    started: dict  # the server's first log line (ports and limits)
    log_text: str = ""  # the whole log, once the server has stopped

    def health(self) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/health", timeout=10) as response:
            return json.load(response)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the live server (Linux /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def rendezvous_server(*extra_args: str) -> Iterator[ServerProcess]:
    """Start the server at INFO with ``extra_args``; stop it on exit and keep its log in ``log_text``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 16384)), hard))  # thousands of client sockets
    log = tempfile.TemporaryFile("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "workloads.cosmic.rendezvous_server", "--host", "127.0.0.1", "--port", "0",
         "--health-host", "127.0.0.1", "--health-port", "0", "--log-level", "INFO", *extra_args],
        cwd=ROOT, stderr=log, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    server = None
    try:
        started = _first_log_line(log)
        server = ServerProcess(process, started["port"], started["health_port"], started)
        yield server
    finally:
        process.terminate()
        process.wait(30)
        log.seek(0)
        if server is not None:
            server.log_text = log.read()
        log.close()


def percentile_ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1e3, 2)


def _first_log_line(log: IO[str], timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log.seek(0)
        line = log.readline()
        if line.endswith("\n"):
            return json.loads(line)
        time.sleep(0.05)
    raise TimeoutError("the server did not start")
