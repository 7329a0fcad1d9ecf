"""Exactly-once reduction of partial gradients.

SQS delivers at least once, Batch retries workers, messages arrive in any order, and a reducer can
die half-way. The full gradient must still be the sum of exactly one contribution per shot. Hence:

- a partial gradient's key depends only on (run, iteration, shot): a retried worker overwrites it;
- the accumulator (sum, the set of shots in it, misfit) is one object, written with one PUT after a
  batch of messages is added, so it never holds half a batch;
- a shot already in the set is skipped, so a redelivered or duplicated message adds nothing;
- one reducer works on an iteration at a time (SQS FIFO message group = run + iteration).

Completion is known the moment the set equals the iteration's shots: no polling, no re-enqueueing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np

from workloads.lsrtm import layout
from workloads.lsrtm.arrays import add_npy_stream, from_npy_bytes, to_npy_bytes
from workloads.lsrtm.messages import IterationManifest, PartialGradientMessage
from workloads.lsrtm.sgd import sgd_update, step_for
from workloads.lsrtm.store import ObjectNotFound, ObjectStore


@dataclass
class Accumulator:
    total: np.ndarray | None = None
    shots: set[int] = field(default_factory=set)
    misfit: float = 0.0

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(
            buffer,
            total=self.total if self.total is not None else np.zeros(0, np.float32),
            shots=np.array(sorted(self.shots), dtype=np.int64),
            misfit=np.float64(self.misfit),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Accumulator:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            total = npz["total"]
            return cls(
                total=total if total.size else None,
                shots={int(s) for s in npz["shots"]},
                misfit=float(npz["misfit"]),
            )


@dataclass(frozen=True)
class ReductionResult:
    run_id: str
    iteration: int
    added: list[int]
    skipped: list[int]
    shots_done: int
    shots_expected: int

    @property
    def complete(self) -> bool:
        return self.shots_done == self.shots_expected


def load_manifest(store: ObjectStore, run_id: str, iteration: int) -> IterationManifest:
    return IterationManifest.from_json(store.get(layout.manifest_key(run_id, iteration)))


def load_accumulator(store: ObjectStore, run_id: str, iteration: int) -> Accumulator:
    try:
        return Accumulator.from_bytes(store.get(layout.accumulator_key(run_id, iteration)))
    except ObjectNotFound:
        return Accumulator()


def reduce_messages(
    store: ObjectStore, manifest: IterationManifest, messages: list[PartialGradientMessage]
) -> tuple[ReductionResult, Accumulator]:
    """Add every message's partial gradient not yet in the iteration's sum; one PUT at the end."""
    run_id, iteration = manifest.run_id, manifest.iteration
    expected = set(manifest.shots)
    accumulator = load_accumulator(store, run_id, iteration)
    added: list[int] = []
    skipped: list[int] = []
    for message in messages:
        if (message.run_id, message.iteration) != (run_id, iteration):
            raise ValueError(f"message for {message.group_id} given to the reducer of {run_id}.{iteration}")
        if message.shot not in expected:
            raise ValueError(f"shot {message.shot} is not in iteration {iteration}'s batch {sorted(expected)}")
        if message.shot in accumulator.shots:
            skipped.append(message.shot)  # a duplicate delivery or a retried worker: already counted
            continue
        with store.open(message.key) as stream:
            accumulator.total = add_npy_stream(accumulator.total, stream)
        accumulator.shots.add(message.shot)
        accumulator.misfit += message.misfit
        added.append(message.shot)
    if added:
        store.put(layout.accumulator_key(run_id, iteration), accumulator.to_bytes())
    result = ReductionResult(run_id, iteration, added, skipped, len(accumulator.shots), len(expected))
    return result, accumulator


def apply_update(store: ObjectStore, manifest: IterationManifest, accumulator: Accumulator) -> str:
    """Write image_k = image_{k-1} - step * sum. Deterministic, so doing it twice is harmless."""
    if accumulator.total is None or accumulator.shots != set(manifest.shots):
        raise ValueError("the gradient sum is not complete")
    run_id, k = manifest.run_id, manifest.iteration
    try:
        previous = from_npy_bytes(store.get(layout.image_key(run_id, k - 1)))
    except ObjectNotFound:
        if k != 1:
            raise
        previous = np.zeros_like(accumulator.total)
    key = layout.image_key(run_id, k)
    step = step_for(manifest.step_rule, manifest.step_size, accumulator.misfit, accumulator.total)
    store.put(key, to_npy_bytes(sgd_update(previous, accumulator.total, step)))
    return key

