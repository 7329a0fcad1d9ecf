"""Map (inline) and Parallel: run iterations/branches on a thread pool; the first failure stops the rest
and becomes the state's error, as on AWS."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tools.local_sfn import io_processing
from tools.local_sfn.errors import RUNTIME, Cancelled, StatesError
from tools.local_sfn.resources import STATES_PREFIX
from tools.local_sfn.runtime import RunContext

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
    limit = state.get("MaxConcurrency", 0)
    if "MaxConcurrencyPath" in state:
        limit = io_processing.select(state["MaxConcurrencyPath"], effective_input, context, field="MaxConcurrencyPath")
    workers = min(limit, INLINE_MAP_CONCURRENCY) if limit else INLINE_MAP_CONCURRENCY

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
    return _fan_out(rc, name, "Map", len(items), iteration, workers)


def run_parallel(name: str, state: dict, effective_input: Any, rc: RunContext, run_graph: RunGraph) -> list:
    branches = state["Branches"]
    rc.record("ParallelStateStarted", state_name=name)
    return _fan_out(rc, name, "Parallel", len(branches),
                    lambda index, branch: run_graph(branches[index], effective_input, branch), len(branches))


def _fan_out(rc: RunContext, name: str, kind: str, count: int, work: Callable[[int, RunContext], Any],
             workers: int) -> list:
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
        except BaseException as exc:  # a StatesError, or a bug: either way stop the siblings
            with lock:
                failures.append(exc)
            scope.cancel()
            if per_item_events and isinstance(exc, StatesError):
                branch.record("MapIterationFailed", state_name=name, index=index, error=exc.error, cause=exc.cause)
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
