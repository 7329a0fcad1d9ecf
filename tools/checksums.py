"""SHA-256 manifests of the input files a dataset was converted from (`hpcx data bp2004`).

No checksums of the BP 2004 files are published (not by SEG, nor with the SLIM group's converted files
the seed used), so a conversion records its own: a manifest in `sha256sum`'s format (`<hex>  <name>`,
one file a line, names without folders), which `--checksums FILE` checks the next conversion against
(another machine, a fresh download) and `sha256sum -c` can check in a folder holding the files.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from pathlib import Path

CHUNK = 1 << 20  # bytes read at a time: a SEG-Y shot is several MB, the model hundreds
LINE = re.compile(r"^(?P<digest>[0-9a-fA-F]{64}) [ *](?P<name>.+)$")  # sha256sum's text and binary modes


class ChecksumError(ValueError):
    """A file differs from the manifest, is not in it, or the manifest cannot be read; one line."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def digests(paths: Iterable[Path], advance: Callable[[], None] = lambda: None) -> dict[str, str]:
    """File name -> SHA-256 hex digest. Names must be unique: the manifest holds no folders."""
    out: dict[str, str] = {}
    for path in paths:
        if path.name in out:
            raise ChecksumError(f"two inputs are named {path.name}: a manifest of file names cannot tell them apart")
        out[path.name] = sha256_of(path)
        advance()
    return out


def write_manifest(path: Path, files: dict[str, str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{digest}  {name}\n" for name, digest in files.items()))
    return path


def read_manifest(path: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        match = LINE.match(line)
        if not match:
            raise ChecksumError(f"{path}:{number} is not '<sha256 hex>  <file name>' (sha256sum's format)")
        files[Path(match["name"].strip()).name] = match["digest"].lower()
    if not files:
        raise ChecksumError(f"{path} lists no files")
    return files


def verify(actual: dict[str, str], expected: dict[str, str], source: Path) -> None:
    """ChecksumError naming the first input that is not in `expected` or differs from it (and how many)."""
    unlisted = [name for name in actual if name not in expected]
    differing = [name for name in actual if name in expected and expected[name] != actual[name]]
    if differing:
        name = differing[0]
        more = f" (and {len(differing) - 1} more files)" if len(differing) > 1 else ""
        raise ChecksumError(f"{name}: SHA-256 {actual[name][:12]}... differs from {expected[name][:12]}... in "
                            f"{source}{more}: the file is not the one the checksums were made from; nothing was converted")
    if unlisted:
        more = f" (and {len(unlisted) - 1} more)" if len(unlisted) > 1 else ""
        raise ChecksumError(f"{unlisted[0]}{more} is not in {source}: the checksums cover other files; nothing was converted")
