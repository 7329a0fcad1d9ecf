"""The object store the workflow needs: S3 in the cloud (adapters/s3_store.py), memory in tests."""

from __future__ import annotations

import io
import threading
from typing import BinaryIO, Protocol


class ObjectNotFound(KeyError):
    pass


class ObjectStore(Protocol):
    def get(self, key: str) -> bytes: ...

    def open(self, key: str) -> BinaryIO:
        """A stream of the object, read in chunks (partial gradients are never held whole)."""
        ...

    def put(self, key: str, data: bytes) -> None: ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str) -> list[str]: ...

    def delete(self, keys: list[str]) -> None: ...


class MemoryStore:
    """A dict-backed ObjectStore; puts are atomic like S3's."""

    def __init__(self) -> None:
        self._objects: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self.puts = 0

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
            self._objects[key] = bytes(data)
            self.puts += 1

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
