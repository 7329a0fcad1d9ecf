"""Compute functions for the cluster tests; a module of their own so Ray workers can import them."""

from __future__ import annotations

import time
from pathlib import Path


def read_and_wait(path: Path, seconds: float = 0.0) -> dict:
    """Read every file of the dataset, hold the CPU for ``seconds``, report what was read."""
    files = sorted(p for p in Path(path).rglob("*") if p.is_file())
    total = sum(len(p.read_bytes()) for p in files)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.01)
    return {"files": len(files), "bytes": total}


def always_fails(path: Path, seconds: float = 0.0) -> dict:
    raise ValueError(f"cannot process {Path(path).name}")
