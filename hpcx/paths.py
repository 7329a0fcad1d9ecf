"""Where things are: the repository root comes from this package's location, never the working directory.

The commands delegate to code that lives beside this package (localcloud/, reproduce/, tools/, stacks/,
benchmarks/), which is not installed as packages of its own, so the root goes on sys.path here and on
PYTHONPATH for the processes the runners start (workers, Lambda runtimes, nodes).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CDK_OUT = REPO_ROOT / "cdk.out"
OUT = REPO_ROOT / "out"
VENV_BIN = Path(sys.executable).parent


def use_repository() -> None:
    """Make the repository's top-level modules importable here and in every child process."""
    root = str(REPO_ROOT)
    if root not in sys.path:
        sys.path.insert(0, root)
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in parts:
        os.environ["PYTHONPATH"] = os.pathsep.join([root, *parts])
