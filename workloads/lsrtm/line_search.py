"""The exact step rule: sum each shot's line-search terms exactly once, then take the step that minimises
the batch misfit along the gradient.

LS-RTM is linear in the image, so the batch misfit along x - a G is exactly a parabola:

    F(x - a G) = F(x) - a c1 + ½ a² c2,   c1 = Σ_s dt r_s·(M J_s P G),   c2 = Σ_s dt ‖M J_s P G‖²

(workloads/seismic/curvature.py computes one shot's terms). Its minimiser is a* = c1/c2; the step taken is
step_length · a*, which lowers F for any step_length in (0, 2) when c1 > 0, whatever the data's scale.
c1 <= 0 or c2 <= 0 means G is not a descent direction (a defect upstream): the image is not moved and the
iteration fails, naming c1 and c2, rather than continuing silently.

The per-shot terms are summed as the gradients are (workloads/lsrtm/reduction.py): one small object per
iteration holding each shot's terms, written with a conditional PUT, so duplicates, retries and racing
reducers count every shot once. The sums are taken over the shots in order, so they do not depend on
the order the messages arrived in.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from workloads.common.store import ObjectNotFound, ObjectStore, PreconditionFailed
from workloads.lsrtm import layout
from workloads.lsrtm.messages import CurvatureMessage, InvalidMessage, IterationManifest
from workloads.lsrtm.reduction import MAX_WRITE_ATTEMPTS, WriteContention, partition

NOT_DESCENT = "NotADescentDirection"


class NotDescent(ValueError):
    """c1 or c2 is not positive: G does not lower the batch misfit; the iteration must fail, not step."""


@dataclass
class CurvatureSums:
    """(c1_s, c2_s) per shot added so far."""

    terms: dict[int, tuple[float, float]] = field(default_factory=dict)

    @property
    def c1(self) -> float:
        return math.fsum(self.terms[s][0] for s in sorted(self.terms))

    @property
    def c2(self) -> float:
        return math.fsum(self.terms[s][1] for s in sorted(self.terms))

    def to_bytes(self) -> bytes:
        return json.dumps({"terms": {str(s): list(t) for s, t in sorted(self.terms.items())}}).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> CurvatureSums:
        raw = json.loads(data)
        return cls({int(s): (float(t[0]), float(t[1])) for s, t in raw["terms"].items()})


@dataclass(frozen=True)
class CurvatureResult:
    added: list[int]
    skipped: list[int]
    rejected: list[tuple[CurvatureMessage, InvalidMessage]]
    complete: bool


@dataclass(frozen=True)
class ExactStep:
    misfit: float  # F(x), the batch misfit of the gradient pass
    c1: float
    c2: float
    step_length: float

    @property
    def alpha(self) -> float:
        """The minimiser of the parabola."""
        return self.c1 / self.c2

    @property
    def step(self) -> float:
        return self.step_length * self.alpha

    @property
    def predicted_misfit(self) -> float:
        """F(x - step G), exact up to float rounding."""
        return self.misfit - self.step * self.c1 + 0.5 * self.step**2 * self.c2

    def as_dict(self) -> dict:
        return {"alpha": self.alpha, "step": self.step, "predicted_misfit": self.predicted_misfit,
                "c1": self.c1, "c2": self.c2}


def exact_step(misfit: float, c1: float, c2: float, step_length: float) -> ExactStep:
    """The step along -G, or NotDescent (with c1 and c2 in the message) when there is none."""
    if not (math.isfinite(c1) and math.isfinite(c2) and c1 > 0 and c2 > 0):
        raise NotDescent(f"the batch gradient is not a descent direction: c1 = {c1:.6g} (r·JG, must be > 0) and "
                         f"c2 = {c2:.6g} (|JG|^2, must be > 0); the image was not updated")
    return ExactStep(misfit=misfit, c1=c1, c2=c2, step_length=step_length)


def check_message(manifest: IterationManifest, message: CurvatureMessage) -> None:
    ids = {"run_id": message.run_id, "iteration": message.iteration, "shot": message.shot, "kind": "curvature"}
    if (message.run_id, message.iteration) != (manifest.run_id, manifest.iteration):
        raise InvalidMessage(f"given to the reducer of {manifest.run_id}.{manifest.iteration}", **ids)
    if manifest.step_rule != "exact":
        raise InvalidMessage(f"iteration {manifest.iteration} uses the {manifest.step_rule!r} step rule, "
                             "which measures no curvature", **ids)
    if message.shot not in manifest.shots:
        raise InvalidMessage(f"shot {message.shot} is not in iteration {manifest.iteration}'s batch "
                             f"{sorted(manifest.shots)}", **ids)


def reduce_curvature(store: ObjectStore, manifest: IterationManifest,
                     messages: list[CurvatureMessage]) -> tuple[CurvatureResult, CurvatureSums]:
    """Add every message's terms not yet in the iteration's sums, with one conditional write."""
    valid, rejected = partition(messages, lambda message: check_message(manifest, message))
    key = layout.curvature_key(manifest.run_id, manifest.iteration)
    for _ in range(MAX_WRITE_ATTEMPTS):
        try:
            data, etag = store.get_with_etag(key)
            sums = CurvatureSums.from_bytes(data)
        except ObjectNotFound:
            sums, etag = CurvatureSums(), None
        added, skipped = [], []
        for message in valid:
            if message.shot in sums.terms:
                skipped.append(message.shot)  # a duplicate delivery or a retried worker: already counted
            else:
                sums.terms[message.shot] = (message.c1, message.c2)
                added.append(message.shot)
        if not added:
            break
        try:
            store.put_if(key, sums.to_bytes(), etag=etag)
            break
        except PreconditionFailed:
            continue  # another reducer wrote since we read: add to its sums
    else:
        raise WriteContention(f"the curvature sums of {manifest.run_id}.{manifest.iteration} changed "
                              f"{MAX_WRITE_ATTEMPTS} times while this batch was being added")
    complete = set(sums.terms) == set(manifest.shots)
    return CurvatureResult(added, skipped, rejected, complete), sums
