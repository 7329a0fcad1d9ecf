"""How much faster than Ray's default any placement can be, for N equal jobs on one HPC and one cloud node.

A fluid model (jobs divisible, no scheduling overhead), which shows where a speed-up target is out of
reach whatever the scheduler does:

- any schedule: the HPC node finishes at most ``T / c`` jobs by time T. The cloud node receives at most
  one dataset per ``x`` seconds and computes one per ``c``: its k-th job ends no sooner than
  ``k·x + c`` (link-bound) or ``x + k·c`` (compute-bound), so it finishes at most
  ``(T - min(x, c)) / max(x, c)`` jobs. The smallest T that fits N jobs bounds the makespan from below.
- the default (each task fetches its own data while holding its CPU): the cloud finishes one job per
  ``x + c`` seconds, so ``T = N / (1/c + 1/(x + c))`` with no tail effects (real runs end later).

``c`` is a job's compute time, ``x`` its transfer time over the WAN.
"""

from __future__ import annotations


def best_makespan_s(n_jobs: int, compute_s: float, transfer_s: float) -> float:
    """Lower bound on the makespan of any placement (fluid model)."""
    _check(n_jobs, compute_s, transfer_s)
    c = compute_s
    period, offset = max(transfer_s, c), min(transfer_s, c)
    # n = T/c + (T - offset)/period  ->  T = (n + offset/period) / (1/c + 1/period)
    return (n_jobs + offset / period) / (1 / c + 1 / period)


def default_makespan_s(n_jobs: int, compute_s: float, transfer_s: float) -> float:
    """Makespan of fetch-inside-the-task placement in the fluid model (no tail effects)."""
    _check(n_jobs, compute_s, transfer_s)
    return n_jobs / (1 / compute_s + 1 / (transfer_s + compute_s))


def speedup_ceiling(n_jobs: int, compute_s: float, transfer_s: float) -> float:
    """default / best: the speed-up over the default that the fluid model allows at most."""
    return default_makespan_s(n_jobs, compute_s, transfer_s) / best_makespan_s(n_jobs, compute_s, transfer_s)


def _check(n_jobs: int, compute_s: float, transfer_s: float) -> None:
    if n_jobs < 1 or compute_s <= 0 or transfer_s < 0:
        raise ValueError(f"need n_jobs >= 1, compute_s > 0, transfer_s >= 0; got {n_jobs}, {compute_s}, {transfer_s}")
