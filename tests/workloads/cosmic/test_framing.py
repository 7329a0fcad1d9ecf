"""Message framing: what can cross the wire, zero-copy arrays, and refusal of malformed frames."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workloads.cosmic import framing
from workloads.cosmic.errors import ProtocolMismatch


def roundtrip(obj: object, op: str = "send", seq: int = 0) -> object:
    msg = framing.encode(obj, op, seq)
    head, meta = msg.head[: framing.HEADER.size], msg.head[framing.HEADER.size :]
    got_op, got_seq, meta_len, body_len = framing.unpack_header(head)
    assert (got_op, got_seq, meta_len, body_len) == (op, seq, len(meta), msg.body_len)
    body = bytearray(b"".join(bytes(c) for c in msg.body))
    assert len(body) == body_len
    return framing.decode(meta, body)


def test_nested_objects_round_trip_with_types() -> None:
    obj = {
        "ints": [1, -2, 2**80],
        "floats": (0.5, float("inf"), -float("inf")),
        "flags": [True, False, None],
        "text": "zß",
        "arr": np.arange(12, dtype=np.int16).reshape(3, 4),
        "f32": np.float32(1.5),
        "empty": np.zeros((0, 3)),
        "scalar0d": np.array(7.0),
        "cplx": np.array([1 + 2j]),
        "bools": np.array([True, False]),
    }
    back = roundtrip(obj)
    assert back["ints"] == [1, -2, 2**80] and isinstance(back["floats"], tuple)
    assert back["floats"][1:] == (float("inf"), -float("inf")) and back["flags"] == [True, False, None]
    assert back["text"] == "zß"
    np.testing.assert_array_equal(back["arr"], obj["arr"])
    assert back["arr"].dtype == np.int16 and back["arr"].flags.writeable
    assert isinstance(back["f32"], np.float32) and back["f32"] == np.float32(1.5)
    assert back["empty"].shape == (0, 3) and back["scalar0d"].shape == ()
    assert back["cplx"].dtype == np.complex128 and back["bools"].dtype == np.bool_
    assert np.isnan(roundtrip(float("nan")))


def test_arrays_are_sent_from_their_memory_and_aligned() -> None:
    a, b = np.arange(3, dtype=np.uint8), np.arange(5, dtype=np.float64)
    msg = framing.encode([a, b], "gather", 1)
    meta = json.loads(msg.head[framing.HEADER.size :])
    offsets = [node["a"][2] for node in meta]
    assert offsets == [0, 64]  # the float64 array starts on a 64-byte boundary
    assert any(np.shares_memory(np.frombuffer(chunk, np.uint8), b.view(np.uint8)) for chunk in msg.body)
    assert msg.single_array is None and framing.encode(b, "send", 0).single_array == (b.dtype, b.nbytes)


def test_non_contiguous_arrays_are_sent_by_value() -> None:
    a = np.arange(20.0).reshape(4, 5)[:, ::2]
    np.testing.assert_array_equal(roundtrip(a), a)


@pytest.mark.parametrize("bad", [np.array([object()]), {1: "x"}, {"s"}, b"bytes", np.array([(1, 2)], "i4,i4")])
def test_only_data_can_be_sent(bad: object) -> None:
    with pytest.raises(TypeError):
        framing.encode(bad, "send", 0)


def test_single_array_target_only_when_it_fits() -> None:
    arr = np.ones(8)
    msg = framing.encode(arr, "allreduce", 0)
    meta = msg.head[framing.HEADER.size :]
    into = np.empty(8)
    assert framing.single_array_target(meta, msg.body_len, into) is into
    assert framing.single_array_target(meta, msg.body_len, np.empty(8, np.float32)) is None
    assert framing.single_array_target(meta, msg.body_len, np.empty(16)[::2]) is None
    assert framing.single_array_target(meta, msg.body_len, None) is None


def test_malformed_frames_are_refused() -> None:
    good = framing.encode(1, "send", 0).head[: framing.HEADER.size]
    with pytest.raises(ProtocolMismatch):
        framing.unpack_header(b"XXXX" + good[4:])
    with pytest.raises(ProtocolMismatch):
        framing.unpack_header(framing.HEADER.pack(framing.MAGIC, 99, 0, 0, 0, 0, 0))
    with pytest.raises(ProtocolMismatch):
        framing.unpack_header(framing.HEADER.pack(framing.MAGIC, 1, 0, 0, 0, framing.MAX_META_BYTES + 1, 0))
    body = bytearray(16)
    for meta in (
        b'{"a": ["<f8", [4], 0, 32]}',  # runs past the body
        b'{"a": ["<f8", [3], 0, 16]}',  # size does not match the shape
        b'{"a": ["|O", [1], 0, 8]}',  # object dtype
        b'{"a": ["<f8", [-1], 0, 8]}',
        b'{"zz": 1}',
        b'{"a": 1, "t": 2}',
        b"not json",
    ):
        with pytest.raises(ProtocolMismatch):
            framing.decode(meta, body)


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_subnormal=False), st.text(max_size=5))
arrays = st.builds(lambda v, dt: np.asarray(v, dtype=dt), st.lists(st.integers(0, 100), max_size=6),
                   st.sampled_from(["<i4", ">i8", "<f4", "<f8", "|u1"]))
data = st.recursive(st.one_of(scalars, arrays), lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner), st.dictionaries(st.text(max_size=3), inner, max_size=3)),
    max_leaves=12)


def same(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@settings(max_examples=60, deadline=None)
@given(data)
def test_any_supported_structure_round_trips(obj: object) -> None:
    assert same(obj, roundtrip(obj))
