"""Arrays as .npy bytes, and streaming a .npy into an in-place sum without holding it whole."""

from __future__ import annotations

import io
from typing import BinaryIO

import numpy as np

CHUNK_BYTES = 8 * 1024 * 1024  # large enough to amortize the per-read cost, small enough for L2-friendly adds


def to_npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def from_npy_bytes(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


def read_npy_header(stream: BinaryIO) -> tuple[tuple[int, ...], np.dtype, bool]:
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version in ((2, 0), (3, 0)):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
    else:  # pragma: no cover - numpy writes 1.0 for our shapes
        raise ValueError(f"unsupported .npy version {version}")
    return shape, dtype, fortran


def add_npy_stream(total: np.ndarray | None, stream: BinaryIO, *, chunk_bytes: int = CHUNK_BYTES) -> np.ndarray:
    """total += the array in `stream` (a .npy), read chunk by chunk into one reused buffer.

    With total=None the sum starts at zeros of the stream's shape. Returns the sum (updated in place).
    """
    shape, dtype, fortran = read_npy_header(stream)
    if total is None:
        total = np.zeros(shape, dtype=dtype)
    if tuple(shape) != total.shape or dtype != total.dtype or fortran:
        raise ValueError(
            f"partial gradient is {shape} {dtype}{' (Fortran order)' if fortran else ''}, "
            f"expected {total.shape} {total.dtype} in C order"
        )
    flat = total.reshape(-1)
    itemsize = total.dtype.itemsize
    chunk_bytes -= chunk_bytes % itemsize
    buffer = bytearray(chunk_bytes)
    view = memoryview(buffer)
    offset = 0  # in elements
    pending = 0  # bytes in buffer not yet added
    while offset < flat.size:
        n = stream.readinto(view[pending:]) if hasattr(stream, "readinto") else _read_into(stream, view[pending:])
        if not n:
            raise ValueError(f"partial gradient ended after {offset} of {flat.size} values")
        pending += n
        usable = pending - pending % itemsize
        count = min(usable // itemsize, flat.size - offset)
        np.add(flat[offset : offset + count], np.frombuffer(buffer, dtype=total.dtype, count=count), out=flat[offset : offset + count])
        offset += count
        leftover = pending - count * itemsize
        if leftover:
            buffer[:leftover] = buffer[count * itemsize : pending]
        pending = leftover
    return total


def _read_into(stream: BinaryIO, view: memoryview) -> int:
    data = stream.read(len(view))
    view[: len(data)] = data
    return len(data)
