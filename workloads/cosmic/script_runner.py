"""Run a rank's script as a child process and fail loudly when it fails.

The course's executor (`lambda_entry3`) ran `python <SCRIPT>` and ignored its exit code, so crashed ranks
were reported as successes. Here a non-zero exit (or a timeout) raises ScriptFailed with the tail of the
script's output, which fails the Lambda invocation and with it the Map iteration.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

OUTPUT_TAIL_BYTES = 4000


class ScriptFailed(RuntimeError):
    """The script exited non-zero or ran out of time."""


@dataclass(frozen=True)
class ScriptResult:
    returncode: int
    wall_s: float
    output_tail: str


def run_script(path: Path, env: Mapping[str, str], timeout_s: float, cwd: Path | None = None) -> ScriptResult:
    """`python path` with the rank's variables added to this process's environment; its output is
    echoed here (it lands in the Lambda's log) and its tail kept for the record."""
    start = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, str(path)], env={**os.environ, **env}, cwd=str(cwd or path.parent),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout_s, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        tail = (exc.output or b"")[-OUTPUT_TAIL_BYTES:].decode(errors="replace")
        raise ScriptFailed(f"{path.name} ran longer than {timeout_s:.0f} s; output ends with:\n{tail}") from None
    output = proc.stdout.decode(errors="replace")
    sys.stdout.write(output)
    tail = output[-OUTPUT_TAIL_BYTES:]
    if proc.returncode != 0:
        raise ScriptFailed(f"{path.name} exited with status {proc.returncode}; output ends with:\n{tail}")
    return ScriptResult(proc.returncode, time.monotonic() - start, tail)
