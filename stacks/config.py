"""Typed, validated configuration read from CDK context: the one place for defaults.

This module holds what is app-wide (the prefix every physical name takes, reading the context); each
experiment's section lives beside its stack (stacks/<experiment>/config.py), and the validators the
sections share in stacks/validators.py.

Users override any value in cdk.json's "context" or on the command line, e.g.
  cdk synth -c prefix=lab2 -c batch.nat_gateways=0 -c 'batch.gradient_job={"vcpus": 4, "memory_mib": 30000}'
Impossible settings (a job that can never be placed, spot multi-node, an unknown instance type, a bad CIDR)
fail here, at synth time, with a message that names the setting.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError, field_validator

from stacks.automon.config import AutoMonConfig
from stacks.cosmic.config import FmiConfig
from stacks.hybrid_ray.config import HybridRayConfig
from stacks.lsrtm.config import BatchConfig
from workloads.common.execution_input import StrictInput

PREFIX_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,18}[a-z0-9]$")


class ConfigError(ValueError):
    """Raised for configuration that cannot be deployed; the message names the offending setting."""


class AppConfig(StrictInput):
    prefix: str = "hpcx"
    batch: BatchConfig = BatchConfig()
    automon: AutoMonConfig = AutoMonConfig()
    fmi: FmiConfig = FmiConfig()
    hybrid_ray: HybridRayConfig = HybridRayConfig()

    @field_validator("prefix")
    @classmethod
    def _prefix_is_a_name(cls, v: str) -> str:
        if not PREFIX_PATTERN.fullmatch(v):
            raise ValueError(
                f"prefix {v!r} must be 2-20 characters of lower-case letters, digits and '-', starting with a letter"
            )
        return v

    def name(self, *parts: str) -> str:
        """A physical resource name: the prefix, then the parts, joined by '-'."""
        return "-".join((self.prefix, *parts))

    @classmethod
    def from_context(cls, get: Any) -> AppConfig:
        """Build from CDK context. `get(key)` is `node.try_get_context`.

        Sections may be dicts (cdk.json) or JSON strings (-c on the command line); dotted keys
        ("batch.nat_gateways") override single fields.
        """
        raw: dict[str, Any] = {}
        prefix = get("prefix")
        if prefix is not None:
            raw["prefix"] = prefix
        for section in SECTIONS:
            value = _parse(get(section))
            if value is not None and not isinstance(value, dict):
                raise ConfigError(f"context {section!r} must be a JSON object, got {value!r}")
            merged = dict(value or {})
            for field in cls.model_fields[section].annotation.model_fields:
                dotted = get(f"{section}.{field}")
                if dotted is not None:
                    merged[field] = _parse(dotted)
            if merged:
                raw[section] = merged
        return cls.parse(raw)

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> AppConfig:
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            lines = [f"  {'.'.join(map(str, e['loc'])) or '(config)'}: {e['msg']}" for e in exc.errors()]
            raise ConfigError("invalid configuration in CDK context:\n" + "\n".join(lines)) from None


SECTIONS = ("batch", "automon", "fmi", "hybrid_ray")


def _parse(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value
