"""The one Python version of the tests and of every image: read from .python-version at the repository root.

The Makefile picks its interpreter from the same file, the image builds pass it as the PYTHON_VERSION build
argument, and tests/containers checks that each Dockerfile's default equals it.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
VERSION_FILE = REPO_ROOT / ".python-version"
BUILD_ARG = "PYTHON_VERSION"


def python_version() -> str:
    """'3.11': major.minor, as the base image tags name it."""
    return VERSION_FILE.read_text().strip()
