"""Exactly-once reduction: whatever the delivery order, duplicates, retried workers or reducer crashes,
the sum holds exactly one contribution per shot."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workloads.lsrtm import layout
from workloads.lsrtm.arrays import add_npy_stream, from_npy_bytes, to_npy_bytes
from workloads.lsrtm.messages import IterationManifest, PartialGradientMessage
from workloads.lsrtm.reduction import apply_update, load_accumulator, reduce_messages
from workloads.lsrtm.store import MemoryStore

RUN = "run-1"
SHAPE = (7, 5)


def _partial(shot: int, version: int = 0) -> np.ndarray:
    # integer-valued float32: sums are exact whatever the order, so equality can be exact
    rng = np.random.default_rng(shot)
    return rng.integers(-1000, 1000, size=SHAPE).astype(np.float32)


def _setup(store: MemoryStore, shots: list[int], iteration: int = 1) -> IterationManifest:
    manifest = IterationManifest(run_id=RUN, iteration=iteration, shots=shots, step_size=0.5, task_token="t")
    store.put(layout.manifest_key(RUN, iteration), manifest.to_json().encode())
    return manifest


def _worker_writes(store: MemoryStore, shot: int, iteration: int = 1) -> PartialGradientMessage:
    key = layout.partial_gradient_key(RUN, iteration, shot)
    store.put(key, to_npy_bytes(_partial(shot)))
    return PartialGradientMessage(run_id=RUN, iteration=iteration, shot=shot, bucket='b', key=key, misfit=float(shot + 1))


class CrashingStore(MemoryStore):
    """Fails the n-th open(): a reducer dying in the middle of a sum."""

    def __init__(self, crash_on_open: int | None) -> None:
        super().__init__()
        self.crash_on_open = crash_on_open
        self.opens = 0

    def open(self, key):
        self.opens += 1
        if self.crash_on_open is not None and self.opens == self.crash_on_open:
            raise RuntimeError("reducer crashed mid-sum")
        return super().open(key)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_delivery_history_gives_exactly_the_true_sum(data):
    shots = sorted(data.draw(st.sets(st.integers(0, 50), min_size=1, max_size=8)))
    crash_at = data.draw(st.one_of(st.none(), st.integers(1, 6)))
    store = CrashingStore(crash_at)
    manifest = _setup(store, shots)
    messages = [_worker_writes(store, s) for s in shots]
    # retried workers send their message again; SQS may deliver any message twice
    retried = data.draw(st.lists(st.sampled_from(messages), max_size=6))
    queue = data.draw(st.permutations(messages + retried + retried[:2]))

    pending = list(queue)
    while pending:
        size = data.draw(st.integers(1, 10))
        batch, rest = pending[:size], pending[size:]
        try:
            reduce_messages(store, manifest, batch)
            pending = rest  # success: SQS deletes the batch
        except RuntimeError:
            store.crash_on_open = None  # redelivered after the visibility timeout
            pending = rest + batch

    acc = load_accumulator(store, RUN, 1)
    assert acc.shots == set(shots)
    np.testing.assert_array_equal(acc.total, sum(_partial(s) for s in shots))
    assert acc.misfit == sum(float(s + 1) for s in shots)


def test_completion_is_reported_exactly_when_every_shot_is_in():
    store = MemoryStore()
    manifest = _setup(store, [3, 9, 11])
    first, _ = reduce_messages(store, manifest, [_worker_writes(store, 3), _worker_writes(store, 9)])
    assert (first.added, first.complete) == ([3, 9], False)
    again, _ = reduce_messages(store, manifest, [_worker_writes(store, 9)])
    assert (again.added, again.skipped, again.complete) == ([], [9], False)
    last, acc = reduce_messages(store, manifest, [_worker_writes(store, 11)])
    assert last.complete and last.shots_done == 3


def test_a_batch_of_duplicates_writes_nothing():
    store = MemoryStore()
    manifest = _setup(store, [1, 2])
    message = _worker_writes(store, 1)
    reduce_messages(store, manifest, [message])
    puts = store.puts
    reduce_messages(store, manifest, [message, message])
    assert store.puts == puts


def test_messages_for_shots_outside_the_batch_are_refused():
    store = MemoryStore()
    manifest = _setup(store, [1, 2])
    with pytest.raises(ValueError, match="not in iteration 1's batch"):
        reduce_messages(store, manifest, [_worker_writes(store, 5)])


def test_the_update_subtracts_step_times_sum_from_the_previous_image():
    store = MemoryStore()
    manifest = _setup(store, [0, 1], iteration=2)
    previous = np.full(SHAPE, 10.0, np.float32)
    store.put(layout.image_key(RUN, 1), to_npy_bytes(previous))
    _, acc = reduce_messages(store, manifest, [_worker_writes(store, 0, 2), _worker_writes(store, 1, 2)])
    key = apply_update(store, manifest, acc)
    expected = previous - 0.5 * (_partial(0) + _partial(1))
    np.testing.assert_allclose(from_npy_bytes(store.get(key)), expected, rtol=1e-6)


def test_streamed_add_matches_numpy_for_any_chunk_size():
    a = np.arange(1001, dtype=np.float32).reshape(7, 143)
    for chunk in (4, 12, 100, 1 << 20):
        total = add_npy_stream(np.ones_like(a), io.BytesIO(to_npy_bytes(a)), chunk_bytes=chunk)
        np.testing.assert_array_equal(total, a + 1)


def test_a_truncated_or_mismatched_partial_is_an_error():
    a = np.zeros((4, 4), np.float32)
    data = to_npy_bytes(a)
    with pytest.raises(ValueError, match="ended after"):
        add_npy_stream(np.zeros((4, 4), np.float32), io.BytesIO(data[:-8]))
    with pytest.raises(ValueError, match="expected"):
        add_npy_stream(np.zeros((4, 5), np.float32), io.BytesIO(data))


def test_polyak_step_scales_with_misfit_over_gradient_norm():
    from workloads.lsrtm.sgd import step_for

    g = np.array([3.0, 4.0], np.float32)
    assert step_for("fixed", 0.5, 10.0, g) == 0.5
    assert step_for("polyak", 0.5, 10.0, g) == pytest.approx(0.5 * 10.0 / 25.0)
    assert step_for("polyak", 1.0, 10.0, np.zeros(2, np.float32)) == 0.0
    with pytest.raises(ValueError):
        step_for("magic", 1.0, 1.0, g)
