"""What every local runner returns, and the helpers they share.

Each experiment's runner (localcloud.lsrtm, .cosmic, .automon) has the same interface:

    run(cdk_out, *, execution_input=None, workdir=None, execution=None, timeout_s=..., on_progress=...,
        <the experiment's local sizes and fault injections>) -> <Experiment>Run (a LocalRun)
    default_input(...) -> dict      the example input for the local sizes (what run uses when given None)
    main(argv) -> int               the command line: python -m localcloud.<experiment> --cdk-out --workdir

`execution_input` is the whole input when given; a test that changes one key writes
`{**default_input(), "key": value}`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(kw_only=True)
class LocalRun:
    """One execution of a synthesized state machine on this machine."""

    experiment: str
    execution: str
    status: str  # SUCCEEDED, FAILED, TIMED_OUT or ABORTED, as Step Functions reports it
    error: str | None
    cause: str | None
    output: Any
    elapsed_s: float
    states: list[str] = field(default_factory=list)  # the states entered, in order
    results_dir: Path | None = None  # what the run wrote to its results bucket, copied out
    iam: dict = field(default_factory=dict)  # calls evaluated, refused, distinct (role, action) pairs
    denials: list[str] = field(default_factory=list)  # each AccessDenied message of the run

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"


def iam_total(runs: list[LocalRun]) -> dict:
    """The IAM counters of several runs added up. Distinct (role, action) pairs add up too: each
    experiment's roles are its own stack's."""
    keys = ("calls_evaluated", "distinct_role_action_pairs", "denied")
    return {key: sum(int(run.iam.get(key, 0)) for run in runs) for key in keys}


def download_prefix(s3, bucket: str, prefix: str, target: Path) -> Path:
    """Copy every object under `prefix` into `target`, keeping the key below the prefix as the path."""
    target.mkdir(parents=True, exist_ok=True)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            path = target / obj["Key"][len(prefix):]
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, obj["Key"], str(path))
    return target


ERROR_FILE = "error.json"


def failure_line(run: LocalRun, workdir: Path) -> str:
    """A failed run as one line a person reads: the error and the function's message.

    A Lambda task's cause is the runtime's error blob ({"errorMessage", "errorType", "stackTrace"}); its
    stack trace tells a person nothing they can act on, so the whole blob goes to <workdir>/error.json
    and the line names that file. Any other cause (a Batch job's reason, a state's own error) is a
    sentence already and is printed as it is.
    """
    blob = _lambda_error(run.cause)
    if blob is None:
        return f"{run.error}: {run.cause}"
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / ERROR_FILE
    path.write_text(json.dumps({"error": run.error, "cause": blob}, indent=2))
    message = " ".join(str(blob.get("errorMessage", "")).split())  # a validator's list: still one line
    return f"{blob.get('errorType') or run.error}: {message} (details: {path})"


def _lambda_error(cause: str | None) -> dict | None:
    try:
        blob = json.loads(cause or "")
    except ValueError:
        return None
    return blob if isinstance(blob, dict) and "errorMessage" in blob else None
