"""Pins of a requirements file (following -r includes), for the image tests."""

import re
from pathlib import Path


def pins(path: Path) -> dict[str, str]:
    """name -> version of every pin in a requirements file and the files it includes with -r."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            found.update(pins(path.parent / line[3:].strip()))
        elif "==" in line:
            name, version = line.split("==")
            found[re.sub(r"\[.*\]", "", name).lower()] = version
    return found
