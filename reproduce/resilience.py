"""The paper's resilience model: what losing instances does to the time of one gradient.

Every shot runs on its own instance. A fraction of the instances is terminated at random times; the
failure-free run ends with the longest job, T(0). With failures it ends at T(f), and the resilience
factor is T(0) / T(f) (1 = no harm).

- restart: Batch retries the job on a new instance, which is ready `penalty_s` after the failure,
  and the job starts over: it ends at t_fail + penalty + runtime.
- no restart: the lost work (everything the instance had been given) goes to the surviving instance
  with the least work, which starts it when it is free, but not before the failure happened.

A termination after the instance's work has finished costs nothing, and one that comes after the
whole run has ended never happens. Failure times are drawn uniformly from [1, longest runtime), as
in the paper's model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def makespan(runtimes: Sequence[float], failure_times: Sequence[float | None], *, restart: bool,
             penalty_s: float = 60.0) -> float:
    """Time until all work is done. failure_times[i] is when instance i is terminated (None: never)."""
    if len(failure_times) != len(runtimes):
        raise ValueError("one failure time (or None) per instance")
    finish = [float(r) for r in runtimes]
    alive = [True] * len(finish)
    events = sorted((t, i) for i, t in enumerate(failure_times) if t is not None)
    for t, i in events:
        if t >= max(f for f, a in zip(finish, alive, strict=True) if a):
            break  # everything finished before this termination
        if t >= finish[i]:
            # the instance was done; terminating it loses nothing (without restarts it is simply gone)
            alive[i] = restart
            continue
        if restart:
            finish[i] = t + penalty_s + float(runtimes[i])
            continue
        lost, alive[i] = finish[i], False
        survivors = [j for j, a in enumerate(alive) if a]
        if not survivors:
            raise ValueError("every instance failed and nothing restarts them")
        j = min(survivors, key=finish.__getitem__)
        finish[j] = max(finish[j], t) + lost
    return max(f for f, a in zip(finish, alive, strict=True) if a)


@dataclass(frozen=True)
class ResilienceCurve:
    failure_fractions: tuple[float, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]


def modelled_runtimes(count: int, mean_s: float, spread: float, rng: np.random.Generator) -> np.ndarray:
    """Failure-free runtimes of `count` similar shots: normal around the mean with relative spread
    `spread` (the paper reports only the means; shots from one list differ by a few percent)."""
    return np.clip(rng.normal(mean_s, spread * mean_s, count), 0.05 * mean_s, None)


def resilience_curve(
    mean_runtime_s: float,
    failure_fractions: Sequence[float],
    *,
    restart: bool,
    penalty_s: float = 60.0,
    shots: int = 100,
    repeats: int = 20,
    spread: float = 0.06,
    seed: int = 0,
) -> ResilienceCurve:
    """Mean and spread over `repeats` of the factor T(0)/T(f) for each failure fraction.

    Each repeat draws new runtimes and failure times; the failed instances are a random subset of
    int(shots x fraction) instances (as in the paper's model)."""
    if not all(0 <= f < 1 for f in failure_fractions):
        raise ValueError("failure fractions must be in [0, 1)")
    if penalty_s < 0:
        raise ValueError("the restart penalty must not be negative")
    rng = np.random.default_rng(seed)
    factors = np.empty((repeats, len(failure_fractions)))
    for rep in range(repeats):
        runtimes = modelled_runtimes(shots, mean_runtime_s, spread, rng)
        t0 = float(runtimes.max())
        times = rng.integers(1, max(int(t0), 2), size=shots)
        for col, fraction in enumerate(failure_fractions):
            failed = rng.permutation(shots)[: int(shots * fraction)]
            schedule: list[float | None] = [None] * shots
            for k, instance in enumerate(failed):
                schedule[instance] = float(times[k])
            factors[rep, col] = t0 / makespan(runtimes, schedule, restart=restart, penalty_s=penalty_s)
    return ResilienceCurve(tuple(failure_fractions), tuple(factors.mean(axis=0)), tuple(factors.std(axis=0)))
