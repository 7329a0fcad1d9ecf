"""Photo-z metrics against hand-computed values and the course's formulas; exact combination of ranks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from workloads.cosmic.metrics import (
    RECORD_KEYS,
    RedshiftSums,
    accuracy,
    combine_records,
    delta_z,
    nmad,
    rank_record,
    throughput,
    validate_record,
)

PRED = np.array([0.1, 0.2, 0.35])
Z = np.array([0.1, 0.25, 0.3])


def test_hand_computed_values() -> None:
    # errors 0, -0.05, 0.05; dz = 0, -0.04, 1/26; median |dz| = 1/26; SS_tot = 0.065/3, SS_res = 0.005
    m = accuracy(RedshiftSums.of(PRED, Z), delta_z(PRED, Z))
    assert m["mae"] == pytest.approx(1 / 30, rel=1e-12)
    assert m["mse"] == pytest.approx(1 / 600, rel=1e-12)
    assert m["bias"] == pytest.approx(-1 / 1950, rel=1e-9)
    assert m["nmad"] == pytest.approx(1.48 / 26, rel=1e-12)
    assert m["r2"] == pytest.approx(10 / 13, rel=1e-12)


def test_agrees_with_the_course_formulas() -> None:
    rng = np.random.default_rng(3)
    z = rng.uniform(0.01, 0.6, 1001)
    pred = z + rng.normal(0, 0.02, z.size)
    course = {  # Plot_Redshift.err_calculate, written out
        "mae": np.sum(abs(pred - z)) / z.shape[0],
        "mse": np.sum((pred - z) ** 2) / z.shape[0],
        "bias": np.sum((pred - z) / (1 + z)) / z.shape[0],
        "nmad": 1.48 * np.median(abs((pred - z) / (1 + z) - np.median((pred - z) / (1 + z)))),
        "r2": 1 - np.sum((z - pred) ** 2) / np.sum((z - np.mean(z)) ** 2),
    }
    ours = accuracy(RedshiftSums.of(pred, z), delta_z(pred, z))
    for key, value in course.items():
        assert ours[key] == pytest.approx(value, rel=1e-9), key


def test_undefined_metrics_are_null() -> None:
    assert accuracy(RedshiftSums(), None) == dict.fromkeys(("mae", "mse", "bias", "nmad", "r2"))
    constant = accuracy(RedshiftSums.of(np.array([0.1, 0.3]), np.array([0.2, 0.2])), None)
    assert constant["r2"] is None and constant["nmad"] is None and constant["mae"] == pytest.approx(0.1)
    assert nmad(np.array([])) is None
    with pytest.raises(ValueError):
        RedshiftSums.of(np.ones(2), np.ones(3))


def test_throughput() -> None:
    assert throughput(1000, 2.0, 4, 8_000) == {"samples_per_s": 500.0, "samples_per_s_per_core": 125.0,
                                                "input_bits_per_s": 4000.0}
    assert throughput(10, 0.0, 1, 1)["samples_per_s"] is None


def records(pred: np.ndarray, z: np.ndarray, cuts: list[int]) -> list[dict]:
    out = []
    for rank, (a, b) in enumerate(zip(cuts[:-1], cuts[1:], strict=True)):
        out.append(rank_record(run_id="run", rank=rank, world_size=len(cuts) - 1, sample_range=(a, b),
                               pred=pred[a:b], z=z[a:b], batch_size=16, threads=2, weights="w",
                               timing_s={"inference": 1.0 + rank, "model_load": 0.5, "total": 3.0},
                               input_bits=(b - a) * 100))
    return out


def test_combining_ranks_is_exact() -> None:
    rng = np.random.default_rng(5)
    z = rng.uniform(0.01, 0.6, 257)
    pred = z + rng.normal(0, 0.03, z.size)
    parts = records(pred, z, [0, 100, 101, 257])
    combined = combine_records(parts, [delta_z(pred[r["sample_ranges"][0][0]:r["sample_ranges"][0][1]],
                                               z[r["sample_ranges"][0][0]:r["sample_ranges"][0][1]]) for r in parts])
    whole = accuracy(RedshiftSums.of(pred, z), delta_z(pred, z))
    for key in whole:
        assert combined["metrics"][key] == pytest.approx(whole[key], rel=1e-12), key
    assert combined["samples"] == 257 and combined["ranks"] == [0, 1, 2] and combined["rank"] is None
    assert combined["sample_ranges"] == [[0, 100], [100, 101], [101, 257]]
    assert combined["batches"] == 7 + 1 + 10 and combined["threads"] == 6 and combined["input_bits"] == 25700
    assert combined["timing_s"]["inference"] == 3.0  # the slowest rank
    assert combined["throughput"]["samples_per_s"] == pytest.approx(257 / 3.0)
    assert combined["throughput"]["samples_per_s_per_core"] == pytest.approx(257 / 3.0 / 6)
    assert combine_records(parts)["metrics"]["nmad"] is None  # no dz: no approximate median
    with pytest.raises(ValueError, match="dz values"):
        combine_records(parts, [np.zeros(3)])


def test_one_schema_for_rank_and_combined_records() -> None:
    parts = records(PRED, Z, [0, 1, 3])
    combined = combine_records(parts)
    for record in (*parts, combined):
        assert tuple(record) == RECORD_KEYS
        assert validate_record(json.loads(json.dumps(record))) == record
    assert {r["scope"] for r in parts} == {"rank"} and combined["scope"] == "combined"
    with pytest.raises(ValueError):
        validate_record({**combined, "schema": "other"})
    with pytest.raises(ValueError):
        validate_record({k: v for k, v in combined.items() if k != "metrics"})
    with pytest.raises(ValueError):
        validate_record({**combined, "scope": "partial"})
