"""The numbers a Map state reads from its definition or, through a ...Path field, from its input:
MaxConcurrency and the tolerated failure thresholds. Checked as AWS checks them, and the threshold test.

AWS documents the thresholds for the Distributed Map (CDK's DistributedMap writes them); this runner runs
every Map inline, so it applies them to any Map that declares them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from localcloud.sfn import io_processing
from localcloud.sfn.choice import is_number
from localcloud.sfn.errors import EXCEED_TOLERATED_FAILURE_THRESHOLD, RUNTIME, StatesError

# field -> (must be an integer, largest value allowed); every one of them must be >= 0
_RULES: dict[str, tuple[bool, float | None]] = {
    "MaxConcurrency": (True, None),
    "ToleratedFailureCount": (True, None),
    "ToleratedFailurePercentage": (False, 100),  # a percentage may be fractional (the API models it as a float)
}


def _problem(field: str, value: Any, label: str) -> str | None:
    integer, maximum = _RULES[field]
    what = "a non-negative integer" if integer else f"a number between 0 and {maximum:g}"
    valid = (is_number(value) and value >= 0 and (not integer or float(value).is_integer())
             and (maximum is None or value <= maximum))
    return None if valid else f"{label} must be {what}, got {value!r}"


def definition_problems(state: dict) -> Iterator[str]:
    """What CreateStateMachine refuses: a literal that is out of range, or a field given both ways."""
    for field in _RULES:
        if field in state and f"{field}Path" in state:
            yield f"{field} and {field}Path cannot both be given"
        if field in state and (problem := _problem(field, state[field], field)) is not None:
            yield problem


def read(field: str, state: dict, effective_input: Any, context: dict) -> int | float | None:
    """The field's value (a literal, or what its Path selects), or None when the state has neither. A
    selected value that is not valid fails the execution with States.Runtime, as on AWS."""
    label = field if field in state else f"{field}Path"
    if label not in state:
        return None
    value = state[field] if label == field else io_processing.select(state[label], effective_input, context,
                                                                     field=label)
    problem = _problem(field, value, label)
    if problem is not None:
        raise StatesError(RUNTIME, problem)
    return int(value) if _RULES[field][0] else value


@dataclass(frozen=True)
class Tolerance:
    """The Map fails when more than `count` items failed, or when the failed share of all items is more
    than `percentage` %; with both, whichever is exceeded first (AWS docs)."""

    count: int | None
    percentage: int | float | None

    @classmethod
    def of(cls, state: dict, effective_input: Any, context: dict) -> Tolerance | None:
        """None when the Map declares neither threshold: then the first failed item fails the Map with that
        item's own error, as before tolerances existed (AWS: the default is to tolerate nothing)."""
        count = read("ToleratedFailureCount", state, effective_input, context)
        percentage = read("ToleratedFailurePercentage", state, effective_input, context)
        return None if count is None and percentage is None else cls(count, percentage)

    def exceeded(self, failed: int, total: int) -> bool:
        if self.count is not None and failed > self.count:
            return True
        return self.percentage is not None and failed * 100 > self.percentage * total


class FailureBudget:
    """Counts a Map's failed items as they happen (iterations run on several threads) and says which
    failure exhausts the tolerance."""

    def __init__(self, tolerance: Tolerance, total: int) -> None:
        self._tolerance = tolerance
        self._total = total
        self._failed = 0
        self._lock = threading.Lock()

    def absorb(self, error: StatesError) -> StatesError | None:
        """None while the failure is tolerated; else the error that fails the Map."""
        with self._lock:
            self._failed += 1
            failed = self._failed
        if not self._tolerance.exceeded(failed, self._total):
            return None
        return StatesError(EXCEED_TOLERATED_FAILURE_THRESHOLD,
                           f"The tolerated failure threshold was exceeded: {failed} of {self._total} items failed "
                           f"(ToleratedFailureCount {self._tolerance.count}, ToleratedFailurePercentage "
                           f"{self._tolerance.percentage}); last error: {error}")
