"""--json on the commands that wrap other tools (synth, diff, deploy, images): stdout holds only the JSON,
what the wrapped tool prints goes to stderr. The CDK and the image builds are replaced by fakes here."""

from __future__ import annotations

import json

import pytest

from hpcx import cdk as cdk_commands
from hpcx import images as image_command
from tools.images import __main__ as image_builds


@pytest.fixture
def cdk_out(tmp_path, monkeypatch):
    """A cloud assembly with one stack of two resources and one output."""
    (tmp_path / "DemoStack.template.json").write_text(json.dumps(
        {"Resources": {"A": {"Type": "AWS::S3::Bucket"}, "B": {"Type": "AWS::SQS::Queue"}}, "Outputs": {"Url": {}}}))
    (tmp_path / "manifest.json").write_text(json.dumps({"artifacts": {
        "DemoStack": {"type": "aws:cloudformation:stack", "environment": "aws://unknown-account/us-east-2",
                      "properties": {"templateFile": "DemoStack.template.json"}},
        "Tree": {"type": "cdk:tree"}}}))
    monkeypatch.setattr(cdk_commands, "CDK_OUT", tmp_path)
    return tmp_path


def test_synth_json_lists_each_stack_of_the_assembly(hpcx, cdk_out, monkeypatch):
    calls = []
    monkeypatch.setattr(cdk_commands, "run_cdk", lambda args, quiet_stdout=False: calls.append((args, quiet_stdout)) or 0)
    result = hpcx("synth", "--json", "-c", "prefix=lab2")
    assert result.exit_code == 0, result.output
    assert calls == [(["synth", "--quiet", "-c", "prefix=lab2"], True)]  # the CDK's own stdout is kept off ours
    doc = json.loads(result.stdout)
    assert doc["stacks"] == {"DemoStack": {"template": str(cdk_out / "DemoStack.template.json"),
                                           "environment": "aws://unknown-account/us-east-2",
                                           "resources": 2, "outputs": ["Url"]}}


def test_a_failed_synth_prints_no_json(hpcx, cdk_out, monkeypatch):
    monkeypatch.setattr(cdk_commands, "run_cdk", lambda args, quiet_stdout=False: 1)
    result = hpcx("synth", "--json")
    assert result.exit_code == 1
    assert result.stdout == ""


@pytest.mark.parametrize("count, differs", [(0, False), (2, True)])
def test_diff_json_says_how_many_stacks_differ(hpcx, monkeypatch, count, differs):
    monkeypatch.setattr(cdk_commands, "check_credentials", lambda: None)
    output = f"Stack BatchStack\n...\n\n✨  Number of stacks with differences: {count}\n\n"
    monkeypatch.setattr(cdk_commands, "run_cdk_echoed", lambda args: (0, output))
    result = hpcx("diff", "BatchStack", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"stacks": "BatchStack", "stacks_with_differences": count, "differs": differs}


@pytest.mark.parametrize("code, output", [(1, "Error: unable to resolve AWS account\n"), (0, "something else\n")])
def test_diff_json_fails_in_one_line_when_the_cdk_does_not_tell(hpcx, monkeypatch, code, output):
    monkeypatch.setattr(cdk_commands, "check_credentials", lambda: None)
    monkeypatch.setattr(cdk_commands, "run_cdk_echoed", lambda args: (code, output))
    result = hpcx("diff", "--json")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: cdk diff")


def test_deploy_json_prints_the_outputs_the_cdk_wrote(hpcx, monkeypatch):
    monkeypatch.setattr(cdk_commands, "check_credentials", lambda: None)
    seen = []

    def fake_cdk(args, quiet_stdout=False):
        seen.append(args)
        path = args[args.index("--outputs-file") + 1]
        with open(path, "w") as f:
            json.dump({"BatchStack": {"DataBucket": "b-123"}}, f)
        return 0

    monkeypatch.setattr(cdk_commands, "run_cdk", fake_cdk)
    result = hpcx("deploy", "BatchStack", "--yes", "--json")
    assert result.exit_code == 0, result.output
    assert seen[0][:4] == ["deploy", "BatchStack", "--require-approval", "never"]
    assert json.loads(result.stdout) == {"stack": "BatchStack", "outputs": {"BatchStack": {"DataBucket": "b-123"}}}


def test_a_failed_deploy_keeps_its_exit_code_and_prints_no_json(hpcx, monkeypatch):
    monkeypatch.setattr(cdk_commands, "check_credentials", lambda: None)
    monkeypatch.setattr(cdk_commands, "run_cdk", lambda args, quiet_stdout=False: 1)
    result = hpcx("deploy", "BatchStack", "--json")
    assert result.exit_code == 1
    assert result.stdout == ""


class _Engine:
    name = "fake"


def test_images_json_has_each_build_and_progress_stays_off_stdout(hpcx, monkeypatch, capsys):
    monkeypatch.setattr(image_command, "require_stacks", lambda *a: None)
    monkeypatch.setattr(image_builds, "choose_engine", lambda: _Engine())
    monkeypatch.setattr(image_builds, "build_all", lambda eng, names, workdir: (
        {"rendezvous": "localhost/hpcx/rendezvous:smoke"}, {"rendezvous": (4.26, 294 * 2**20)}))
    monkeypatch.setattr(image_builds, "PROGRESS", {"stream": None})
    result = hpcx("images", "--only", "rendezvous", "--no-smoke", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["images"] == {"rendezvous": {"build_s": 4.3, "size_mib": 294}}
    assert doc["passed"] == 1 and doc["failed"] == 0 and doc["engine"] == "fake"
    assert "images: 1 passed, 0 failed" in result.stderr
