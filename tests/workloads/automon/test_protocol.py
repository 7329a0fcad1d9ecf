"""Wire format: the 12-byte header, round trips of every message type, and rejection of bad frames."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workloads.automon import protocol as p

finite = st.floats(allow_nan=False, allow_infinity=False, width=64, allow_subnormal=False)
node_idx = st.integers(min_value=-(2**31), max_value=2**31 - 1)
version = st.integers(min_value=0, max_value=2**32 - 1)


def vectors(d: int, elements=finite):
    return st.lists(elements, min_size=d, max_size=d).map(np.array)


@st.composite
def messages(draw):
    d = draw(st.integers(min_value=1, max_value=45))
    idx, ver = draw(node_idx), draw(version)
    kind = draw(st.sampled_from(["violation", "get", "info", "sync", "lazy", "data", "central"]))
    if kind == "violation":
        return d, p.Violation(idx, ver, draw(st.sampled_from(list(p.ViolationOrigin))), draw(vectors(d)))
    if kind == "get":
        return d, p.GetLocalVector(idx, ver)
    if kind == "info":
        return d, p.LocalVectorInfo(idx, ver, draw(vectors(d)))
    if kind == "sync":
        # thresholds and slack may be infinite (unbounded constraints); only data vectors must be finite
        anyf = st.floats(allow_nan=False, width=64, allow_subnormal=False)
        return d, p.Sync(idx, ver, draw(vectors(d, anyf)), draw(vectors(d, anyf)), draw(anyf), draw(anyf))
    if kind == "lazy":
        return d, p.LazySync(idx, ver, draw(vectors(d)))
    if kind == "data":
        return d, p.DataUpdate(idx, draw(vectors(d)))
    return d, p.CentralizationUpdate(idx, draw(vectors(d)))


def _fields(message) -> dict:
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in vars(message).items()}


@settings(max_examples=300, deadline=None)
@given(messages())
def test_every_message_round_trips_bit_for_bit(case):
    d, message = case
    frame = p.encode(message)
    header, payload = p.decode_header(frame)
    assert len(frame) == 12 + header.payload_len == 12 + len(payload)
    assert header.node_idx == message.node_idx
    if isinstance(message, p.CentralizationUpdate):
        decoded = p.decode_centralization_update(frame, d)
        assert len(frame) == p.centralization_message_size(d)
    else:
        decoded = p.decode(frame, d)
    assert type(decoded) is type(message)
    assert _fields(decoded) == _fields(message)
    assert p.encode(decoded) == frame


def test_header_is_twelve_bytes_network_order():
    frame = p.encode(p.LocalVectorInfo(3, 7, np.array([1.5])))
    assert frame[:12] == bytes([0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 12])  # type 2, node 3, payload 4 + 8
    assert frame[12:16] == bytes([0, 0, 0, 7])
    assert frame[16:] == struct.pack(">d", 1.5)
    assert p.encode(p.GetLocalVector(-1, 0))[4:8] == b"\xff\xff\xff\xff"  # node_idx is signed


def test_types_and_origins_keep_the_original_numbering():
    assert [t.value for t in p.MessageType] == [0, 1, 2, 3, 4, 5]
    assert [m.name for m in p.MessageType] == ["VIOLATION", "GET_LOCAL_VECTOR", "LOCAL_VECTOR_INFO", "SYNC",
                                              "LAZY_SYNC", "DATA_UPDATE"]
    assert [o.value for o in p.ViolationOrigin] == [0, 1, 2]


def _header(type_: int, idx: int, payload_len: int) -> bytes:
    return struct.pack("!LlL", type_, idx, payload_len)


D = 3
BAD_FRAMES = [
    (b"", "short_header"),
    (b"\x00" * 11, "short_header"),
    (_header(6, 0, 0), "unknown_type"),
    (_header(2**32 - 1, 0, 0), "unknown_type"),
    (_header(2, 0, 8) + b"\x00" * 16, "length_mismatch"),
    (_header(2, 0, 40) + b"\x00" * 8, "length_mismatch"),
    (_header(2, 0, 4 + 8 * (D - 1)) + b"\x00" * (4 + 8 * (D - 1)), "payload_size"),
    (_header(1, 0, 8) + b"\x00" * 8, "payload_size"),
    (_header(0, 0, 8 + 8 * D) + struct.pack("!LL", 0, 3) + b"\x00" * 8 * D, "bad_origin"),
    (p.encode(p.LocalVectorInfo(0, 0, np.array([1.0, np.nan, 2.0]))), "non_finite"),
    (p.encode(p.DataUpdate(0, np.array([np.inf, 0.0, 0.0]))), "non_finite"),
]


@pytest.mark.parametrize(("frame", "reason"), BAD_FRAMES)
def test_bad_frames_are_rejected_with_a_reason(frame, reason):
    with pytest.raises(p.ProtocolError) as err:
        p.decode(frame, D)
    assert err.value.reason == reason


def test_oversized_frames_are_rejected():
    with pytest.raises(p.ProtocolError) as err:
        p.decode_header(_header(5, 0, p.MAX_MESSAGE_BYTES) + b"\x00" * p.MAX_MESSAGE_BYTES)
    assert err.value.reason == "too_large"


def test_centralization_decoder_is_strict_about_type_and_size():
    with pytest.raises(p.ProtocolError, match="unexpected_type"):
        p.decode_centralization_update(p.encode(p.DataUpdate(0, np.zeros(D))), D)
    # a versioned LocalVectorInfo is 4 bytes longer than the baseline's update
    with pytest.raises(p.ProtocolError, match="payload_size"):
        p.decode_centralization_update(p.encode(p.LocalVectorInfo(0, 0, np.zeros(D))), D)
    with pytest.raises(p.ProtocolError, match="non_finite"):
        p.decode_centralization_update(p.encode(p.CentralizationUpdate(0, np.array([0.0, np.nan, 0.0]))), D)


def test_encode_refuses_values_that_do_not_fit():
    with pytest.raises(ValueError):
        p.encode(p.GetLocalVector(2**31, 0))
    with pytest.raises(ValueError):
        p.encode(p.GetLocalVector(0, -1))
    with pytest.raises(ValueError):
        p.encode(p.Sync(0, 0, np.zeros(2), np.zeros(3), 0.0, 1.0))


def test_control_frames_cannot_be_mistaken_for_messages():
    assert all(len(frame) < p.HEADER_SIZE for frame in p.CONTROL_FRAMES)
    assert p.frame_kind(p.READY) == "ready"
    assert p.frame_kind(p.encode(p.LazySync(1, 2, np.zeros(2)))) == "LAZY_SYNC"
    assert p.frame_kind(_header(9, 0, 0)) == "malformed"
    assert p.frame_kind(b"hello") == "malformed"
