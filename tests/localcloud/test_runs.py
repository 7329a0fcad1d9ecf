"""Helpers every local runner shares (localcloud/runs.py)."""

from __future__ import annotations

from localcloud.runs import LocalRun, iam_total


def _run(calls: int, pairs: int, denied: int) -> LocalRun:
    return LocalRun(experiment="x", execution="e", status="SUCCEEDED", error=None, cause=None, output=None,
                    elapsed_s=0.0, iam={"calls_evaluated": calls, "distinct_role_action_pairs": pairs, "denied": denied})


def test_the_iam_counters_of_several_runs_add_up():
    assert iam_total([_run(10, 4, 0), _run(5, 3, 1), _run(0, 0, 0)]) == {
        "calls_evaluated": 15, "distinct_role_action_pairs": 7, "denied": 1}
