"""The one translation of AWS errors, and the JSON a local run prints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ProfileNotFound,
)

from localcloud import cosmic
from tools.aws_errors import explain


def client_error(code: str, operation: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@pytest.mark.parametrize("exc, expected", [
    (NoCredentialsError(), "aws configure sso"),
    (ProfileNotFound(profile="typo"), "'typo' does not exist"),
    (EndpointConnectionError(endpoint_url="https://sts.us-east-1.amazonaws.com"), "cannot reach https://sts"),
    (client_error("ExpiredToken", "GetCallerIdentity"), "aws sso login"),
    (client_error("AccessDenied", "DescribeStacks", "not authorized"), "needs that permission"),
    (client_error("ValidationError", "DescribeStacks", "Stack with id hpcx-batch does not exist"), "hpcx deploy BatchStack"),
    (client_error("404", "HeadBucket"), "bucket does not exist"),
    (client_error("Throttling", "DescribeJobs", "slow down"), "AWS refused DescribeJobs (Throttling): slow down"),
])
def test_each_error_becomes_one_line_with_its_fix(exc, expected):
    line = explain(exc)
    assert expected in line
    assert "\n" not in line


def test_the_region_is_suggested_only_where_it_helps():
    assert "--region" in explain(NoRegionError(), region_option=True)
    assert "--region" not in explain(NoRegionError(), region_option=True, region_given=True)
    assert "--region" not in explain(NoRegionError())
    assert "--region" not in explain(NoCredentialsError(), region_option=True)


def test_unknown_errors_are_left_alone():
    assert explain(ValueError("a bug")) is None


def test_a_local_runs_json_is_its_localrun_summary(hpcx, monkeypatch, tmp_path):
    # the runner is replaced (the e2e tests run it for real); what is tested is the CLI's JSON of its result
    cdk_out = tmp_path / "cdk.out"
    cdk_out.mkdir()
    (cdk_out / "FmiStack.template.json").write_text("{}")
    finished = cosmic.CosmicRun(experiment="cosmic", execution="local-1", status="SUCCEEDED", error=None, cause=None,
                                output={"metrics": {"r2": 0.5}}, elapsed_s=1.5, states=["ValidateInput"],
                                results_dir=tmp_path / "results", rendezvous={"pairs_completed": 6})
    monkeypatch.setattr(cosmic, "check_input", lambda *a: None)
    monkeypatch.setattr(cosmic, "run", lambda *a, **k: finished)
    result = hpcx("local", "cosmic", "--json", "--cdk-out", str(cdk_out), "--workdir", str(tmp_path / "run"))
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["status"] == "SUCCEEDED" and doc["succeeded"] is True
    assert doc["results_dir"] == str(tmp_path / "results")
    assert doc["rendezvous"] == {"pairs_completed": 6}
    assert Path(doc["results_dir"]).name == "results"
