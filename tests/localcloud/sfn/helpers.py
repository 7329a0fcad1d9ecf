"""Small builders shared by the local_sfn tests."""

from __future__ import annotations

from typing import Any

from localcloud.sfn import ExecutionResult, Integrations, LocalStateMachine

LAMBDA_ARN = "arn:aws:lambda:us-east-1:123456789012:function:{}"


def run(definition: dict, execution_input: Any = None, integrations: Integrations | None = None,
        **options: Any) -> ExecutionResult:
    options.setdefault("time_scale", 0.001)
    return LocalStateMachine(definition, integrations, **options).execute(execution_input, timeout=20)


def single(state: dict, name: str = "S") -> dict:
    """A machine of one state that ends."""
    return {"StartAt": name, "States": {name: {**state, "End": True}}}


def bare_lambda_task(function: str, **fields: Any) -> dict:
    return {"Type": "Task", "Resource": LAMBDA_ARN.format(function), **fields}
