"""Choice rules: comparison operators, their ...Path variants, And/Or/Not, and the type tests."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from localcloud.sfn import paths
from localcloud.sfn.errors import RUNTIME, DefinitionError, StatesError

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": operator.eq,
    "LessThan": operator.lt,
    "GreaterThan": operator.gt,
    "LessThanEquals": operator.le,
    "GreaterThanEquals": operator.ge,
}
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not _RFC3339.match(value):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _string_matches(value: str, pattern: str) -> bool:
    """StringMatches: '*' matches any run of characters; '\\*' and '\\\\' are a literal star and backslash."""
    regex, i = [], 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            regex.append(re.escape(pattern[i + 1]))
            i += 2
        elif pattern[i] == "*":
            regex.append(".*")
            i += 1
        else:
            regex.append(re.escape(pattern[i]))
            i += 1
    return re.fullmatch("".join(regex), value, flags=re.DOTALL) is not None


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "String": lambda v: v if isinstance(v, str) else None,
    "Numeric": lambda v: v if is_number(v) else None,
    "Boolean": lambda v: v if isinstance(v, bool) else None,
    "Timestamp": parse_timestamp,
}
_TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "IsNull": lambda v: v is None,
    "IsNumeric": is_number,
    "IsString": lambda v: isinstance(v, str),
    "IsBoolean": lambda v: isinstance(v, bool),
    "IsTimestamp": lambda v: parse_timestamp(v) is not None,
}


def _operator(rule: dict) -> str:
    found = [k for k in rule if k not in ("Variable", "Next", "Comment")]
    if len(found) != 1:
        raise DefinitionError(f"a choice rule needs exactly one comparison operator: {rule}")
    return found[0]


def _read_variable(path: str, data: Any, context: dict | None) -> Any:
    try:
        return paths.read(path, data, context)
    except paths.PathNotFound:
        raise StatesError(RUNTIME, f"Invalid path '{path}': The choice state's condition path references an "
                                   "invalid value.") from None


def evaluate(rule: dict, data: Any, context: dict | None = None) -> bool:
    """Whether a (possibly compound) choice rule holds for the state's effective input."""
    if "And" in rule:
        return all(evaluate(r, data, context) for r in rule["And"])
    if "Or" in rule:
        return any(evaluate(r, data, context) for r in rule["Or"])
    if "Not" in rule:
        return not evaluate(rule["Not"], data, context)
    if "Variable" not in rule:
        raise DefinitionError(f"a choice rule needs Variable, And, Or or Not: {rule}")
    op = _operator(rule)
    expected = rule[op]
    if op == "IsPresent":
        return paths.exists(rule["Variable"], data, context) == expected
    value = _read_variable(rule["Variable"], data, context)
    if op in _TYPE_TESTS:
        return _TYPE_TESTS[op](value) == expected
    if op.endswith("Path"):
        expected = _read_variable(expected, data, context)
        op = op[: -len("Path")]
    if op == "StringMatches":
        return isinstance(value, str) and _string_matches(value, expected)
    for kind, convert in _CONVERT.items():
        if op.startswith(kind) and op[len(kind):] in _ORDER:
            left, right = convert(value), convert(expected)
            # a value of the wrong type makes the comparison false, never an error
            return left is not None and right is not None and _ORDER[op[len(kind):]](left, right)
    raise DefinitionError(f"unknown choice operator {op!r}")


def next_state(state: dict, data: Any, context: dict | None) -> str | None:
    """The Next of the first matching choice, else Default (None when neither)."""
    for rule in state.get("Choices", []):
        if evaluate(rule, data, context):
            return rule["Next"]
    return state.get("Default")
