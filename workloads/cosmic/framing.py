"""Messages between ranks: a 24-byte header, a JSON description, then the raw bytes of every array.

Only data crosses the wire, never code: None, bool, int, float, str, lists, tuples, dicts with str keys,
numpy arrays and numpy scalars of numeric or bool dtype. Arrays travel as their raw bytes (64-byte
aligned in the body) and are sent from and received into their own memory, so a 64 MB array is never
copied by the framing. Python ints keep arbitrary precision (they live in the JSON).

Header ``!4sBBHIIQ``: magic ``CMF1``, op code, flags (0), reserved (0), per-link sequence number,
JSON length, body length. The op code lets a rank that expected a ``bcast`` say so when it got a
``gather``; the sequence number catches a lost or repeated frame.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from workloads.cosmic.errors import ProtocolMismatch

HEADER = struct.Struct("!4sBBHIIQ")
MAGIC = b"CMF1"
ALIGN = 64
MAX_META_BYTES = 64 << 20
_NUMERIC_KINDS = frozenset("biufc")
_ZEROS = memoryview(bytes(ALIGN))

OPS = ("hello", "send", "bcast", "barrier", "gather", "scatter", "reduce", "allreduce", "scan")
OP_CODES = {name: code for code, name in enumerate(OPS, start=1)} | {"recv": 2}  # recv answers send


@dataclass
class Encoded:
    """One message ready to send: header + JSON as bytes, then body chunks (array memory, padding)."""

    head: bytes
    body: list[memoryview]
    body_len: int
    single_array: tuple[np.dtype, int] | None  # (dtype, nbytes) when the message is exactly one array


def encode(obj: Any, op: str, seq: int) -> Encoded:
    chunks: list[memoryview] = []
    offset = [0]

    def add_buffer(arr: np.ndarray) -> int:
        pad = -offset[0] % ALIGN
        if pad:
            chunks.append(_ZEROS[:pad])
            offset[0] += pad
        start = offset[0]
        if arr.nbytes:
            chunks.append(memoryview(arr.reshape(-1).view(np.uint8)))
            offset[0] += arr.nbytes
        return start

    def describe(value: Any) -> Any:
        if value is None or isinstance(value, bool | str):
            return value
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else {"f": repr(value)}
        if isinstance(value, np.ndarray):
            arr = _contiguous(_check_dtype(value))
            return {"a": [arr.dtype.str, list(arr.shape), add_buffer(arr), arr.nbytes]}
        if isinstance(value, np.generic):
            arr = _contiguous(_check_dtype(np.asarray(value)))
            return {"g": [arr.dtype.str, add_buffer(arr), arr.nbytes]}
        if isinstance(value, list):
            return [describe(v) for v in value]
        if isinstance(value, tuple):
            return {"t": [describe(v) for v in value]}
        if isinstance(value, dict):
            if not all(isinstance(k, str) for k in value):
                raise TypeError("only dicts with str keys can be sent")
            return {"d": {k: describe(v) for k, v in value.items()}}
        raise TypeError(f"cannot send a {type(value).__name__}: use numpy arrays, numbers, str, lists, dicts")

    meta = json.dumps(describe(obj), separators=(",", ":"), allow_nan=False).encode()
    single = (obj.dtype, obj.nbytes) if isinstance(obj, np.ndarray) and obj.nbytes else None
    head = HEADER.pack(MAGIC, OP_CODES[op], 0, 0, seq & 0xFFFFFFFF, len(meta), offset[0]) + meta
    return Encoded(head, chunks, offset[0], single)


def unpack_header(data: bytes) -> tuple[str, int, int, int]:
    """(op, seq, meta_len, body_len) of a header, or ProtocolMismatch."""
    magic, code, _flags, _reserved, seq, meta_len, body_len = HEADER.unpack(data)
    if magic != MAGIC or not 1 <= code <= len(OPS):
        raise ProtocolMismatch(f"not a communicator frame (magic {magic!r}, op {code})")
    if meta_len > MAX_META_BYTES:
        raise ProtocolMismatch(f"frame description too large: {meta_len} bytes")
    return OPS[code - 1], seq, meta_len, body_len


def single_array_target(meta: bytes, body_len: int, into: np.ndarray | None) -> np.ndarray | None:
    """`into` when the incoming message is exactly one array that fits it, so the body lands there."""
    if into is None or not into.flags.c_contiguous or not into.flags.writeable:
        return None
    if body_len != into.nbytes:
        return None
    node = json.loads(meta)
    if not (isinstance(node, dict) and "a" in node and len(node) == 1):
        return None
    dtype, shape, offset, nbytes = node["a"]
    if np.dtype(dtype) != into.dtype or offset != 0 or nbytes != into.nbytes or math.prod(shape) != into.size:
        return None
    return into


def decode(meta: bytes, body: memoryview | bytearray) -> Any:
    """Rebuild the object; arrays are views of `body` (writable when `body` is)."""
    view = memoryview(body)

    def array(dtype_str: Any, shape: Any, offset: Any, nbytes: Any) -> np.ndarray:
        dtype = _check_dtype(np.empty(0, dtype=np.dtype(dtype_str))).dtype
        if not (isinstance(shape, list) and all(isinstance(s, int) and s >= 0 for s in shape)):
            raise ProtocolMismatch(f"bad array shape {shape!r}")
        if not (isinstance(offset, int) and isinstance(nbytes, int) and 0 <= offset and offset + nbytes <= len(view)):
            raise ProtocolMismatch("array outside the message body")
        if math.prod(shape) * dtype.itemsize != nbytes:
            raise ProtocolMismatch("array size does not match its shape")
        if nbytes == 0:
            return np.empty(shape, dtype=dtype)
        return np.frombuffer(view[offset : offset + nbytes], dtype=dtype).reshape(shape)

    def build(node: Any) -> Any:
        if isinstance(node, list):
            return [build(v) for v in node]
        if not isinstance(node, dict):
            return node
        if len(node) != 1:
            raise ProtocolMismatch("bad frame description")
        ((tag, value),) = node.items()
        if tag == "a":
            return array(*value)
        if tag == "g":
            return array(value[0], [], value[1], value[2])[()]
        if tag == "t":
            return tuple(build(v) for v in value)
        if tag == "d":
            return {k: build(v) for k, v in value.items()}
        if tag == "f":
            return float(value)
        raise ProtocolMismatch(f"unknown tag {tag!r}")

    try:
        return build(json.loads(meta))
    except (ValueError, TypeError, KeyError) as exc:
        raise ProtocolMismatch(f"undecodable frame: {exc}") from exc


def _contiguous(arr: np.ndarray) -> np.ndarray:
    """C-contiguous, keeping 0-d arrays 0-d (np.ascontiguousarray would make them 1-d)."""
    return arr if arr.flags.c_contiguous else arr.copy(order="C")


def _check_dtype(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind not in _NUMERIC_KINDS or arr.dtype.fields is not None or arr.dtype.subdtype is not None:
        raise TypeError(f"only numeric and bool arrays can be sent, not {arr.dtype}")
    return arr
