"""The coordinator-node wire format: control frames, the 12-byte header, and the payload of each type.

A protocol message is one ZeroMQ frame: a header ``struct '! L l L'`` = (type u32, node_idx i32,
payload_len u32) in network byte order, then ``payload_len`` bytes of payload (big-endian u32 fields and
doubles), byte-compatible with the ``automon`` package's ``common_messages``. Control frames are short
ASCII words (``ready``, ``start``, ``done``, ``bye``, ``bye_ack``, ``abort``); all are shorter than a header, so a frame is
either one or the other.

Every decoder validates sizes, enum values and (for data vectors) finiteness and raises
:class:`ProtocolError` with a short ``reason`` code, which the coordinator counts.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

import numpy as np

HEADER = struct.Struct("!LlL")
HEADER_SIZE = HEADER.size  # 12
MAX_MESSAGE_BYTES = 1 << 20  # far above any legitimate message (d <= 41); the socket drops larger ones

READY = b"ready"  # node -> coordinator, once connected
START = b"start"  # coordinator -> every node, once all are ready (the barrier)
DONE = b"done"  # node -> coordinator, after its last update (our addition: explicit end of stream)
BYE = b"bye"  # coordinator -> every node, once all are done (nodes answer requests until then)
# node -> coordinator, the node's last frame: the coordinator closes only once every node acknowledged
# 'bye', so no node sees the connection drop before its 'bye' and both ends book the same frames
BYE_ACK = b"bye_ack"
ABORT = b"abort"  # node -> coordinator: this node's algorithm failed; the coordinator ends the run
CONTROL_FRAMES = {READY: "ready", START: "start", DONE: "done", BYE: "bye", BYE_ACK: "bye_ack", ABORT: "abort"}

_U32 = struct.Struct("!L")
_U32_PAIR = struct.Struct("!LL")
_DOUBLE = 8
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_UINT32_MAX = 2**32 - 1


class MessageType(enum.IntEnum):
    VIOLATION = 0  # constraint version, violation origin, local vector
    GET_LOCAL_VECTOR = 1  # constraint version
    LOCAL_VECTOR_INFO = 2  # constraint version, local vector (centralization: local vector only)
    SYNC = 3  # constraint version, global vector, node slack, lower and upper threshold
    LAZY_SYNC = 4  # constraint version, node slack
    DATA_UPDATE = 5  # one data point (fed to a node by its own data loop, never sent over the network)


class ViolationOrigin(enum.IntEnum):
    SAFE_ZONE = 0
    DOMAIN = 1
    FAULTY_SAFE_ZONE = 2


class ProtocolError(ValueError):
    """A frame that breaks the protocol; ``reason`` is a short code used as a counter key."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class Header:
    type: MessageType
    node_idx: int
    payload_len: int


@dataclass(frozen=True, eq=False)
class Violation:
    node_idx: int
    constraint_version: int
    origin: ViolationOrigin
    local_vector: np.ndarray


@dataclass(frozen=True)
class GetLocalVector:
    node_idx: int
    constraint_version: int


@dataclass(frozen=True, eq=False)
class LocalVectorInfo:
    node_idx: int
    constraint_version: int
    local_vector: np.ndarray


@dataclass(frozen=True, eq=False)
class Sync:
    node_idx: int
    constraint_version: int
    global_vector: np.ndarray
    node_slack: np.ndarray
    l_thresh: float
    u_thresh: float


@dataclass(frozen=True, eq=False)
class LazySync:
    node_idx: int
    constraint_version: int
    node_slack: np.ndarray


@dataclass(frozen=True, eq=False)
class DataUpdate:
    node_idx: int
    data_point: np.ndarray


@dataclass(frozen=True, eq=False)
class CentralizationUpdate:
    """The centralization baseline's message: a LocalVectorInfo carrying only the local vector.

    The original baseline left out the constraint version (there are no constraints), so its
    payload is ``8 * d`` bytes; we keep its byte count.
    """

    node_idx: int
    local_vector: np.ndarray


Message = Violation | GetLocalVector | LocalVectorInfo | Sync | LazySync | DataUpdate


# ---------------------------------------------------------------- encoding


def encode_header(message_type: MessageType, node_idx: int, payload_len: int) -> bytes:
    if not _INT32_MIN <= node_idx <= _INT32_MAX:
        raise ValueError(f"node_idx {node_idx} does not fit in a signed 32-bit field")
    return HEADER.pack(int(message_type), node_idx, payload_len)


def _doubles(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype=">f8").reshape(-1).tobytes()


def _u32(value: int) -> bytes:
    if not 0 <= value <= _UINT32_MAX:
        raise ValueError(f"{value} does not fit in an unsigned 32-bit field")
    return _U32.pack(value)


def _frame(message_type: MessageType, node_idx: int, payload: bytes) -> bytes:
    return encode_header(message_type, node_idx, len(payload)) + payload


