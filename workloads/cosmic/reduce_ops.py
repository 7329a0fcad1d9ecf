"""Reduction operators: FMI's sum/prod/max/min plus custom functions with declared properties.

A custom function declares whether it is commutative and associative (as `fmi.func(fmi.op.custom, f,
commutative, associative)` does); the collectives pick an algorithm that is correct for what is declared:
trees and recursive doubling only for associative functions, and left-to-right folds otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ReduceOp:
    name: str
    fn: Callable[[Any, Any], Any]  # fn(left, right); left holds the lower ranks' contribution
    commutative: bool
    associative: bool
    ufunc: np.ufunc | None = None  # element-wise in-place path for arrays (built-in ops only)

    def apply(self, left: Any, right: Any) -> Any:
        """left op right, as a new object (inputs untouched)."""
        if self.ufunc is None:
            return self.fn(left, right)
        if isinstance(left, list | tuple) and isinstance(right, list | tuple):
            if len(left) != len(right):
                raise ValueError(f"{self.name}: lists of different lengths ({len(left)} and {len(right)})")
            out = self.ufunc(np.asarray(left), np.asarray(right)).tolist()
            return tuple(out) if isinstance(left, tuple) else out
        if isinstance(left, np.ndarray | np.generic) or isinstance(right, np.ndarray | np.generic):
            return self.ufunc(left, right)
        return self.fn(left, right)

    def accumulate(self, acc: Any, other: Any, acc_is_left: bool) -> Any:
        """acc op other (or other op acc), writing into `acc` when it is an array that can hold the result."""
        if (
            self.ufunc is not None
            and isinstance(acc, np.ndarray)
            and acc.flags.writeable
            and isinstance(other, np.ndarray)
            and other.shape == acc.shape
            and np.result_type(acc, other) == acc.dtype
        ):
            self.ufunc(acc, other, out=acc)  # built-in ops are commutative: operand order is irrelevant
            return acc
        return self.apply(acc, other) if acc_is_left else self.apply(other, acc)


SUM = ReduceOp("sum", lambda a, b: a + b, True, True, np.add)
PROD = ReduceOp("prod", lambda a, b: a * b, True, True, np.multiply)
MAX = ReduceOp("max", lambda a, b: max(a, b), True, True, np.maximum)
MIN = ReduceOp("min", lambda a, b: min(a, b), True, True, np.minimum)
BUILTIN = {op.name: op for op in (SUM, PROD, MAX, MIN)}


def custom(fn: Callable[[Any, Any], Any], *, commutative: bool, associative: bool, name: str = "") -> ReduceOp:
    """A user function with its declared algebra (declare False when unsure: slower but always right)."""
    return ReduceOp(name or getattr(fn, "__name__", "custom"), fn, commutative, associative)


def resolve(op: str | ReduceOp | Callable[[Any, Any], Any]) -> ReduceOp:
    """'sum' | 'prod' | 'max' | 'min', a ReduceOp, or a bare function (treated as neither commutative nor
    associative, which is always correct)."""
    if isinstance(op, ReduceOp):
        return op
    if isinstance(op, str):
        try:
            return BUILTIN[op.lower()]
        except KeyError:
            raise ValueError(f"unknown reduction {op!r}; use one of {sorted(BUILTIN)} or reduce_ops.custom") from None
    if callable(op):
        return custom(op, commutative=False, associative=False)
    raise TypeError(f"not a reduction: {op!r}")


def private_copy(obj: Any) -> Any:
    """A copy that accumulation may overwrite (arrays are copied; immutable scalars are shared)."""
    if isinstance(obj, np.ndarray):
        return np.array(obj, copy=True, order="C")
    if isinstance(obj, list):
        return list(obj)
    return obj
