"""The object store the workflow needs: S3 in the cloud (adapters/s3_store.py), memory in tests."""

from __future__ import annotations

import io
import threading
from typing import BinaryIO, Protocol


class ObjectNotFound(KeyError):
    pass


class PreconditionFailed(Exception):
    """A conditional put was refused: the object changed (or appeared) since it was read."""


class ObjectStore(Protocol):
    def get(self, key: str) -> bytes: ...

    def open(self, key: str) -> BinaryIO:
        """A stream of the object, read in chunks (partial gradients are never held whole)."""
        ...

    def put(self, key: str, data: bytes) -> None: ...

    def get_with_etag(self, key: str) -> tuple[bytes, str]:
        """The object and its entity tag, the version a conditional put names."""
        ...

    def put_if(self, key: str, data: bytes, *, etag: str | None) -> str:
        """Write only if the object is still at `etag` (None: only if there is no object yet); returns the new
        tag, or raises PreconditionFailed. Two writers that read the same version cannot both succeed."""
        ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str) -> list[str]: ...

    def delete(self, keys: list[str]) -> None: ...


class MemoryStore:
    """A dict-backed ObjectStore; puts are atomic and conditional puts are checked like S3's."""

    def __init__(self) -> None:
        self._objects: dict[str, bytes] = {}
        self._etags: dict[str, str] = {}
        self._lock = threading.Lock()
        self.puts = 0
        self._writes = 0  # a fresh tag per write, so equal contents written twice still differ in version

    def get(self, key: str) -> bytes:
        with self._lock:
            try:
                return self._objects[key]
            except KeyError:
                raise ObjectNotFound(key) from None

    def open(self, key: str) -> BinaryIO:
        return io.BytesIO(self.get(key))

    def put(self, key: str, data: bytes) -> None:
        with self._lock:
            self._write(key, data)

    def get_with_etag(self, key: str) -> tuple[bytes, str]:
        with self._lock:
            if key not in self._objects:
                raise ObjectNotFound(key)
            return self._objects[key], self._etags[key]

    def put_if(self, key: str, data: bytes, *, etag: str | None) -> str:
        with self._lock:
            if self._etags.get(key) != etag:
                raise PreconditionFailed(f"{key}: expected version {etag}, found {self._etags.get(key)}")
            return self._write(key, data)

    def _write(self, key: str, data: bytes) -> str:
        self._writes += 1
        self._objects[key] = bytes(data)
        self._etags[key] = f'"{self._writes}"'
        self.puts += 1
        return self._etags[key]

    def exists(self, key: str) -> bool:
        with self._lock:
            return key in self._objects

    def list(self, prefix: str) -> list[str]:
        with self._lock:
            return sorted(k for k in self._objects if k.startswith(prefix))

    def delete(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._objects.pop(key, None)
                self._etags.pop(key, None)