def encode(message: Message | CentralizationUpdate) -> bytes:
    """One wire frame for ``message``."""
    match message:
        case Violation():
            payload = _u32(message.constraint_version) + _u32(int(message.origin)) + _doubles(message.local_vector)
            return _frame(MessageType.VIOLATION, message.node_idx, payload)
        case GetLocalVector():
            return _frame(MessageType.GET_LOCAL_VECTOR, message.node_idx, _u32(message.constraint_version))
        case LocalVectorInfo():
            payload = _u32(message.constraint_version) + _doubles(message.local_vector)
            return _frame(MessageType.LOCAL_VECTOR_INFO, message.node_idx, payload)
        case Sync():
            if message.global_vector.size != message.node_slack.size:
                raise ValueError("global vector and node slack must have the same length")
            payload = (_u32(message.constraint_version) + _doubles(message.global_vector)
                       + _doubles(message.node_slack) + _doubles(np.array([message.l_thresh, message.u_thresh])))
            return _frame(MessageType.SYNC, message.node_idx, payload)
        case LazySync():
            payload = _u32(message.constraint_version) + _doubles(message.node_slack)
            return _frame(MessageType.LAZY_SYNC, message.node_idx, payload)
        case DataUpdate():
            return _frame(MessageType.DATA_UPDATE, message.node_idx, _doubles(message.data_point))
        case CentralizationUpdate():
            return _frame(MessageType.LOCAL_VECTOR_INFO, message.node_idx, _doubles(message.local_vector))
    raise TypeError(f"cannot encode {type(message).__name__}")


def centralization_message_size(d: int) -> int:
    """Bytes of one centralization update for a local vector of length ``d``."""
    return HEADER_SIZE + _DOUBLE * d


# ---------------------------------------------------------------- decoding


def decode_header(frame: bytes) -> tuple[Header, bytes]:
    """Split ``frame`` into a validated header and its payload."""
    if len(frame) < HEADER_SIZE:
        raise ProtocolError("short_header", f"{len(frame)} bytes, a header needs {HEADER_SIZE}")
    if len(frame) > MAX_MESSAGE_BYTES:
        raise ProtocolError("too_large", f"{len(frame)} bytes")
    raw_type, node_idx, payload_len = HEADER.unpack_from(frame)
    try:
        message_type = MessageType(raw_type)
    except ValueError:
        raise ProtocolError("unknown_type", f"message type {raw_type}") from None
    if payload_len != len(frame) - HEADER_SIZE:
        raise ProtocolError("length_mismatch",
                            f"header says {payload_len} payload bytes, frame carries {len(frame) - HEADER_SIZE}")
    return Header(message_type, node_idx, payload_len), bytes(frame[HEADER_SIZE:])


def _vector(payload: bytes, offset: int, d: int, *, finite: bool) -> np.ndarray:
    vector = np.frombuffer(payload, dtype=">f8", count=d, offset=offset).astype(np.float64)
    if finite and not np.all(np.isfinite(vector)):
        raise ProtocolError("non_finite", "vector holds NaN or infinity")
    return vector


def _expect_size(header: Header, expected: int, what: str) -> None:
    if header.payload_len != expected:
        raise ProtocolError("payload_size",
                            f"{header.type.name} payload of {header.payload_len} bytes, {what} needs {expected}")


def decode(frame: bytes, d: int) -> Message:
    """Decode a protocol frame whose vectors have length ``d`` (data points too, for DATA_UPDATE)."""
    header, payload = decode_header(frame)
    idx = header.node_idx
    match header.type:
        case MessageType.VIOLATION:
            _expect_size(header, 8 + _DOUBLE * d, f"d={d}")
            version, raw_origin = _U32_PAIR.unpack_from(payload)
            try:
                origin = ViolationOrigin(raw_origin)
            except ValueError:
                raise ProtocolError("bad_origin", f"violation origin {raw_origin}") from None
            return Violation(idx, version, origin, _vector(payload, 8, d, finite=True))
        case MessageType.GET_LOCAL_VECTOR:
            _expect_size(header, 4, "a constraint version")
            return GetLocalVector(idx, _U32.unpack(payload)[0])
        case MessageType.LOCAL_VECTOR_INFO:
            _expect_size(header, 4 + _DOUBLE * d, f"d={d}")
            return LocalVectorInfo(idx, _U32.unpack_from(payload)[0], _vector(payload, 4, d, finite=True))
        case MessageType.SYNC:
            _expect_size(header, 4 + _DOUBLE * (2 * d + 2), f"d={d}")
            tail = np.frombuffer(payload, dtype=">f8", count=2, offset=4 + _DOUBLE * 2 * d)
            return Sync(idx, _U32.unpack_from(payload)[0], _vector(payload, 4, d, finite=False),
                        _vector(payload, 4 + _DOUBLE * d, d, finite=False), float(tail[0]), float(tail[1]))
        case MessageType.LAZY_SYNC:
            _expect_size(header, 4 + _DOUBLE * d, f"d={d}")
            return LazySync(idx, _U32.unpack_from(payload)[0], _vector(payload, 4, d, finite=False))
        case MessageType.DATA_UPDATE:
            _expect_size(header, _DOUBLE * d, f"a data point of length {d}")
            return DataUpdate(idx, _vector(payload, 0, d, finite=True))
    raise AssertionError(header.type)  # unreachable: MessageType is exhaustive


def decode_centralization_update(frame: bytes, d: int) -> CentralizationUpdate:
    header, payload = decode_header(frame)
    if header.type is not MessageType.LOCAL_VECTOR_INFO:
        raise ProtocolError("unexpected_type", f"centralization expects LOCAL_VECTOR_INFO, got {header.type.name}")
    _expect_size(header, _DOUBLE * d, f"a local vector of length {d}")
    return CentralizationUpdate(header.node_idx, _vector(payload, 0, d, finite=True))


def frame_kind(frame: bytes) -> str:
    """Counter key for a frame: the control word, the message type name, or 'malformed'."""
    control = CONTROL_FRAMES.get(bytes(frame))
    if control is not None:
        return control
    if len(frame) >= HEADER_SIZE:
        try:
            return MessageType(HEADER.unpack_from(frame)[0]).name
        except ValueError:
            pass
    return "malformed"
