"""Helpers every local runner shares (localcloud/runs.py)."""

from __future__ import annotations

import json

from localcloud.cosmic import CosmicRun, show, weights_label
from localcloud.runs import ERROR_FILE, LocalRun, failure_line, iam_total


def _run(calls: int, pairs: int, denied: int) -> LocalRun:
    return LocalRun(experiment="x", execution="e", status="SUCCEEDED", error=None, cause=None, output=None,
                    elapsed_s=0.0, iam={"calls_evaluated": calls, "distinct_role_action_pairs": pairs, "denied": denied})


def test_the_iam_counters_of_several_runs_add_up():
    assert iam_total([_run(10, 4, 0), _run(5, 3, 1), _run(0, 0, 0)]) == {
        "calls_evaluated": 15, "distinct_role_action_pairs": 7, "denied": 1}


LAMBDA_BLOB = json.dumps({"errorMessage": "world_size: 40 is above\nthe limit 16", "errorType": "InvalidInput",
                          "requestId": "r", "stackTrace": ['  File "handler.py", line 9, in handler\n']})


def _failed(cause: str) -> CosmicRun:
    return CosmicRun(experiment="cosmic", execution="e", status="FAILED", error="InvalidInput", cause=cause,
                     output=None, elapsed_s=1.0)


def test_a_lambda_error_prints_as_one_line_with_the_blob_in_a_file(tmp_path, capsys):
    run = _failed(LAMBDA_BLOB)
    run.results_dir = tmp_path / "results"
    show(run)
    printed = capsys.readouterr().err
    (line,) = [ln for ln in printed.splitlines() if "InvalidInput" in ln]
    assert line.startswith("[cosmicai] InvalidInput: world_size: 40 is above the limit 16 (details: ")
    assert "stackTrace" not in printed and "handler.py" not in printed
    assert json.loads((tmp_path / ERROR_FILE).read_text())["cause"]["stackTrace"]


def test_a_cause_that_is_a_sentence_prints_as_it_is(tmp_path):
    run = _failed("gradient job it1 failed: exit code 1")
    assert failure_line(run, tmp_path) == "InvalidInput: gradient job it1 failed: exit code 1"
    assert not (tmp_path / ERROR_FILE).exists()


def test_the_runners_own_state_dict_is_labelled_random_too():
    assert "seed-1 state_dict" in weights_label("state_dict:weights.pt", runner_state_dict=True)
    assert weights_label("state_dict:trained.pt", runner_state_dict=False) == "state_dict:trained.pt"
    assert weights_label(None, runner_state_dict=False) is None  # a script run: no inference, no label
