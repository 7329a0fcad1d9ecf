"""Walks a state graph (the machine, a Parallel branch, a Map's ItemProcessor): one state after the other,
with each state's input/output processing and, for Task/Map/Parallel, Retry and Catch."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from localcloud.sfn import branches, choice, io_processing
from localcloud.sfn.errors import NO_CHOICE_MATCHED, RUNTIME, StatesError, matches
from localcloud.sfn.runtime import RunContext, iso_now
from localcloud.sfn.task import run_task

Outcome = tuple[Any, str | None]  # (output, name of the next state or None at the end)


def run_graph(graph: dict, data: Any, rc: RunContext) -> Any:
    name = graph["StartAt"]
    while True:
        rc.scope.check()
        data, name = run_state(name, graph["States"][name], data, rc)
        if name is None:
            return data


def run_state(name: str, state: dict, raw_input: Any, rc: RunContext) -> Outcome:
    kind = state["Type"]
    entered = iso_now()
    rc.record(f"{kind}StateEntered", state_name=name, input=raw_input)
    attempt = _HANDLERS[kind]
    if kind in ("Task", "Map", "Parallel"):
        output, next_name = _with_retry_and_catch(name, state, raw_input, rc, entered, attempt)
    else:
        output, next_name = attempt(name, state, raw_input, rc, entered, 0)
    rc.check_size(output, name, "state output")
    rc.record(f"{kind}StateExited", state_name=name, output=output)
    return output, next_name


def _next(state: dict) -> str | None:
    return None if state.get("End") else state["Next"]


def retry_delay(retrier: dict, attempts_made: int) -> float:
    """IntervalSeconds x BackoffRate^n, capped by MaxDelaySeconds, with FULL jitter if asked."""
    delay = retrier.get("IntervalSeconds", 1) * retrier.get("BackoffRate", 2.0) ** attempts_made
    if "MaxDelaySeconds" in retrier:
        delay = min(delay, retrier["MaxDelaySeconds"])
    if retrier.get("JitterStrategy", "NONE") == "FULL":
        delay = random.uniform(0, delay)
    return delay


def _with_retry_and_catch(name: str, state: dict, raw_input: Any, rc: RunContext, entered: str,
                          attempt: Callable[..., Outcome]) -> Outcome:
    retriers = state.get("Retry", [])
    attempts_made = [0] * len(retriers)  # each retrier counts its own attempts
    retry_count = 0
    while True:
        try:
            return attempt(name, state, raw_input, rc, entered, retry_count)
        except StatesError as err:
            # the first retrier whose ErrorEquals matches decides; exhausted, it hands over to Catch
            index = next((i for i, r in enumerate(retriers) if matches(err.error, r["ErrorEquals"])), None)
            if index is not None and attempts_made[index] < retriers[index].get("MaxAttempts", 3):
                rc.sleep(retry_delay(retriers[index], attempts_made[index]))
                attempts_made[index] += 1
                retry_count += 1
                continue
            for catcher in state.get("Catch", []):
                if matches(err.error, catcher["ErrorEquals"]):
                    output = io_processing.apply_result_path(catcher.get("ResultPath", "$"), raw_input,
                                                             err.as_output())
                    return output, catcher["Next"]
            raise


def _finish(state: dict, raw_input: Any, result: Any, context: dict) -> Outcome:
    """ResultSelector -> ResultPath -> OutputPath."""
    selected = io_processing.apply_result_selector(state, result, context)
    combined = io_processing.apply_result_path(state.get("ResultPath", "$"), raw_input, selected)
    return io_processing.apply_output_path(state, combined, context), _next(state)


def _task(name: str, state: dict, raw_input: Any, rc: RunContext, entered: str, retry_count: int) -> Outcome:
    context = rc.context_object(name, entered, retry_count)
    effective = io_processing.apply_input_path(state, raw_input, context)
    result = run_task(name, state, effective, rc, entered, retry_count)
    return _finish(state, raw_input, result, context)


def _map(name: str, state: dict, raw_input: Any, rc: RunContext, entered: str, retry_count: int) -> Outcome:
    context = rc.context_object(name, entered, retry_count)
    effective = io_processing.apply_input_path(state, raw_input, context)
    results = branches.run_map(name, state, effective, rc, entered, retry_count, run_graph)
    return _finish(state, raw_input, results, context)


def _parallel(name: str, state: dict, raw_input: Any, rc: RunContext, entered: str, retry_count: int) -> Outcome:
    context = rc.context_object(name, entered, retry_count)
    effective = io_processing.apply_input_path(state, raw_input, context)
    effective = io_processing.apply_parameters(state, effective, context)
    results = branches.run_parallel(name, state, effective, rc, run_graph)
    return _finish(state, raw_input, results, context)


def _pass(name: str, state: dict, raw_input: Any, rc: RunContext, entered: str, retry_count: int) -> Outcome:
    context = rc.context_object(name, entered)
    effective = io_processing.apply_input_path(state, raw_input, context)
    result = state["Result"] if "Result" in state else io_processing.apply_parameters(state, effective, context)
    combined = io_processing.apply_result_path(state.get("ResultPath", "$"), raw_input, result)
    return io_processing.apply_output_path(state, combined, context), _next(state)


def _wait(name: str, state: dict, raw_input: Any, rc: RunContext, entered: str, retry_count: int) -> Outcome:
    context = rc.context_object(name, entered)
    effective = io_processing.apply_input_path(state, raw_input, context)
    if "Seconds" in state or "SecondsPath" in state:
        seconds = state["Seconds"] if "Seconds" in state else io_processing.select(
            state["SecondsPath"], effective, context, field="SecondsPath")
        if not (choice.is_number(seconds) and seconds >= 0 and float(seconds).is_integer()):
            raise StatesError(RUNTIME, f"Wait state '{name}': seconds must be a non-negative integer, got {seconds!r}")
    else:
        stamp = state["Timestamp"] if "Timestamp" in state else io_processing.select(
            state["TimestampPath"], effective, context, field="TimestampPath")
        when = choice.parse_timestamp(stamp)
        if when is None:
            raise StatesError(RUNTIME, f"Wait state '{name}': {stamp!r} is not an RFC 3339 timestamp")
        seconds = max(0.0, (when - datetime.now(UTC)).total_seconds())
    rc.sleep(float(seconds))
    return io_processing.apply_output_path(state, effective, context), _next(state)


def _choice(name: str, state: dict, raw_input: Any, rc: RunContext, entered: str, retry_count: int) -> Outcome:
    context = rc.context_object(name, entered)
    effective = io_processing.apply_input_path(state, raw_input, context)
    next_name = choice.next_state(state, effective, context)
    if next_name is None:
        raise StatesError(NO_CHOICE_MATCHED, f"No Matches! (state '{name}')")
    return io_processing.apply_output_path(state, effective, context), next_name


def _succeed(name: str, state: dict, raw_input: Any, rc: RunContext, entered: str, retry_count: int) -> Outcome:
    context = rc.context_object(name, entered)
    effective = io_processing.apply_input_path(state, raw_input, context)
    return io_processing.apply_output_path(state, effective, context), None


def _fail(name: str, state: dict, raw_input: Any, rc: RunContext, entered: str, retry_count: int) -> Outcome:
    context = rc.context_object(name, entered)

    def read(field: str) -> str | None:
        if field in state:
            return state[field]
        if f"{field}Path" in state:
            value = io_processing.select(state[f"{field}Path"], raw_input, context, field=f"{field}Path")
            if not isinstance(value, str):
                raise StatesError(RUNTIME, f"Fail state '{name}': {field}Path must select a string, got {value!r}")
            return value
        return None

    raise StatesError(read("Error"), read("Cause"))  # no Error: none reported (AWS), not an empty name


_HANDLERS: dict[str, Callable[..., Outcome]] = {
    "Task": _task, "Map": _map, "Parallel": _parallel, "Pass": _pass, "Wait": _wait, "Choice": _choice,
    "Succeed": _succeed, "Fail": _fail,
}
