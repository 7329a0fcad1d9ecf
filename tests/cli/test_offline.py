"""What needs a synthesized cdk.out but no account: input checks with the state machines' validators,
the offline plan with its cost, and the confirmation above the threshold."""

from __future__ import annotations

import json

import pytest

import reproduce.__main__ as reproduce_cli
import reproduce.runner
from localcloud import automon, cosmic, lsrtm
from reproduce.offline import deployment_from_cdk_out

pytestmark = pytest.mark.slow  # the session's synthesis of the whole app (shared with tests/stacks)


@pytest.fixture
def cdk_out(synthesized):
    return str(synthesized.outdir)


@pytest.fixture
def no_runs(forbid):
    for module, name in ((lsrtm, "run"), (lsrtm, "run_and_show"), (cosmic, "run"), (automon, "run")):
        forbid(module, name)


@pytest.mark.parametrize("args, message", [
    (["lsrtm", "--input", '{"iterations": 0}'], "iterations: Input should be greater than or equal to 1"),
    # the handler's object check, against what the local run uploads: before any shot is modelled
    (["lsrtm", "--shots", "4", "--input", json.dumps({**lsrtm.default_input(lsrtm.LocalSizes(num_shots=8))})],
     "the local run uploads 4 synthetic shots"),
    (["lsrtm", "--input", json.dumps({**lsrtm.default_input(), "job": {"vcpus": 64}})], "job.vcpus=64 is more than"),
    # the default exact step rule descends only for a step length in (0, 2)
    (["lsrtm", "--step-length", "2"], "step_length=2 with step_rule 'exact' must be in (0, 2)"),
    (["cosmic", "--input", '{"world_size": 999, "data_key": "inputs/local-synthetic.pt"}'], "above the deployed limit 64"),
    (["cosmic", "--input", '{"world_size": 2, "data_key": "inputs/other.pt"}'], "data_key 'inputs/other.pt'"),
    (["automon", "--input", '{"algorithm": "automon"}'], "needs the automon package in the image"),
    (["automon", "--input", '{"algorithm": "centralization", "node_types": ["nope"]}'], "are not deployed"),
    # every node would exit 2 at start: refused here instead, before a coordinator or node starts
    (["automon", "--iterations", "10"], "10 rounds cannot fill a window of 20"),
])
def test_local_runs_check_the_input_with_the_state_machines_validator(hpcx, no_runs, cdk_out, tmp_path, args, message):
    result = hpcx("local", *args, "--cdk-out", cdk_out, "--workdir", str(tmp_path / "run"))
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: input rejected, nothing started: ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_the_example_inputs_pass_the_local_checks(cdk_out):
    from pathlib import Path

    lsrtm.check_input(Path(cdk_out), lsrtm.default_input())
    cosmic.check_input(Path(cdk_out), cosmic.default_input())
    automon.check_input(Path(cdk_out), automon.default_input())


def test_the_offline_deployment_has_the_templates_queues(cdk_out):
    deployment = deployment_from_cdk_out(cdk_out)
    assert deployment.gradient_queue == "hpcx-m4-spot-8"
    assert deployment.queue("c5n-mnp-18").max_vcpus == 1440
    assert deployment.queue("r5-spot-24").instance_types == ("r5.24xlarge",)


def test_plan_works_without_credentials_and_prints_json(hpcx, cdk_out, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    result = hpcx("reproduce", "weak", "--campaign", "jan", "--plan", "--json", "--cdk-out", cdk_out)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    estimate = doc["estimate"]
    # the defaults: batch sizes 1..128, 3 runs each -> 765 instance-runs on m4.4xlarge spot
    assert (estimate["run_count"], estimate["instance_runs"]) == (24, 765)
    assert 30 < estimate["usd"] < 50
    assert "2019, us-east-1" in estimate["price_source"]
    assert len(doc["plans"]) == 24
    assert doc["plans"][0]["start_execution"]["stateMachineArn"].startswith("<")  # known once deployed


def test_plan_refuses_bad_parameters_with_exit_2(hpcx, cdk_out):
    result = hpcx("reproduce", "mpi", "--campaign", "x", "--nodes", "128", "--plan", "--cdk-out", cdk_out)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: invalid mpi parameters")


@pytest.fixture
def deployed_from_template(monkeypatch, cdk_out, forbid):
    """The launcher reads the template's deployment instead of CloudFormation; no run may start."""
    monkeypatch.setattr(reproduce_cli, "read_deployment", lambda *a: deployment_from_cdk_out(cdk_out))
    monkeypatch.setattr(reproduce_cli, "_session", lambda args, session: type("S", (), {"client": lambda *a: None})())
    forbid(reproduce.runner, "Runner")


def test_a_launch_above_the_threshold_asks_and_a_no_submits_nothing(hpcx, deployed_from_template):
    result = hpcx("reproduce", "weak", "--campaign", "jan", input="n\n")
    assert result.exit_code == 1
    assert "estimate: 24 run(s), 765 instance-run(s)" in result.stderr
    assert "nothing submitted" in result.stderr


def test_a_small_launch_does_not_ask(hpcx, deployed_from_template):
    # the estimate (one instance, about $0.04) is below the threshold: it goes on to the Runner
    result = hpcx("reproduce", "weak", "--campaign", "jan", "--batch-sizes", "1", "--runs", "1")
    assert "launch?" not in result.stderr
    assert "reproduce.runner.Runner was called" in str(result.exception)
