"""A local directory standing in for an S3 bucket (runtime code never talks to AWS).

Keys map to files under the root. Only what the workloads need: put, get, list, size.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath


class LocalBucket:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"invalid object key {key!r}")
        return self.root.joinpath(*parts)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
        tmp.write_bytes(data)
        tmp.replace(path)  # readers never see half an object

    def get(self, key: str) -> bytes:
        path = self._path(key)
        if not path.is_file():
            raise KeyError(f"no object {key!r}")
        return path.read_bytes()

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    def list(self, prefix: str) -> list[str]:
        base = self.root / prefix if prefix else self.root
        if not base.is_dir():
            return []
        return sorted(
            str(PurePosixPath(prefix) / p.relative_to(base).as_posix())
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )
