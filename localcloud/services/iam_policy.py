"""IAM identity-policy evaluation, as AWS does it for one request: an explicit Deny wins, then any Allow,
otherwise the request is implicitly denied.

What a statement may use: Effect, Action / NotAction, Resource / NotResource (wildcards `*` and `?`; actions
match case-insensitively, resources case-sensitively, as on AWS) and Condition with the operators the
synthesized templates use: String(Not)Equals, String(Not)Like, Arn(Not)Equals, Arn(Not)Like, Bool, Null, each
also as ...IfExists. A condition key the request does not carry makes the condition false (Null excepted),
as on AWS; an operator not listed here makes its statement never match (so an Allow never grants by
accident), and is reported by `unsupported_operators`.

A request whose resource is unknown (`resource=None`: what moto passes for services it does not map to an
ARN, e.g. EC2) is checked on the action alone: an Allow naming the action grants it, whatever its Resource.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

ALLOWED, EXPLICIT_DENY, IMPLICIT_DENY = "allowed", "explicit deny", "implicit deny"


@dataclass(frozen=True)
class Decision:
    outcome: str  # ALLOWED, EXPLICIT_DENY or IMPLICIT_DENY

    @property
    def allowed(self) -> bool:
        return self.outcome == ALLOWED


def evaluate(policies: Iterable[Mapping[str, Any]], action: str, resource: str | None,
             context: Mapping[str, Any] | None = None) -> Decision:
    """The decision for `action` on `resource` under identity policies (documents with a Statement)."""
    context = context or {}
    allowed = False
    for policy in policies:
        for statement in _statements(policy):
            if not _applies(statement, action, resource, context):
                continue
            if statement.get("Effect") == "Deny":
                return Decision(EXPLICIT_DENY)
            allowed = allowed or statement.get("Effect") == "Allow"
    return Decision(ALLOWED if allowed else IMPLICIT_DENY)


def denial_message(principal_arn: str, action: str, resource: str | None, decision: Decision) -> str:
    """AWS's wording for a refused request."""
    on = f" on resource: {resource}" if resource else ""
    why = ("with an explicit deny in an identity-based policy" if decision.outcome == EXPLICIT_DENY
           else f"because no identity-based policy allows the {action} action")
    return f"User: {principal_arn} is not authorized to perform: {action}{on} {why}"


def unsupported_operators(policies: Iterable[Mapping[str, Any]]) -> set[str]:
    """Condition operators in these policies that this evaluator does not know."""
    return {op for policy in policies for s in _statements(policy) for op in s.get("Condition", {})
            if _operator(op)[0] not in _OPERATORS}


def _statements(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statements = policy.get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _applies(statement: Mapping[str, Any], action: str, resource: str | None, context: Mapping[str, Any]) -> bool:
    if "Action" in statement:
        if not any(_matches(p, action, ignore_case=True) for p in _as_list(statement["Action"])):
            return False
    elif "NotAction" in statement:
        if any(_matches(p, action, ignore_case=True) for p in _as_list(statement["NotAction"])):
            return False
    else:
        return False
    if resource is not None:
        if "Resource" in statement:
            if not any(_matches(p, resource) for p in _as_list(statement["Resource"])):
                return False
        elif "NotResource" in statement:
            if any(_matches(p, resource) for p in _as_list(statement["NotResource"])):
                return False
        else:
            return False
    return all(_condition_holds(op, block, context) for op, block in statement.get("Condition", {}).items())


@lru_cache(maxsize=4096)
def _pattern(pattern: str, ignore_case: bool) -> re.Pattern:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    return bool(_pattern(str(pattern), ignore_case).match(value))


def _operator(name: str) -> tuple[str, bool]:
    if_exists = name.endswith("IfExists")
    return name.removesuffix("IfExists"), if_exists


def _string_equals(expected: str, actual: str) -> bool:
    return expected == actual


def _string_like(expected: str, actual: str) -> bool:
    return _matches(expected, actual)


def _bool(expected: str, actual: str) -> bool:
    return str(expected).lower() == str(actual).lower()


_OPERATORS = {  # name -> (compare one expected value with one actual value, negated)
    "StringEquals": (_string_equals, False), "StringNotEquals": (_string_equals, True),
    "StringLike": (_string_like, False), "StringNotLike": (_string_like, True),
    "ArnEquals": (_string_equals, False), "ArnNotEquals": (_string_equals, True),
    "ArnLike": (_string_like, False), "ArnNotLike": (_string_like, True),
    "Bool": (_bool, False), "Null": (None, False),
}


def _condition_holds(operator: str, block: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    name, if_exists = _operator(operator)
    if name not in _OPERATORS:
        return False
    compare, negated = _OPERATORS[name]
    for key, expected in block.items():
        actual = _lookup(context, key)
        if name == "Null":  # "true": the key must be absent; "false": present
            if (actual is None) != _bool(_as_list(expected)[0], "true"):
                return False
            continue
        if actual is None:
            if if_exists:
                continue
            return False
        values = [str(v) for v in _as_list(actual)]
        hit = any(compare(str(e), v) for e in _as_list(expected) for v in values)
        if hit == negated:
            return False
    return True


def _lookup(context: Mapping[str, Any], key: str) -> Any:
    """Condition keys are case-insensitive."""
    if key in context:
        return context[key]
    lowered = key.lower()
    return next((v for k, v in context.items() if k.lower() == lowered), None)
