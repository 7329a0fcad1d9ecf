"""A read-only, seekable view of one S3 object that fetches only the byte ranges that are read.

The reducer's accumulator (workloads/lsrtm/reduction.py) is an .npz holding the gradient sum (as large
as one shot's gradient, tens of MB) beside the small set of shots already summed. A status refresh needs
only that set: zipfile reads the archive's directory at the end and then one member, so with this view
a refresh costs a HEAD and a few ranged GETs of at most one block each, never the whole sum.
"""

from __future__ import annotations

import io


class RangedObject(io.RawIOBase):
    """Seekable file over s3://bucket/key; blocks of `block` bytes are fetched once, on first read."""

    def __init__(self, s3, bucket: str, key: str, *, block: int = 64 * 1024) -> None:
        super().__init__()
        self._s3, self._bucket, self._key, self._block = s3, bucket, key, block
        self.size = int(s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
        self._pos = 0
        self._blocks: dict[int, bytes] = {}
        self.requests = 0  # ranged GETs made (the tests check that the sum itself is never read)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self._pos < self.size:
            index, start = divmod(self._pos, self._block)
            chunk = self._fetch(index)[start:start + len(view) - done]
            view[done:done + len(chunk)] = chunk
            done += len(chunk)
            self._pos += len(chunk)
        return done

    def _fetch(self, index: int) -> bytes:
        if index not in self._blocks:
            first = index * self._block
            last = min(first + self._block, self.size) - 1
            body = self._s3.get_object(Bucket=self._bucket, Key=self._key, Range=f"bytes={first}-{last}")["Body"]
            self._blocks[index] = body.read()
            self.requests += 1
        return self._blocks[index]
