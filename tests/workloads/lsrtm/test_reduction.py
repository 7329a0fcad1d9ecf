"""Exactly-once reduction: whatever the delivery order, duplicates, retried workers or reducer crashes,
the sum holds exactly one contribution per shot."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workloads.common.store import MemoryStore
from workloads.lsrtm import layout
from workloads.lsrtm.arrays import add_npy_stream, from_npy_bytes, to_npy_bytes
from workloads.lsrtm.messages import InvalidMessage, IterationManifest, PartialGradientMessage
from workloads.lsrtm.reduction import apply_update, load_accumulator, reduce_messages

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


class AdversarialStore(MemoryStore):
    """Fails the opens numbered in `crashes` (a reducer dying mid-sum); and just before a reducer's
    accumulator write lands, runs `intruder` (another reducer, whose FIFO group lock has lapsed)."""

    def __init__(self, crashes: set[int]) -> None:
        super().__init__()
        self.crashes = crashes
        self.opens = 0
        self.intruder = None

    def open(self, key):
        self.opens += 1
        if self.opens in self.crashes:
            raise RuntimeError("reducer crashed mid-sum")
        return super().open(key)

    def _before_write(self, key: str) -> None:
        if key.endswith("accumulator.npz") and self.intruder is not None:
            intruder, self.intruder = self.intruder, None
            intruder()

    def put(self, key, data):
        self._before_write(key)
        super().put(key, data)

    def put_if(self, key, data, *, etag):
        self._before_write(key)
        return super().put_if(key, data, etag=etag)


MAX_RECEIVES = 2  # small, so that histories reach the dead-letter queue


def _poison(kind: str, store: MemoryStore, shots: list[int]) -> str:
    """A body no redelivery can make valid, of the kinds seen in practice."""
    good = _worker_writes(store, shots[0])
    if kind == "garbage":
        return "{not json"
    if kind == "misfit_null":  # a shot whose misfit overflowed: float('inf') is written as null
        return good.to_json().replace(f'"misfit":{good.misfit}', '"misfit":null')
    if kind == "other_shots_key":
        return good.model_copy(update={"shot": shots[-1] if len(shots) > 1 else shots[0] + 100}).to_json()
    if kind == "outside_batch":
        return _worker_writes(store, max(shots) + 1).to_json()
    raise AssertionError(kind)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_delivery_history_gives_exactly_the_true_sum(data):
    """Duplicates, retried workers, crashes, the dead-letter queue and its redrive, poison messages and a
    second reducer racing the first: the sum is exactly one contribution per shot, every poison message
    is set aside on its first delivery, and no valid message is ever set aside or dragged along."""
    shots = sorted(data.draw(st.sets(st.integers(0, 50), min_size=1, max_size=8), label="shots"))
    store = AdversarialStore(data.draw(st.sets(st.integers(1, 12), max_size=4), label="crashing opens"))
    manifest = _setup(store, shots)
    good = [_worker_writes(store, s).to_json() for s in shots]
    retried = data.draw(st.lists(st.sampled_from(good), max_size=6), label="retried or redelivered")
    kinds = data.draw(st.lists(st.sampled_from(["garbage", "misfit_null", "other_shots_key", "outside_batch"]),
                               max_size=3), label="poison")
    poison = [_poison(kind, store, shots) for kind in kinds]
    bodies = data.draw(st.permutations(good + retried + poison))
    pending = list(enumerate(bodies))  # (delivery id, body): duplicates are distinct deliveries
    receives: dict[int, int] = {}
    dead_letters: list[tuple[int, str]] = []
    set_aside: list[str] = []

    def deliver(batch: list[tuple[int, str]]) -> bool:
        """One reducer invocation, as the handler does it; False when it crashed (SQS redelivers)."""
        for i, _ in batch:
            receives[i] = receives.get(i, 0) + 1
        try:
            parsed = []
            for _, body in batch:
                try:
                    parsed.append(PartialGradientMessage.parse(body, f"{RUN}.1"))
                except InvalidMessage:
                    set_aside.append(body)
            result, _ = reduce_messages(store, manifest, parsed)
            set_aside.extend(m.to_json() for m, _ in result.rejected)
            return True
        except RuntimeError:
            for item in batch:  # back to the queue, or to the dead-letter queue after MAX_RECEIVES
                (dead_letters if receives[item[0]] >= MAX_RECEIVES else pending).append(item)
            return False

    for redrive in (False, True):
        if redrive:  # an operator moves the dead letters back to the queue once the cause is gone
            store.crashes = set()
            pending, dead_letters = dead_letters, []
        while pending:
            size = data.draw(st.integers(1, 10))
            batch, pending = pending[:size], pending[size:]
            if pending and data.draw(st.booleans(), label="a second reducer races this one"):
                other, pending = pending[:size], pending[size:]
                store.intruder = lambda other=other: deliver(other)
            deliver(batch)
            intruder, store.intruder = store.intruder, None
            if intruder is not None:  # the first reducer wrote nothing: the second simply ran after it
                intruder()

    acc = load_accumulator(store, RUN, 1)
    assert acc.shots == set(shots)
    np.testing.assert_array_equal(acc.total, sum(_partial(s) for s in shots))
    assert acc.misfit == sum(float(s + 1) for s in shots)
    assert sorted(set(set_aside)) == sorted(set(poison))  # every poison message, and nothing valid
    assert not dead_letters


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


def test_a_message_outside_the_batch_is_rejected_alone_and_its_batch_mates_are_summed():
    store = MemoryStore()
    manifest = _setup(store, [1, 2])
    outsider = _worker_writes(store, 5)
    result, acc = reduce_messages(store, manifest, [_worker_writes(store, 1), outsider, _worker_writes(store, 2)])
    assert [(m, e.shot) for m, e in result.rejected] == [(outsider, 5)]
    assert "not in iteration 1's batch" in result.rejected[0][1].describe()
    assert result.added == [1, 2] and result.complete
    np.testing.assert_array_equal(acc.total, _partial(1) + _partial(2))


def test_a_message_naming_another_shots_gradient_is_rejected_not_counted_twice():
    store = MemoryStore()
    manifest = _setup(store, [1, 2])
    one = _worker_writes(store, 1)
    _worker_writes(store, 2)
    # shot 2's message pointing at shot 1's object: trusting it would add shot 1's gradient twice
    impostor = PartialGradientMessage(run_id=RUN, iteration=1, shot=2, bucket="b", key=one.key, misfit=3.0)
    result, acc = reduce_messages(store, manifest, [one, impostor])
    assert [e.shot for _, e in result.rejected] == [2] and "not its shot's" in result.rejected[0][1].reason
    assert acc.shots == {1}
    np.testing.assert_array_equal(acc.total, _partial(1))


@pytest.mark.parametrize("damage", ["missing", "truncated", "wrong_shape"])
def test_a_gradient_that_cannot_be_added_rejects_its_message_and_leaves_no_trace_in_the_sum(damage):
    store = MemoryStore()
    manifest = _setup(store, [1, 2, 3])
    good = [_worker_writes(store, 1), _worker_writes(store, 3)]
    bad = _worker_writes(store, 2)
    if damage == "missing":
        store.delete([bad.key])
    elif damage == "truncated":
        store.put(bad.key, store.get(bad.key)[:-12])
    else:
        store.put(bad.key, to_npy_bytes(np.zeros((SHAPE[0] + 1, SHAPE[1]), np.float32)))
    result, acc = reduce_messages(store, manifest, [good[0], bad, good[1]])
    assert [e.shot for _, e in result.rejected] == [2]
    assert acc.shots == {1, 3}
    np.testing.assert_array_equal(load_accumulator(store, RUN, 1).total, _partial(1) + _partial(3))


class RacingStore(MemoryStore):
    """Two reducers read the accumulator, then both add their batch and write (the FIFO group lock lapsed)."""

    def __init__(self) -> None:
        super().__init__()
        self.barrier = threading.Barrier(2, timeout=10)
        self.waited: set[int] = set()

    def open(self, key):
        if threading.get_ident() not in self.waited:  # the first partial each reducer reads
            self.waited.add(threading.get_ident())
            self.barrier.wait()  # both have read the accumulator by now
        return super().open(key)


def test_two_reducers_on_one_iteration_lose_no_shot():
    store = RacingStore()
    manifest = _setup(store, [1, 2, 3, 4])
    batches = [[_worker_writes(store, 1), _worker_writes(store, 2)], [_worker_writes(store, 3), _worker_writes(store, 4)]]
    with ThreadPoolExecutor(2) as pool:
        results = [r for r, _ in pool.map(lambda batch: reduce_messages(store, manifest, batch), batches)]
    acc = load_accumulator(store, RUN, 1)
    assert acc.shots == {1, 2, 3, 4}
    np.testing.assert_array_equal(acc.total, sum(_partial(s) for s in (1, 2, 3, 4)))
    assert acc.misfit == 2 + 3 + 4 + 5
    assert sorted(r.write_attempts for r in results) == [1, 2]  # the loser re-read and wrote once more


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
