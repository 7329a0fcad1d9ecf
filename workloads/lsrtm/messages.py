"""The messages a worker sends (its partial gradient is in the bucket; or, with the exact step rule, its
shot's line-search terms), and the iteration manifest.

The seed joined 14 fields with '&'; here it is JSON with a schema, so a malformed message fails loudly.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from workloads.lsrtm import layout


class InvalidMessage(ValueError):
    """A message that no redelivery can make valid: it is set aside and its iteration failed, never retried.

    run_id, iteration and shot are what could be read of it (None where even that is unknown); kind is
    "gradient" or "curvature" (None for a body that is not even a JSON object)."""

    def __init__(self, reason: str, *, run_id: str | None = None, iteration: int | None = None,
                 shot: int | None = None, kind: str | None = "gradient") -> None:
        super().__init__(reason)
        self.reason, self.run_id, self.iteration, self.shot, self.kind = reason, run_id, iteration, shot, kind

    def describe(self) -> str:
        shot = f"shot {self.shot}" if self.shot is not None else "a shot that cannot be read"
        where = f" of iteration {self.iteration}" if self.iteration is not None else ""
        what = {"curvature": "curvature message", "gradient": "partial-gradient message"}.get(self.kind, "message")
        return f"the {what} for {shot}{where} can never be summed: {self.reason}"


class _ShotMessage(BaseModel):
    """What both kinds of message on the gradient queue carry: whose shot, in which bucket."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    iteration: int = Field(ge=1)
    shot: int = Field(ge=0)
    bucket: str

    @property
    def group_id(self) -> str:
        """SQS FIFO message group: one reducer at a time per (run, iteration), for both kinds."""
        return f"{self.run_id}.{self.iteration}"

    def to_json(self) -> str:
        return self.model_dump_json()


class PartialGradientMessage(_ShotMessage):
    kind: Literal["gradient"] = "gradient"
    key: str
    # finite: an overflowing shot (misfit inf) would be written as "misfit": null and refused forever
    misfit: float = Field(ge=0, allow_inf_nan=False)

    @property
    def deduplication_id(self) -> str:
        return f"{self.run_id}.{self.iteration}.{self.shot}"

    @property
    def expected_key(self) -> str:
        """The only key this shot's gradient may have: a message naming another shot's object is refused."""
        return layout.partial_gradient_key(self.run_id, self.iteration, self.shot)

    @classmethod
    def from_json(cls, body: str) -> PartialGradientMessage:
        return cls.model_validate_json(body)

    @classmethod
    def parse(cls, body: str, group_id: str | None = None) -> PartialGradientMessage:
        """The message, checked against its own key layout and its SQS message group; InvalidMessage if
        it can never be valid, carrying whatever identifies its iteration (from the body or the group)."""
        message = _validated(cls, body, group_id, "gradient")
        if message.key != message.expected_key:
            raise InvalidMessage(f"names object {message.key!r}, not its shot's {message.expected_key!r}",
                                 run_id=message.run_id, iteration=message.iteration, shot=message.shot)
        return message


class CurvatureMessage(_ShotMessage):
    """One shot's terms of the exact line search along the batch gradient G (workloads/lsrtm/line_search.py):
    c1 = dt r·(M J P G), c2 = dt |M J P G|^2. Sent on the gradient queue, in the iteration's message group."""

    kind: Literal["curvature"]
    c1: float = Field(allow_inf_nan=False)
    c2: float = Field(ge=0, allow_inf_nan=False)  # a squared norm

    @property
    def deduplication_id(self) -> str:
        """Not the gradient message's id: both are sent within SQS's 5-minute deduplication window."""
        return f"{self.run_id}.{self.iteration}.{self.shot}.curvature"

    @classmethod
    def parse(cls, body: str, group_id: str | None = None) -> CurvatureMessage:
        return _validated(cls, body, group_id, "curvature")


def parse_message(body: str, group_id: str | None = None) -> PartialGradientMessage | CurvatureMessage:
    """Either kind of message on the gradient queue, told apart by its "kind" (absent: a gradient)."""
    try:
        raw = json.loads(body)
    except (TypeError, ValueError):
        raw = None
    if isinstance(raw, dict) and raw.get("kind") == "curvature":
        return CurvatureMessage.parse(body, group_id)
    try:
        return PartialGradientMessage.parse(body, group_id)
    except InvalidMessage as exc:
        if not isinstance(raw, dict):
            exc.kind = None  # not even a JSON object: which state waits on it is not known
        raise


def _validated(cls, body: str, group_id: str | None, kind: str):
    try:
        message = cls.model_validate_json(body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
        raise InvalidMessage(problems, **_identify(body, group_id), kind=kind) from None
    if group_id is not None and group_id != message.group_id:
        raise InvalidMessage(f"sent in message group {group_id!r}, not {message.group_id!r}",
                             **{**_identify(body, group_id), "shot": message.shot}, kind=kind)
    return message


def _identify(body: str, group_id: str | None) -> dict:
    """run, iteration and shot of a message that does not validate: its group says which iteration's
    token to fail (the group is the iteration, set by the worker), the body may still say which shot."""
    ids: dict = {"run_id": None, "iteration": None, "shot": None}
    if group_id and "." in group_id:
        run_id, _, iteration = group_id.rpartition(".")  # run ids may contain dots; iterations do not
        if iteration.isdigit():
            ids.update(run_id=run_id, iteration=int(iteration))
    try:
        raw = json.loads(body)
    except ValueError:
        return ids
    if isinstance(raw, dict) and isinstance(raw.get("shot"), int):
        ids["shot"] = raw["shot"]
    if ids["run_id"] is None and isinstance(raw, dict) and isinstance(raw.get("run_id"), str) \
            and isinstance(raw.get("iteration"), int):
        ids.update(run_id=raw["run_id"], iteration=raw["iteration"])
    return ids


class IterationManifest(BaseModel):
    """Written before an iteration's job is submitted; read by the reducer and the failure handler."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    iteration: int = Field(ge=1)
    shots: list[int]
    step_size: float  # what the rule multiplies: the step (fixed), f/|g|^2 (polyak), the exact step (exact)
    step_rule: str = "fixed"
    task_token: str  # answered when the gradient sum is complete
    job_ids: list[str] = Field(default_factory=list)
    # exact rule only: the MeasureCurvature state's token (answered when c1, c2 are summed and the image
    # written) and its jobs; a token per state, so a late answer for one state never reaches the other
    curvature_token: str | None = None
    curvature_job_ids: list[str] = Field(default_factory=list)

    def token_for(self, kind: str) -> str | None:
        """The token waiting on this kind of message ("gradient" or "curvature")."""
        return self.curvature_token if kind == "curvature" else self.task_token

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, body: str | bytes) -> IterationManifest:
        return cls.model_validate_json(body)
