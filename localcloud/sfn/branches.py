"""Map (inline) and Parallel: run iterations/branches on a thread pool; the first failure stops the rest
and becomes the state's error, as on AWS, unless it is within a Map's tolerated failure threshold."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from localcloud.sfn import io_processing, map_limits
from localcloud.sfn.errors import RUNTIME, Cancelled, StatesError
from localcloud.sfn.resources import STATES_PREFIX
from localcloud.sfn.runtime import RunContext

INLINE_MAP_CONCURRENCY = 40  # AWS: an inline Map runs at most 40 iterations at once
RunGraph = Callable[[dict, Any, RunContext], Any]
_ABSENT = object()


def run_map(name: str, state: dict, effective_input: Any, rc: RunContext, entered: str, retry_count: int,
            run_graph: RunGraph) -> list:
    context = rc.context_object(name, entered, retry_count)
    items = io_processing.select(state.get("ItemsPath", "$"), effective_input, context, field="ItemsPath")
    if not isinstance(items, list):
        raise StatesError(RUNTIME, f"Map state '{name}': ItemsPath '{state.get('ItemsPath', '$')}' must select an "
                                   f"array, got {type(items).__name__}")
    processor = state.get("ItemProcessor") or state["Iterator"]
    selector = state["ItemSelector"] if "ItemSelector" in state else state.get("Parameters", _ABSENT)
    limit = map_limits.read("MaxConcurrency", state, effective_input, context)  # 0 or absent: no limit
    workers = min(limit, INLINE_MAP_CONCURRENCY) if limit else INLINE_MAP_CONCURRENCY
    tolerance = map_limits.Tolerance.of(state, effective_input, context)
    budget = map_limits.FailureBudget(tolerance, len(items)) if tolerance is not None else None

    def iteration(index: int, branch: RunContext) -> Any:
        item = items[index]
        if selector is _ABSENT:
            iteration_input = item
        else:  # $ is the Map's effective input; $$.Map.Item.Index/Value the item
            item_context = rc.context_object(name, entered, retry_count, map_item=(index, item))
            iteration_input = io_processing.render(selector, effective_input, item_context)
        return run_graph(processor, iteration_input, branch)

    if state.get("ItemProcessor", {}).get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED":
        # each iteration is a child execution of this state machine, started with its role
        rc.integrations.authorize(f"{STATES_PREFIX}states:startExecution", {"StateMachineArn": rc.info.state_machine_arn})
    rc.record("MapStateStarted", state_name=name, length=len(items))
    return _fan_out(rc, name, "Map", len(items), iteration, workers, budget.absorb if budget else None)


def run_parallel(name: str, state: dict, effective_input: Any, rc: RunContext, run_graph: RunGraph) -> list:
    branches = state["Branches"]
    rc.record("ParallelStateStarted", state_name=name)
    return _fan_out(rc, name, "Parallel", len(branches),
                    lambda index, branch: run_graph(branches[index], effective_input, branch), len(branches))


def _fan_out(rc: RunContext, name: str, kind: str, count: int, work: Callable[[int, RunContext], Any],
             workers: int, absorb: Callable[[StatesError], StatesError | None] | None = None) -> list:
    """Run `count` pieces of work; the first failure cancels the rest and becomes the state's error. With
    `absorb` (a Map's tolerated failures), a failed item it absorbs leaves its error object as its result
    and the others go on; the failure it does not absorb fails the state with the error it returns."""
    scope = rc.scope.child()
    results: list[Any] = [None] * count
    failures: list[BaseException] = []
    lock = threading.Lock()
    per_item_events = kind == "Map"

    def one(index: int) -> None:
        branch = rc.branch(scope)
        if scope.cancelled:
            return
        if per_item_events:
            branch.record("MapIterationStarted", state_name=name, index=index)
        try:
            results[index] = work(index, branch)
        except Cancelled:
            if per_item_events:
                branch.record("MapIterationAborted", state_name=name, index=index)
        except BaseException as exc:  # a StatesError, or a bug: either way stop the siblings (unless tolerated)
            if per_item_events and isinstance(exc, StatesError):
                branch.record("MapIterationFailed", state_name=name, index=index, error=exc.error, cause=exc.cause)
            fatal = absorb(exc) if absorb is not None and isinstance(exc, StatesError) else exc
            if fatal is None:
                # AWS does not document what a tolerated item contributes to the output; its error object
                # keeps the results aligned with the items and says what went wrong
                results[index] = exc.as_output()
                return
            with lock:
                failures.append(fatal)
            scope.cancel()
        else:
            if per_item_events:
                branch.record("MapIterationSucceeded", state_name=name, index=index)

    try:
        if count:
            with ThreadPoolExecutor(max_workers=min(workers, count), thread_name_prefix=f"sfn-{kind}") as pool:
                list(pool.map(one, range(count)))
    finally:
        scope.close()
    if rc.scope.cancelled:
        rc.record(f"{kind}StateAborted", state_name=name)
        raise Cancelled()
    if failures:
        error = failures[0]
        if isinstance(error, StatesError):
            rc.record(f"{kind}StateFailed", state_name=name, error=error.error, cause=error.cause)
        raise error
    rc.record(f"{kind}StateSucceeded", state_name=name)
    return results
