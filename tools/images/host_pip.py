"""The host's pip configuration, lent to builds on the stand-in bases (never to real Docker builds).

A machine without a registry of base images may still reach its package indexes only through what its
pip configuration names: local wheel folders, local simple indexes, a CA bundle. Each build then sees
that configuration as /etc/pip.conf and every local path it names, mounted read-only at the same path,
so nothing of it lands in an image layer.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# The settings that decide where packages come from and whom to trust; others (constraints, caches) stay out.
KEYS = ("index-url", "extra-index-url", "find-links", "cert", "default-timeout")


def host_pip_settings() -> dict[str, str]:
    """key -> value of the host's effective pip settings (environment over user over global)."""
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                            check=True).stdout
    ranked: dict[str, tuple[int, str]] = {}
    for line in listed.splitlines():
        scope_key, _, value = line.partition("=")
        scope, _, key = scope_key.rpartition(".")
        if key not in KEYS:
            continue
        rank = 2 if scope.startswith(":env:") else 1 if scope == "user" else 0
        if rank >= ranked.get(key, (-1, ""))[0]:
            ranked[key] = (rank, value.strip().strip("'\""))
    return {key: value for key, (_, value) in ranked.items()}


def local_paths(settings: dict[str, str]) -> list[Path]:
    """The existing local files and folders the settings name (file:// URLs and plain paths)."""
    paths = []
    for value in settings.values():
        for item in value.split():
            path = Path(item.removeprefix("file://"))
            if item.startswith(("file://", "/")) and path.exists():
                # a simple index's folder is mounted whole: its pages link to files beside them
                paths.append(path.parent if path.name == "simple" else path)
    return sorted(set(paths))


def build_volumes(workdir: Path) -> list[str]:
    """--volume arguments (host:container:ro) that give a build the host's pip configuration."""
    settings = host_pip_settings()
    if not settings:
        return []
    conf = workdir / "pip.conf"
    conf.write_text("[global]\n" + "".join(f"{key} = {value}\n" for key, value in sorted(settings.items())))
    return [f"{conf}:/etc/pip.conf:ro", *(f"{p}:{p}:ro" for p in local_paths(settings))]
