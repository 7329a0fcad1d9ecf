"""Which shots an iteration uses: drawn without replacement from (seed, iteration), so every worker
and every retry agrees, and no shot appears twice in a batch (the seed drew per job, with duplicates)."""

from __future__ import annotations

import numpy as np


def shots_for_iteration(*, seed: int, iteration: int, batchsize: int, num_shots: int) -> list[int]:
    if not 1 <= batchsize <= num_shots:
        raise ValueError(f"batchsize={batchsize} must be between 1 and num_shots={num_shots}")
    if iteration < 1:
        raise ValueError(f"iterations count from 1, got {iteration}")
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, iteration])))
    return sorted(int(s) for s in rng.choice(num_shots, size=batchsize, replace=False))


def shot_for_array_index(shots: list[int], array_index: int) -> int:
    if not 0 <= array_index < len(shots):
        raise ValueError(f"array index {array_index} outside the batch of {len(shots)} shots")
    return shots[array_index]
