"""What every state of one execution shares (RunContext): identity, options, history, tokens,
integrations, and the branch it runs in (its cancellation Scope and its event Trail)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from localcloud.sfn.errors import DATA_LIMIT_EXCEEDED, StatesError
from localcloud.sfn.history import History, Trail
from localcloud.sfn.integrations import Integrations
from localcloud.sfn.scope import Scope
from localcloud.sfn.tokens import TaskTokens


def iso_now() -> str:
    """A timestamp as the context object writes it: 2019-03-26T20:14:13.192Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Options:
    time_scale: float = 1.0  # multiplies Wait states and Retry intervals (0.01: a 10 s wait takes 0.1 s)
    timeout_scale: float = 1.0  # multiplies TimeoutSeconds/HeartbeatSeconds (task and execution)
    payload_limit_bytes: int | None = 262_144  # AWS: 256 KiB per state input/output; None: unlimited


@dataclass(frozen=True)
class ExecutionInfo:
    arn: str
    name: str
    input: Any
    start_time: str
    state_machine_arn: str
    state_machine_name: str
    role_arn: str


@dataclass
class RunContext:
    info: ExecutionInfo
    options: Options
    history: History
    tokens: TaskTokens
    integrations: Integrations
    scope: Scope
    trail: Trail = field(default_factory=Trail)

    def branch(self, scope: Scope | None = None) -> RunContext:
        """A context for a Map iteration or Parallel branch: own trail, optionally own scope."""
        return replace(self, scope=scope or self.scope, trail=Trail(self.trail.last))

    def record(self, event_type: str, **fields: Any) -> None:
        self.history.add(self.trail, event_type, **fields)

    def context_object(self, state_name: str, entered_time: str, retry_count: int | None = None, *,
                       task_token: str | None = None, map_item: tuple[int, Any] | None = None) -> dict:
        """The context object ($$) as a state sees it. `retry_count` only for the states that can Retry
        (Task, Map, Parallel): on AWS the others (Pass, Wait, ...) have no $$.State.RetryCount at all."""
        state: dict[str, Any] = {"EnteredTime": entered_time, "Name": state_name}
        if retry_count is not None:
            state["RetryCount"] = retry_count
        obj: dict[str, Any] = {
            "Execution": {"Id": self.info.arn, "Input": self.info.input, "Name": self.info.name,
                          "RoleArn": self.info.role_arn, "StartTime": self.info.start_time, "RedriveCount": 0},
            "State": state,
            "StateMachine": {"Id": self.info.state_machine_arn, "Name": self.info.state_machine_name},
        }
        if task_token is not None:
            obj["Task"] = {"Token": task_token}
        if map_item is not None:
            obj["Map"] = {"Item": {"Index": map_item[0], "Value": map_item[1]}}
        return obj

    def sleep(self, seconds: float) -> None:
        """A Wait or a Retry interval: scaled by time_scale, cut short by cancellation."""
        self.scope.sleep(seconds * self.options.time_scale)

    def check_size(self, data: Any, state_name: str, what: str) -> None:
        limit = self.options.payload_limit_bytes
        if limit is None:
            return
        size = len(json.dumps(data, separators=(",", ":")).encode())
        if size > limit:
            raise StatesError(DATA_LIMIT_EXCEEDED, f"The state/task '{state_name}' returned a result with a size "
                                                   f"exceeding the maximum number of bytes service limit ({what}: "
                                                   f"{size} > {limit} bytes).")
