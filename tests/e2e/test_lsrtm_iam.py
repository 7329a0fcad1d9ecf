"""The LSRTM-SGD run executes under the synthesized IAM: take one grant out of the template and the local
run fails with AWS's AccessDenied, naming the role, the action and the resource."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from localcloud.lsrtm import STACK, LocalSizes, run
from tests.e2e.grants import remove_grant

pytestmark = pytest.mark.slow

TINY = LocalSizes(iterations=1, batchsize=2, num_shots=2, shape=(101, 41), record_ms=700.0)


def without_grant(outdir: Path, target: Path, role_prefix: str, action: str) -> Path:
    """A copy of the stack's template whose policy for the role `role_prefix*` no longer grants `action`."""
    template = remove_grant(json.loads((outdir / f"{STACK}.template.json").read_text()), role_prefix, action)
    target.mkdir(parents=True, exist_ok=True)
    (target / f"{STACK}.template.json").write_text(json.dumps(template))
    return target


@pytest.mark.parametrize(("role", "action", "resource", "in_cause"), [
    # the function's own call: moto refuses the S3 read under the role's session; a HEAD request's refusal has
    # no body, on AWS too: the validator says the role may not read the object and keeps S3's code
    ("LsrtmWorkflowValidateInputRole", "s3:GetObject", "arn:aws:s3:::local-databuckete6b0faa8/examples/synthetic/",
     ["may not read it", "(403)"]),
    # what the Lambda service does with the role: the function's log stream
    ("LsrtmWorkflowValidateInputRole", "logs:CreateLogStream", "arn:aws:logs:us-east-1:123456789012:log-group:",
     ["AccessDenied", "not authorized to perform: logs:CreateLogStream"]),
])
def test_a_grant_taken_out_of_the_template_fails_the_local_run_with_access_denied(
        synthesized, tmp_path, role, action, resource, in_cause):
    outdir = without_grant(synthesized.outdir, tmp_path / "cdk.out", role, action)
    result = run(outdir, workdir=tmp_path / "work", sizes=TINY, execution="e2e-iam", timeout_s=120.0)
    assert result.status == "FAILED"
    assert result.states == ["ValidateInput", "InputRejected"]
    assert all(text in result.cause for text in in_cause), result.cause
    # the local run records each refusal's full message, as CloudTrail would
    # the validator heads every object the input names, so one missing grant may be refused more than once
    assert result.denials and result.iam["denied"] == len(result.denials)
    for denial in result.denials:
        assert f"assumed-role/{role}" in denial
        assert f"not authorized to perform: {action} on resource: {resource}" in denial

