"""`hpcx demo --json`: the demo's own progress and its runners' output go to stderr, stdout holds one JSON
report built from what the demo found. Synthesis and the three runs are replaced by fakes here (the real
demo takes minutes); the report's assembly in localcloud/demo.py is the real one."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from localcloud import demo
from localcloud.runs import LocalRun


def _runner(name: str, status: str):
    def main(argv, on_result):
        print(f"{name} progress line")  # what a runner prints: must not reach the JSON
        on_result(LocalRun(experiment=name, execution=f"{name}-1", status=status, error=None, cause=None,
                           output={"x": 1}, elapsed_s=1.5, iam={"calls_evaluated": 10, "denied": 0,
                                                                 "distinct_role_action_pairs": 3}))
        return 0 if status == "SUCCEEDED" else 1

    return SimpleNamespace(EXPERIMENT=name, main=main)


@pytest.fixture
def fake_demo(monkeypatch, tmp_path):
    monkeypatch.setattr(demo, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(demo, "synthesize", lambda outdir: {"DemoStack": object()})
    monkeypatch.setattr(demo, "summarize", lambda console, stacks, outdir: {
        "DemoStack": {"resources": 7, "outputs": ["Url"], "nag_unacknowledged": 0, "nag_acknowledged": 2}})

    def use(*statuses: str) -> None:
        monkeypatch.setattr(demo, "RUNNERS", [(_runner(f"exp{i}", s), f"phase{i}", f"title {i}")
                                              for i, s in enumerate(statuses)])

    return use


def test_stdout_is_one_json_report_of_what_the_demo_found(hpcx, fake_demo):
    fake_demo("SUCCEEDED", "SUCCEEDED")
    result = hpcx("demo", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["stacks"] == {"DemoStack": {"resources": 7, "outputs": ["Url"], "nag_unacknowledged": 0,
                                           "nag_acknowledged": 2}}
    assert set(doc["runs"]) == {"exp0", "exp1"}
    assert doc["runs"]["exp0"]["status"] == "SUCCEEDED" and doc["runs"]["exp0"]["succeeded"] is True
    assert doc["iam"]["calls_evaluated"] == 20 and doc["iam"]["denied"] == 0
    assert set(doc["phases_s"]) == {"synth", "summary", "phase0", "phase1"}
    assert doc["machine"]["cores"] >= 1 and doc["succeeded"] is True
    assert "exp0 progress line" in result.stderr and "IAM, 2 workflows together" in result.stderr


def test_a_failed_run_is_in_the_report_and_the_exit_code(hpcx, fake_demo):
    fake_demo("SUCCEEDED", "FAILED")
    result = hpcx("demo", "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["succeeded"] is False and doc["runs"]["exp1"]["status"] == "FAILED"


def test_without_json_the_progress_is_on_stdout(hpcx, fake_demo):
    fake_demo("SUCCEEDED")
    result = hpcx("demo")
    assert result.exit_code == 0
    assert "exp0 progress line" in result.stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stdout)
