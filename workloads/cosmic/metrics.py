"""Photo-z accuracy (MAE, MSE, bias, NMAD, R2), throughput, and one JSON schema for ranks and runs.

Definitions (the course's `err_calculate`): MAE = mean|pred - z|, MSE = mean (pred - z)^2,
dz = (pred - z) / (1 + z), bias = mean dz, NMAD = 1.48 * median|dz - median dz|, R2 = 1 - SS_res/SS_tot.

Combining ranks: MAE, MSE, bias and R2 come from additive sums (`RedshiftSums`), so they are exact for any
split; NMAD needs every dz (a median of medians is not the median), so the combined record computes it
from the gathered dz arrays, and reports null when they are not given rather than an approximation.

Throughput counts inference only (no download, no model load), like the CAI aggregates; the combined
samples/s is total samples over the slowest rank's inference time. `input_bits_per_s` counts input
tensor bits as the course's `throughput_bps` did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

SCHEMA = "cosmicai.inference/v1"
TIMING_KEYS = ("data_load", "model_load", "inference", "communication", "total")
METRIC_KEYS = ("mae", "mse", "bias", "nmad", "r2")
RECORD_KEYS = ("schema", "scope", "run_id", "rank", "ranks", "world_size", "samples", "sample_ranges",
               "batch_size", "batches", "threads", "weights", "input_bits", "metrics", "sums", "timing_s",
               "throughput")


@dataclass(frozen=True)
class RedshiftSums:
    """Additive sufficient statistics of (prediction, redshift) pairs."""

    n: int = 0
    abs_err: float = 0.0
    sq_err: float = 0.0
    delta_z: float = 0.0
    z: float = 0.0
    z_sq: float = 0.0

    @classmethod
    def of(cls, pred: np.ndarray, z: np.ndarray) -> RedshiftSums:
        pred, z = _pair(pred, z)
        err = pred - z
        return cls(int(z.size), float(np.abs(err).sum()), float((err * err).sum()), float(delta_z(pred, z).sum()),
                   float(z.sum()), float((z * z).sum()))

    def __add__(self, other: RedshiftSums) -> RedshiftSums:
        return RedshiftSums(*(a + b for a, b in zip(asdict(self).values(), asdict(other).values(), strict=True)))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RedshiftSums:
        return cls(int(d["n"]), *(float(d[k]) for k in ("abs_err", "sq_err", "delta_z", "z", "z_sq")))


def delta_z(pred: np.ndarray, z: np.ndarray) -> np.ndarray:
    pred, z = _pair(pred, z)
    return (pred - z) / (1.0 + z)


def nmad(dz: np.ndarray) -> float | None:
    dz = np.asarray(dz, dtype=np.float64).reshape(-1)
    if dz.size == 0:
        return None
    return float(1.48 * np.median(np.abs(dz - np.median(dz))))


def accuracy(sums: RedshiftSums, dz: np.ndarray | None) -> dict[str, float | None]:
    """The five metrics; None where undefined (no samples, constant redshift for R2, no dz for NMAD)."""
    if sums.n == 0:
        return dict.fromkeys(METRIC_KEYS)
    ss_tot = sums.z_sq - sums.z * sums.z / sums.n
    r2 = 1.0 - sums.sq_err / ss_tot if ss_tot > 1e-12 * max(sums.z_sq, 1e-300) else None
    return {
        "mae": sums.abs_err / sums.n,
        "mse": sums.sq_err / sums.n,
        "bias": sums.delta_z / sums.n,
        "nmad": None if dz is None else nmad(dz),
        "r2": r2,
    }


def throughput(samples: int, seconds: float, threads: int, input_bits: int) -> dict[str, float | None]:
    if seconds <= 0:
        return {"samples_per_s": None, "samples_per_s_per_core": None, "input_bits_per_s": None}
    rate = samples / seconds
    return {"samples_per_s": rate, "samples_per_s_per_core": rate / max(threads, 1), "input_bits_per_s": input_bits / seconds}


def rank_record(*, run_id: str, rank: int, world_size: int, sample_range: tuple[int, int], pred: np.ndarray,
                z: np.ndarray, batch_size: int, threads: int, weights: str, timing_s: dict[str, float],
                input_bits: int) -> dict[str, Any]:
    """One rank's record (scope "rank")."""
    sums = RedshiftSums.of(pred, z)
    return _record("rank", run_id, rank, [rank], world_size, [list(sample_range)], batch_size,
                   -(-sums.n // batch_size), threads, weights, sums, delta_z(pred, z), timing_s, input_bits)


def combine_records(records: Sequence[dict[str, Any]], dz: Sequence[np.ndarray] | None = None) -> dict[str, Any]:
    """The run's record (scope "combined") from rank records, exact; NMAD needs every rank's dz."""
    if not records:
        raise ValueError("no records to combine")
    for r in records:
        validate_record(r)
    first = records[0]
    sums = RedshiftSums()
    for r in records:
        sums = sums + RedshiftSums.from_dict(r["sums"])
    all_dz = None if dz is None else np.concatenate([np.asarray(d, np.float64).reshape(-1) for d in dz])
    if all_dz is not None and all_dz.size != sums.n:
        raise ValueError(f"{all_dz.size} dz values for {sums.n} samples")
    timing = {k: max(float(r["timing_s"][k]) for r in records) for k in TIMING_KEYS}
    ranks = sorted(x for r in records for x in r["ranks"])
    bits = sum(int(r["input_bits"]) for r in records)
    weights = sorted({r["weights"] for r in records})
    return _record("combined", first["run_id"], None, ranks, first["world_size"],
                   sorted(rng for r in records for rng in r["sample_ranges"]), first["batch_size"],
                   sum(r["batches"] for r in records), sum(r["threads"] for r in records),
                   weights[0] if len(weights) == 1 else ",".join(weights), sums, all_dz, timing, bits)


def _record(scope: str, run_id: str, rank: int | None, ranks: list[int], world_size: int,
            sample_ranges: list[list[int]], batch_size: int, batches: int, threads: int, weights: str,
            sums: RedshiftSums, dz: np.ndarray | None, timing_s: dict[str, float], input_bits: int) -> dict[str, Any]:
    timing = {k: float(timing_s.get(k, 0.0)) for k in TIMING_KEYS}
    return {
        "schema": SCHEMA,
        "scope": scope,
        "run_id": run_id,
        "rank": rank,
        "ranks": ranks,
        "world_size": world_size,
        "samples": sums.n,
        "sample_ranges": sample_ranges,
        "batch_size": batch_size,
        "batches": batches,
        "threads": threads,
        "weights": weights,
        "input_bits": input_bits,
        "metrics": accuracy(sums, dz),
        "sums": asdict(sums),
        "timing_s": timing,
        "throughput": throughput(sums.n, timing["inference"], threads, input_bits),
    }


def validate_record(record: dict[str, Any]) -> dict[str, Any]:
    """Raise ValueError unless `record` follows the schema (used on records read back from storage)."""
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        raise ValueError(f"not a {SCHEMA} record")
    missing = [k for k in RECORD_KEYS if k not in record]
    if missing:
        raise ValueError(f"record lacks {missing}")
    if record["scope"] not in ("rank", "combined"):
        raise ValueError(f"bad scope {record['scope']!r}")
    if set(record["metrics"]) != set(METRIC_KEYS) or set(record["timing_s"]) != set(TIMING_KEYS):
        raise ValueError("record metrics or timing keys differ from the schema")
    RedshiftSums.from_dict(record["sums"])
    return record


def _pair(pred: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64).reshape(-1)
    z = np.asarray(z, dtype=np.float64).reshape(-1)
    if pred.shape != z.shape:
        raise ValueError(f"{pred.size} predictions for {z.size} redshifts")
    return pred, z
