"""Rates learned from finished work: a node's compute speed, a link's throughput.

An exponentially weighted mean of observed rates (amount / seconds), so that a node that slows down (or a
link that gets congested) is noticed within a few observations. The original fork decayed both sums by
0.2 per update, which weights the newest observation more heavily still; ``alpha`` plays that role here.
"""

from __future__ import annotations

from collections.abc import Hashable
from statistics import fmean


class RateEstimator:
    def __init__(self, alpha: float = 0.5) -> None:
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        self.alpha = alpha
        self._rates: dict[Hashable, float] = {}
        self._counts: dict[Hashable, int] = {}

    def observe(self, key: Hashable, amount: float, seconds: float) -> None:
        if amount <= 0 or seconds <= 0:
            return  # nothing learned from an empty or instantaneous observation
        rate = amount / seconds
        old = self._rates.get(key)
        self._rates[key] = rate if old is None else (1 - self.alpha) * old + self.alpha * rate
        self._counts[key] = self._counts.get(key, 0) + 1

    def rate(self, key: Hashable) -> float | None:
        return self._rates.get(key)

    def count(self, key: Hashable) -> int:
        return self._counts.get(key, 0)

    def mean_rate(self) -> float | None:
        return fmean(self._rates.values()) if self._rates else None

    def forget(self, key: Hashable) -> None:
        self._rates.pop(key, None)
        self._counts.pop(key, None)
