"""The IAM key patterns match exactly the keys of their kind: a role granted one kind can write no other,
and no component is refused a key it really writes."""

from __future__ import annotations

import re

import pytest

from workloads.lsrtm import layout

RUNS = ["r", "exec-1", "a.b_c-9", "x" * 80]
ITERATIONS = [1, 12, 999]
SHOTS = [0, 7, 99_999]


def iam_match(pattern: str, key: str) -> bool:
    """IAM's wildcard matching of an object ARN's key: '*' is any run of characters, '/' included."""
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), key) is not None


KINDS = {
    layout.PARAMETERS_PATTERN: [layout.parameters_key(r) for r in RUNS],
    layout.MANIFEST_PATTERN: [layout.manifest_key(r, i) for r in RUNS for i in ITERATIONS],
    layout.PARTIAL_PATTERN: [f(r, i, s) for f in (layout.partial_gradient_key, layout.partial_summary_key,
                                                   layout.residual_key, layout.curvature_summary_key)
                             for r in RUNS for i in ITERATIONS for s in SHOTS],
    layout.ACCUMULATOR_PATTERN: [layout.accumulator_key(r, i) for r in RUNS for i in ITERATIONS],
    layout.CURVATURE_PATTERN: [layout.curvature_key(r, i) for r in RUNS for i in ITERATIONS],
    layout.RESULT_PATTERN: [layout.result_key(r, i) for r in RUNS for i in ITERATIONS],
    layout.IMAGE_PATTERN: [layout.image_key(r, i) for r in RUNS for i in [0, *ITERATIONS]],
    layout.REPORT_PATTERN: [layout.report_key(r) for r in RUNS],
}


@pytest.mark.parametrize("pattern", list(KINDS))
def test_each_pattern_matches_its_keys_and_no_key_of_another_kind(pattern):
    assert all(iam_match(pattern, key) for key in KINDS[pattern])
    others = [key for other, keys in KINDS.items() if other != pattern for key in keys]
    assert not [key for key in others if iam_match(pattern, key)]


def test_inputs_outside_the_runs_prefix_match_no_pattern():
    for key in ("models/bp2004.npz", "data/shot_3.segy", "runs.json"):
        assert not any(iam_match(p, key) for p in KINDS)
