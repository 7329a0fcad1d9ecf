"""The message a worker sends when its partial gradient is in the bucket, and the iteration manifest.

The seed joined 14 fields with '&'; here it is JSON with a schema, so a malformed message fails loudly.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PartialGradientMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    iteration: int = Field(ge=1)
    shot: int = Field(ge=0)
    bucket: str
    key: str
    misfit: float = Field(ge=0)

    @property
    def group_id(self) -> str:
        """SQS FIFO message group: one reducer at a time per (run, iteration)."""
        return f"{self.run_id}.{self.iteration}"

    @property
    def deduplication_id(self) -> str:
        return f"{self.run_id}.{self.iteration}.{self.shot}"

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, body: str) -> PartialGradientMessage:
        return cls.model_validate_json(body)


class IterationManifest(BaseModel):
    """Written before an iteration's job is submitted; read by the reducer and the failure handler."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    iteration: int = Field(ge=1)
    shots: list[int]
    step_size: float
    step_rule: str = "fixed"
    task_token: str
    job_ids: list[str] = Field(default_factory=list)

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, body: str | bytes) -> IterationManifest:
        return cls.model_validate_json(body)
