"""One attempt of a Task state: Parameters, the integration call on its own thread (so TimeoutSeconds and
stopping the execution take effect while it runs), the task token wait, and the Task*/LambdaFunction* events."""

from __future__ import annotations

import threading
import time
from typing import Any

from localcloud.sfn import io_processing
from localcloud.sfn.choice import is_number
from localcloud.sfn.errors import HEARTBEAT_TIMEOUT, RUNTIME, TIMEOUT, Cancelled, StatesError
from localcloud.sfn.resources import Resource, TaskContext, parse_resource
from localcloud.sfn.runtime import RunContext

_NO_TIMEOUT = 99_999_999  # AWS's default TimeoutSeconds for a Task: effectively none


def _seconds(state: dict, field: str, effective_input: Any, context: dict) -> float | None:
    if field in state:
        return float(state[field])
    if f"{field}Path" in state:
        value = io_processing.select(state[f"{field}Path"], effective_input, context, field=f"{field}Path")
        if not (is_number(value) and value > 0):
            raise StatesError(RUNTIME, f"{field}Path '{state[f'{field}Path']}' must select a positive number, "
                                       f"got {value!r}")
        return float(value)
    return None


def run_task(name: str, state: dict, effective_input: Any, rc: RunContext, entered: str, retry_count: int) -> Any:
    """The task's result (before ResultSelector). Raises StatesError for a failed or timed-out task."""
    resource = parse_resource(state["Resource"])
    prefix = "LambdaFunction" if resource.is_bare_lambda else "Task"
    token = rc.tokens.issue(rc.info.arn, name) if resource.pattern == "waitForTaskToken" else None
    try:
        context = rc.context_object(name, entered, retry_count, task_token=token)
        parameters = io_processing.apply_parameters(state, effective_input, context)
        timeout_s = _seconds(state, "TimeoutSeconds", effective_input, context)
        heartbeat_s = _seconds(state, "HeartbeatSeconds", effective_input, context)
        scale = rc.options.timeout_scale
        deadline = time.monotonic() + timeout_s * scale if timeout_s and timeout_s < _NO_TIMEOUT else None
        task_context = TaskContext(
            execution_arn=rc.info.arn, execution_name=rc.info.name, state_name=name, resource=resource.arn,
            pattern=resource.pattern, task_token=token, retry_count=retry_count, context_object=context,
        )
        if resource.is_bare_lambda:
            rc.record("LambdaFunctionScheduled", state_name=name, input=parameters, resource=resource.arn,
                      timeoutInSeconds=timeout_s)
        else:
            suffix = f".{resource.pattern}" if resource.pattern else ""
            rc.record("TaskScheduled", state_name=name, input=parameters, resourceType=resource.service,
                      resource=resource.action + suffix, timeoutInSeconds=timeout_s, heartbeatInSeconds=heartbeat_s)
        rc.record(f"{prefix}Started", state_name=name)
        try:
            result = _call(rc, resource, parameters, task_context, deadline)
            if token is not None:
                rc.record("TaskSubmitted", state_name=name, output=result)
                result = rc.tokens.wait(token, deadline=deadline, scope=rc.scope,
                                        heartbeat_s=heartbeat_s * scale if heartbeat_s else None)
            rc.check_size(result, name, "task result")
        except StatesError as err:
            outcome = "TimedOut" if err.error in (TIMEOUT, HEARTBEAT_TIMEOUT) else "Failed"
            rc.record(f"{prefix}{outcome}", state_name=name, error=err.error, cause=err.cause)
            raise
        rc.record(f"{prefix}Succeeded", state_name=name, output=result)
        return result
    finally:
        if token is not None:
            rc.tokens.close(token)


def _call(rc: RunContext, resource: Resource, parameters: Any, task_context: TaskContext,
          deadline: float | None) -> Any:
    """Run the integration on its own thread; give up on it at the deadline or when the scope stops."""
    done = threading.Event()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = rc.integrations.call(resource, parameters, task_context)
        except BaseException as exc:  # handed to the waiting thread below
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, daemon=True, name=f"sfn-task-{task_context.state_name}").start()
    with rc.scope.wakes(done):
        done.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
    if rc.scope.cancelled:
        task_context.cancelled.set()
        raise Cancelled()
    if "result" not in box and "error" not in box:
        task_context.cancelled.set()  # the work goes on in the background, as on AWS, but nobody waits for it
        raise StatesError(TIMEOUT, f"Task '{task_context.state_name}' ran longer than its TimeoutSeconds")
    if "error" in box:
        raise box["error"]
    return box["result"]
