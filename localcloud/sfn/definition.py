"""Checks a definition before anything runs: structure, and what this runner does not implement
(JSONata, variables, distributed Map readers/writers, activities) is refused with a plain message."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from localcloud.sfn import intrinsics, map_limits
from localcloud.sfn.choice import parse_timestamp
from localcloud.sfn.errors import DefinitionError
from localcloud.sfn.integrations import Integrations
from localcloud.sfn.resources import parse_resource

STATE_TYPES = {"Task", "Pass", "Choice", "Wait", "Succeed", "Fail", "Map", "Parallel"}
_TEMPLATE_FIELDS = ("Parameters", "ResultSelector", "ItemSelector")
_UNSUPPORTED_FIELDS = {
    "Assign": "variables (Assign)",
    "Arguments": "JSONata (Arguments)",
    "Output": "JSONata (Output)",
    "ItemReader": "distributed Map ItemReader",
    "ItemBatcher": "distributed Map ItemBatcher",
    "ResultWriter": "distributed Map ResultWriter",
}


def graphs(definition: dict, where: str = "") -> Iterator[tuple[str, dict]]:
    """The definition and every nested graph (Parallel branches, Map processors), with a location."""
    yield where or "(top level)", definition
    for name, state in definition.get("States", {}).items():
        if state.get("Type") == "Parallel":
            for i, branch in enumerate(state.get("Branches", [])):
                yield from graphs(branch, f"{where}{name}.Branches[{i}]/")
        elif state.get("Type") == "Map":
            processor = state.get("ItemProcessor") or state.get("Iterator")
            if processor is not None:
                yield from graphs(processor, f"{where}{name}.ItemProcessor/")


def validate(definition: dict, integrations: Integrations | None = None) -> None:
    """Raise DefinitionError for a broken or unsupported definition. With `integrations`, also for a Task
    whose (constant) resource or Lambda function has no local integration registered."""
    problems: list[str] = []
    for where, graph in graphs(definition):
        problems.extend(f"{where}: {p}" for p in _graph_problems(graph, integrations))
    if problems:
        raise DefinitionError("state machine definition cannot run locally:\n  " + "\n  ".join(problems))


def _graph_problems(graph: dict, integrations: Integrations | None) -> Iterator[str]:
    if graph.get("QueryLanguage", "JSONPath") != "JSONPath":
        yield "only JSONPath state machines run locally (QueryLanguage is JSONata)"
    states = graph.get("States")
    if not isinstance(states, dict) or not states:
        yield "no States"
        return
    if graph.get("StartAt") not in states:
        yield f"StartAt {graph.get('StartAt')!r} is not a state"
    for name, state in states.items():
        kind = state.get("Type")
        if kind not in STATE_TYPES:
            yield f"state {name!r}: unknown Type {kind!r}"
            continue
        if state.get("QueryLanguage", "JSONPath") != "JSONPath":
            yield f"state {name!r}: JSONata is not supported locally"
        for field, what in _UNSUPPORTED_FIELDS.items():
            if field in state:
                yield f"state {name!r}: {what} is not supported locally"
        targets = [state["Next"]] if "Next" in state else []
        if kind == "Choice":
            targets += [rule.get("Next") for rule in state.get("Choices", [])]
            targets += [state["Default"]] if "Default" in state else []
        elif kind not in ("Succeed", "Fail") and "Next" not in state and not state.get("End"):
            yield f"state {name!r} has neither Next nor End"
        targets += [c.get("Next") for c in state.get("Catch", [])]
        for target in targets:
            if target not in states:
                yield f"state {name!r}: transition to unknown state {target!r}"
        if kind == "Map" and not (state.get("ItemProcessor") or state.get("Iterator")):
            yield f"state {name!r}: Map without ItemProcessor"
        if kind == "Map":
            yield from (f"state {name!r}: {problem}" for problem in map_limits.definition_problems(state))
        if kind == "Wait" and "Timestamp" in state and parse_timestamp(state["Timestamp"]) is None:
            # AWS refuses this at CreateStateMachine (recorded), unlike a TimestampPath value at run time
            yield f"state {name!r}: Timestamp {state['Timestamp']!r} is not an RFC 3339 timestamp"
        yield from (f"state {name!r}: {problem}" for problem in _intrinsic_problems(state))
        if kind == "Task":
            yield from _task_problems(name, state, integrations)


def _intrinsic_problems(state: dict) -> Iterator[str]:
    """Intrinsic functions that AWS would refuse when the state machine is created (not at run time):
    in payload templates ('<key>.$') and in the *Path fields that accept them (ErrorPath, CausePath...)."""
    expressions = [value for field, value in state.items() if field.endswith("Path")]
    for field in _TEMPLATE_FIELDS:
        expressions.extend(_template_expressions(state.get(field)))
    for expression in expressions:
        if intrinsics.is_intrinsic(expression):
            try:
                intrinsics.check(expression)
            except DefinitionError as exc:
                yield str(exc)


def _template_expressions(template: Any) -> Iterator[Any]:
    if isinstance(template, dict):
        for key, value in template.items():
            if key.endswith(".$"):
                yield value
            else:
                yield from _template_expressions(value)
    elif isinstance(template, list):
        for item in template:
            yield from _template_expressions(item)


def _task_problems(name: str, state: dict, integrations: Integrations | None) -> Iterator[str]:
    try:
        resource = parse_resource(state.get("Resource", ""))
    except DefinitionError as exc:
        yield f"state {name!r}: {exc}"
        return
    if integrations is None:
        return
    if resource.is_bare_lambda:
        if not integrations.has_function(resource.function):
            yield f"state {name!r}: no Lambda handler registered for {resource.function!r}"
    elif resource.key == "lambda:invoke" and not integrations.has_service(resource):
        function = state.get("Parameters", {}).get("FunctionName")
        if function is not None and not integrations.has_function(function):
            yield f"state {name!r}: no Lambda handler registered for {function!r}"
    elif not integrations.has_service(resource):
        yield f"state {name!r}: no integration registered for {resource.key!r}"
