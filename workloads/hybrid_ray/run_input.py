"""What one hybrid Ray run takes, as a JSON input (`hpcx local ray --input`), checked before Ray starts."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from workloads.common.execution_input import StrictInput, parse_input


class RayRunInput(StrictInput):
    workload: Literal["image", "ps"] = Field(default="image", description="image transform or parameter server")
    data: Literal["share", "s3"] = Field(default="share", description="where the inputs live")
    mode: Literal["ours", "default"] = Field(default="ours", description="data-aware scheduler or Ray's")
    count: int = Field(default=12, ge=1, le=10_000, description="images, or training batches")
    wan_mbit: float = Field(default=100.0, gt=0, le=100_000, allow_inf_nan=False,
                            description="emulated WAN bandwidth between the sites")
    wan_rtt_ms: float = Field(default=0.3, ge=0, le=10_000, allow_inf_nan=False,
                              description="emulated WAN round-trip time")

    @classmethod
    def parse(cls, raw: object) -> RayRunInput:
        return parse_input(cls, raw, what="hybrid Ray input")
