"""Bad input: a clear one-line message, exit code 2, and nothing started (no run, no work folder, no CDK)."""

from __future__ import annotations

import pytest

import tools.seismic_data
from hpcx import cdk as cdk_commands
from localcloud import automon, cosmic, lsrtm


@pytest.fixture
def no_runs(forbid):
    for module, name in ((lsrtm, "run"), (lsrtm, "run_and_show"), (cosmic, "run"), (automon, "run")):
        forbid(module, name)


@pytest.mark.parametrize("args, message", [
    (["local", "lsrtm", "--shots", "0"], "'--shots': 0 is not in the range x>=1"),
    (["local", "lsrtm", "--shape", "10"], "'10' is not NXxNZ grid points"),
    (["local", "lsrtm", "--shape", "10x5"], "at least 21 grid points"),
    (["local", "lsrtm", "--input", "no-such-file.json"], "neither a file nor a JSON object"),
    (["local", "lsrtm", "--input", "[1, 2]"], "neither a file nor a JSON object"),
    (["local", "cosmic", "--samples", "-5"], "'--samples': -5 is not in the range x>=1"),
    (["local", "cosmic", "--world-size", "0"], "'--world-size': 0 is not in the range x>=1"),
    (["local", "automon", "--iterations", "-5"], "'--iterations': -5 is not in the range x>=1"),
    (["local", "ray", "--count", "0"], "'--count': 0 is not in the range x>=1"),
])
def test_bad_sizes_are_refused_before_anything_starts(hpcx, no_runs, tmp_path, args, message):
    result = hpcx(*args, "--workdir", str(tmp_path / "run")) if args[1] != "ray" else hpcx(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_a_missing_cdk_out_says_to_synthesize(hpcx, no_runs, tmp_path):
    result = hpcx("local", "cosmic", "--cdk-out", str(tmp_path / "nothing"), "--workdir", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert "hpcx synth" in result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args, message", [
    (["data", "bp2004", "--bucket", "b", "--velocity-h5", "missing.h5", "--shots-dir", "."],
     "'--velocity-h5': File 'missing.h5' does not exist"),
    (["data", "synthetic", "--bucket", "b", "--shots", "0"], "'--shots': 0 is not in the range x>=1"),
    (["data", "synthetic", "--bucket", "b", "--shape", "10"], "is not NXxNZ"),
    (["data", "cosmic", "--bucket", "b", "--samples", "-5"], "-5 is not in the range x>=1"),
])
def test_bad_data_options_are_refused(hpcx, forbid, args, message):
    forbid(tools.seismic_data, "prepare_and_upload")
    result = hpcx(*args)
    assert result.exit_code == 2
    assert message in result.output


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata lookups from a laptop


@pytest.mark.parametrize("region", [[], ["--region", "eu-west-1"]])
def test_upload_without_credentials_stops_before_modelling_any_shot(hpcx, forbid, no_credentials, tmp_path, region):
    forbid(tools.seismic_data, "prepare_and_upload")
    result = hpcx("data", "synthetic", "--bucket", "b", "--workdir", str(tmp_path / "shots"), *region)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: no AWS credentials found")
    assert result.stderr.count("\n") == 1
    assert "--region" not in result.stderr  # a missing credential is not fixed by a region
    assert not (tmp_path / "shots").exists()


def test_a_misspelt_profile_is_named(hpcx, forbid, monkeypatch):
    forbid(tools.seismic_data, "prepare_and_upload")
    monkeypatch.setenv("AWS_PROFILE", "typo")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    result = hpcx("data", "bp2004", "--bucket", "b", "--velocity-h5", __file__, "--shots-dir", ".")
    assert result.exit_code == 2
    assert "AWS profile 'typo' does not exist" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["deploy"], "Missing argument 'STACK'"),
    (["deploy", "BatchStack", "-c", "prefix"], "'prefix' is not key=value"),
    (["synth", "-c", "=x"], "is not key=value"),
])
def test_the_cdk_is_not_started_on_bad_arguments(hpcx, forbid, args, message):
    forbid(cdk_commands, "run_cdk")
    result = hpcx(*args)
    assert result.exit_code == 2
    assert message in result.output


def test_deploy_without_credentials_starts_nothing(hpcx, forbid, no_credentials):
    forbid(cdk_commands, "run_cdk")
    result = hpcx("deploy", "BatchStack", "-c", "prefix=lab2")
    assert result.exit_code == 2
    assert "no AWS credentials found" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["bench", "nope"], "'nope' is not one of"),
    (["images", "--only", "nope"], "'nope' is not one of"),
    (["reproduce", "nope"], "'nope' is not one of"),
    (["reproduce", "figures", "--plan"], "--plan applies to the launchers"),
])
def test_other_commands_refuse_bad_names(hpcx, args, message):
    result = hpcx(*args)
    assert result.exit_code == 2
    assert message in result.output
