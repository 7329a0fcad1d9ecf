"""Rank, world size and communicator settings from a Lambda invocation payload.

FMI has no rank discovery: each rank learns who it is from its event. The course payloads carried
strings under upper-case keys (`RANK`, `WORLD_SIZE`); both that and lower-case keys with ints work here.
Every run needs its own communicator name: the course used `fmi_pair` for every job, so two jobs on
one rendezvous server could pair with each other's ranks. `new_comm_name` makes one per execution.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workloads.cosmic.constants import (
    COMM_NAME_PREFIX,
    DEFAULT_OP_TIMEOUT_S,
    MAX_PAIRING_NAME_BYTES,
    RENDEZVOUS_PORT,
)

_NAME = re.compile(r"[A-Za-z0-9._-]+")
BACKENDS = ("auto", "python", "fmi")


class PayloadError(ValueError):
    """The invocation payload cannot describe a rank."""


def check_comm_name(name: str, world_size: int) -> str:
    """A name that fits TCPunch's 100-byte limit once the ranks are appended (`name{a}_{b}`)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise PayloadError(f"communicator name must match {_NAME.pattern}, got {name!r}")
    longest = len(name) + 2 * len(str(max(world_size - 1, 0))) + 1
    if longest > MAX_PAIRING_NAME_BYTES:
        raise PayloadError(f"communicator name too long: pairing names would be {longest} > 100 bytes")
    return name


def new_comm_name(execution_id: str | None = None, prefix: str = COMM_NAME_PREFIX) -> str:
    """A communicator name unique to one execution (stable for a given `execution_id`, random without one)."""
    # surrogatepass: any str hashes (a lone surrogate from JSON's "\ud800" made plain encode() raise)
    token = (hashlib.sha256(execution_id.encode("utf-8", "surrogatepass")).hexdigest()[:20] if execution_id
             else uuid.uuid4().hex[:20])
    return f"{prefix}-{token}-"


@dataclass(frozen=True)
class CommSettings:
    rank: int
    world_size: int
    comm_name: str
    rendezvous_host: str
    rendezvous_port: int = RENDEZVOUS_PORT
    timeout_s: float = DEFAULT_OP_TIMEOUT_S
    backend: str = "auto"

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any], max_world_size: int | None = None) -> CommSettings:
        """Read `rank`, `world_size`, `comm_name`, `rendezvous_host` (required) and `rendezvous_port`,
        `timeout_s`, `backend` (optional); keys in any case, numbers as ints or numeric strings."""
        if not isinstance(payload, Mapping):
            raise PayloadError(f"payload must be a JSON object, got {type(payload).__name__}")
        keys = {str(k).lower(): v for k, v in payload.items()}

        def get(key: str, default: Any = None) -> Any:
            value = keys.get(key, default)
            if value is None:
                raise PayloadError(f"payload is missing {key!r}")
            return value

        world_size = _as_int(get("world_size"), "world_size")
        rank = _as_int(get("rank"), "rank")
        if world_size < 1:
            raise PayloadError(f"world_size must be at least 1, got {world_size}")
        if max_world_size is not None and world_size > max_world_size:
            raise PayloadError(f"world_size {world_size} is above the configured limit {max_world_size}")
        if not 0 <= rank < world_size:
            raise PayloadError(f"rank {rank} is outside [0, {world_size})")
        port = _as_int(get("rendezvous_port", RENDEZVOUS_PORT), "rendezvous_port")
        if not 0 < port < 65536:
            raise PayloadError(f"rendezvous_port {port} is not a TCP port")
        timeout = _as_float(get("timeout_s", DEFAULT_OP_TIMEOUT_S), "timeout_s")
        if timeout <= 0:
            raise PayloadError("timeout_s must be positive")
        backend = str(get("backend", "auto")).lower()
        if backend not in BACKENDS:
            raise PayloadError(f"backend must be one of {BACKENDS}, got {backend!r}")
        host = str(get("rendezvous_host")).strip()
        if not host:
            raise PayloadError("rendezvous_host is empty")
        return cls(rank, world_size, check_comm_name(str(get("comm_name")), world_size), host, port, timeout, backend)


def _as_int(value: Any, key: str) -> int:
    if isinstance(value, bool):
        raise PayloadError(f"{key} must be an integer, got {value!r}")
    try:
        number = int(str(value).strip()) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise PayloadError(f"{key} must be an integer, got {value!r}") from None
    if isinstance(value, float) and value != number:
        raise PayloadError(f"{key} must be an integer, got {value!r}")
    return number


def _as_float(value: Any, key: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PayloadError(f"{key} must be a number, got {value!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise PayloadError(f"{key} must be finite, got {value!r}")
    return number
