"""Input and output processing of a state, in the ASL order:
InputPath -> Parameters/ItemSelector -> (work) -> ResultSelector -> ResultPath -> OutputPath."""

from __future__ import annotations

import json
from typing import Any

from localcloud.sfn import intrinsics, paths
from localcloud.sfn.errors import RUNTIME, DefinitionError, StatesError

_ABSENT = object()


def _short(data: Any) -> str:
    text = json.dumps(data)
    return text if len(text) <= 2000 else text[:2000] + "..."


def select(expression: Any, data: Any, context: dict | None, *, field: str) -> Any:
    """The value of a '<key>.$' field (or a *Path field): a path, a context path, or an intrinsic."""
    if not isinstance(expression, str):
        raise DefinitionError(f"the value of {field!r} must be a path or an intrinsic function, got {expression!r}")
    if intrinsics.is_intrinsic(expression):
        return intrinsics.evaluate(expression, data, context)
    try:
        return paths.read(expression, data, context)
    except paths.PathNotFound:
        source = context if paths.is_context_path(expression) else data
        raise StatesError(
            RUNTIME,
            f"The JSONPath '{expression}' specified for the field '{field}' could not be found in the input "
            f"'{_short(source)}'",
        ) from None


def render(template: Any, data: Any, context: dict | None) -> Any:
    """A payload template (Parameters, ItemSelector, ResultSelector): '.$' keys take selected values."""
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            if key.endswith(".$"):
                out[key[:-2]] = select(value, data, context, field=key)
            else:
                out[key] = render(value, data, context)
        return out
    if isinstance(template, list):
        return [render(item, data, context) for item in template]
    return template


def _path(state: dict, field: str, data: Any, context: dict | None) -> Any:
    path = state.get(field, "$")
    if path is None:
        return {}  # a null InputPath/OutputPath passes an empty object
    try:
        return paths.read(path, data, context)
    except paths.PathNotFound:
        raise StatesError(RUNTIME, f"Invalid path '{path}' : No results for path: {path} in {field} "
                                   f"applied to '{_short(data)}'") from None


def apply_input_path(state: dict, raw_input: Any, context: dict | None) -> Any:
    return _path(state, "InputPath", raw_input, context)


def apply_output_path(state: dict, data: Any, context: dict | None) -> Any:
    return _path(state, "OutputPath", data, context)


def apply_parameters(state: dict, effective_input: Any, context: dict | None, field: str = "Parameters") -> Any:
    template = state.get(field, _ABSENT)
    return effective_input if template is _ABSENT else render(template, effective_input, context)


def apply_result_selector(state: dict, result: Any, context: dict | None) -> Any:
    template = state.get("ResultSelector", _ABSENT)
    return result if template is _ABSENT else render(template, result, context)


def apply_result_path(result_path: str | None, raw_input: Any, result: Any) -> Any:
    """ResultPath: null keeps the state's input; '$' replaces it; '$.a.b' places the result inside it."""
    if result_path is None:
        return raw_input
    return paths.with_result(raw_input, result_path, result)
