"""Exactly-once reduction of partial gradients.

SQS delivers at least once, Batch retries workers, messages arrive in any order, a reducer can die
half-way, and a delayed invocation can outlive the FIFO group's lock (the visibility timeout) and run
beside the next one. The full gradient must still be the sum of exactly one contribution per shot. Hence:

- a partial gradient's key depends only on (run, iteration, shot): a retried worker overwrites it,
  and a message naming any other key is refused (it would count some shot's gradient twice);
- the accumulator (sum, the set of shots in it, misfit) is one object, written with one PUT after a
  batch of messages is added, so it never holds half a batch;
- that PUT is conditional on the version read (S3 If-Match / If-None-Match): when two reducers race,
  the second write is refused, and its reducer re-reads the winner's sum and adds its batch again;
- a shot already in the set is skipped, so a redelivered or duplicated message adds nothing;
- a message that can never be summed (malformed, another shot's key, a shot outside the batch, a
  missing, truncated or misshapen gradient) is rejected on its own: the rest of its batch is summed.

Completion is known the moment the set equals the iteration's shots: no polling, no re-enqueueing.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from workloads.common.store import ObjectNotFound, ObjectStore, PreconditionFailed
from workloads.lsrtm import layout
from workloads.lsrtm.arrays import add_npy_stream, from_npy_bytes, to_npy_bytes
from workloads.lsrtm.messages import InvalidMessage, IterationManifest, PartialGradientMessage
from workloads.lsrtm.sgd import sgd_update, step_for

M = TypeVar("M")

# Each refused write means another reducer finished a write in between; with one FIFO group per
# iteration more than a couple in a row means something is badly wrong, and the batch is retried whole.
MAX_WRITE_ATTEMPTS = 8


class WriteContention(RuntimeError):
    """The accumulator kept changing under this reducer; SQS redelivers the batch later."""


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

    @staticmethod
    def shots_in(stream) -> set[int]:
        """The summed shots alone, from a seekable stream of the stored accumulator: an .npz is read member
        by member, so the sum (tens of MB) is never read (hpcx status reads S3 byte ranges this way)."""
        with np.load(stream, allow_pickle=False) as npz:
            return {int(s) for s in npz["shots"]}


@dataclass(frozen=True)
class ReductionResult:
    run_id: str
    iteration: int
    added: list[int]
    skipped: list[int]
    shots_done: int
    shots_expected: int
    rejected: list[tuple[PartialGradientMessage, InvalidMessage]] = field(default_factory=list)
    write_attempts: int = 1

    @property
    def complete(self) -> bool:
        return self.shots_done == self.shots_expected


def load_manifest(store: ObjectStore, run_id: str, iteration: int) -> IterationManifest:
    return IterationManifest.from_json(store.get(layout.manifest_key(run_id, iteration)))


def load_accumulator(store: ObjectStore, run_id: str, iteration: int) -> Accumulator:
    return _load_versioned(store, run_id, iteration)[0]


def _load_versioned(store: ObjectStore, run_id: str, iteration: int) -> tuple[Accumulator, str | None]:
    try:
        data, etag = store.get_with_etag(layout.accumulator_key(run_id, iteration))
    except ObjectNotFound:
        return Accumulator(), None  # the first write must then find no object either (If-None-Match)
    return Accumulator.from_bytes(data), etag


def partition(messages: list[M], check: Callable[[M], None]) -> tuple[list[M], list[tuple[M, InvalidMessage]]]:
    """(the messages `check` accepts, (message, why) for those it refuses with InvalidMessage)."""
    valid: list[M] = []
    rejected: list[tuple[M, InvalidMessage]] = []
    for message in messages:
        try:
            check(message)
            valid.append(message)
        except InvalidMessage as exc:
            rejected.append((message, exc))
    return valid, rejected


def check_message(manifest: IterationManifest, message: PartialGradientMessage) -> None:
    """InvalidMessage unless the message belongs to this iteration's batch, under its own shot's key."""
    ids = {"run_id": message.run_id, "iteration": message.iteration, "shot": message.shot}
    if (message.run_id, message.iteration) != (manifest.run_id, manifest.iteration):
        raise InvalidMessage(f"given to the reducer of {manifest.run_id}.{manifest.iteration}", **ids)
    if message.shot not in manifest.shots:
        raise InvalidMessage(f"shot {message.shot} is not in iteration {manifest.iteration}'s batch "
                             f"{sorted(manifest.shots)}", **ids)
    if message.key != message.expected_key:
        raise InvalidMessage(f"names object {message.key!r}, not its shot's {message.expected_key!r}", **ids)


def reduce_messages(
    store: ObjectStore, manifest: IterationManifest, messages: list[PartialGradientMessage]
) -> tuple[ReductionResult, Accumulator]:
    """Add every message's partial gradient not yet in the iteration's sum; one conditional PUT at the end.

    Messages that can never be summed come back in `rejected`, with why; the others are summed without them.
    """
    run_id, iteration = manifest.run_id, manifest.iteration
    valid, rejected = partition(messages, lambda message: check_message(manifest, message))
    refused_writes = 0
    while True:
        accumulator, etag = _load_versioned(store, run_id, iteration)
        try:
            added, skipped = _add_all(store, accumulator, valid)
        except _Unaddable as exc:
            # the sum may hold part of that gradient: set the message aside, start again from the stored sum
            valid = [m for m in valid if m is not exc.message]
            rejected.append((exc.message, exc.invalid))
            continue
        if not added:
            break
        try:
            store.put_if(layout.accumulator_key(run_id, iteration), accumulator.to_bytes(), etag=etag)
            break
        except PreconditionFailed:
            # another reducer wrote its batch since we read: start again from its sum
            refused_writes += 1
            if refused_writes == MAX_WRITE_ATTEMPTS:
                raise WriteContention(f"the accumulator of {run_id}.{iteration} changed {refused_writes} times "
                                      "while this batch was being added") from None
    result = ReductionResult(run_id, iteration, added, skipped, len(accumulator.shots), len(set(manifest.shots)),
                             rejected, refused_writes + 1)
    return result, accumulator


class _Unaddable(Exception):
    def __init__(self, message: PartialGradientMessage, invalid: InvalidMessage) -> None:
        super().__init__(str(invalid))
        self.message, self.invalid = message, invalid


def _add_all(store: ObjectStore, accumulator: Accumulator,
             messages: list[PartialGradientMessage]) -> tuple[list[int], list[int]]:
    """Stream each new shot's gradient into the sum (in place); (added, skipped as already counted).

    Gradient values are not checked for inf/NaN here (a second pass over 82 MB per shot): the worker
    refuses to write a non-finite gradient, and the message's misfit must be finite."""
    added: list[int] = []
    skipped: list[int] = []
    for message in messages:
        if message.shot in accumulator.shots:
            skipped.append(message.shot)  # a duplicate delivery or a retried worker: already counted
            continue
        try:
            with store.open(message.key) as stream:
                accumulator.total = add_npy_stream(accumulator.total, stream)
        except (ObjectNotFound, ValueError) as exc:
            # the worker writes the gradient before it sends the message: a retry would find the same
            raise _Unaddable(message, InvalidMessage(
                f"its gradient cannot be added: {exc}", run_id=message.run_id, iteration=message.iteration,
                shot=message.shot)) from None
        accumulator.shots.add(message.shot)
        accumulator.misfit += message.misfit
        added.append(message.shot)
    return added, skipped


def apply_update(store: ObjectStore, manifest: IterationManifest, accumulator: Accumulator,
                 step: float | None = None) -> str:
    """Write image_k = image_{k-1} - step * sum. Deterministic, so doing it twice is harmless.

    `step`: given by the exact rule (workloads/lsrtm/line_search.py); otherwise the manifest's rule decides."""
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
    if step is None:
        step = step_for(manifest.step_rule, manifest.step_size, accumulator.misfit, accumulator.total)
    store.put(key, to_npy_bytes(sgd_update(previous, accumulator.total, step)))
    return key

