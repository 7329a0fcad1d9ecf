"""The AutoMon run executes under the synthesized IAM: take one grant out of a template and the local run
fails with AWS's AccessDenied, naming the role, the action and the resource."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from localcloud.automon import COORDINATOR_STACK, STACK, LocalSizes, run
from tests.e2e.grants import remove_grant
from tests.localcloud.test_automon import CENTRALIZATION, cdk_out  # noqa: F401 - the 4-node assembly

pytestmark = pytest.mark.slow

SIZES = LocalSizes(iterations=12, window=4)
BUCKET = "arn:aws:s3:::hpcx-automon-results-123456789012-us-east-2"


def without_grant(outdir: Path, target: Path, role_prefix: str, action: str) -> Path:
    """A copy of the assembly (the AutoMon templates and the manifest, which gives each stack its region)
    whose policy for the role `role_prefix*` no longer grants `action`."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(outdir / "manifest.json", target)
    shutil.copy(outdir / f"{COORDINATOR_STACK}.template.json", target)
    template = remove_grant(json.loads((outdir / f"{STACK}.template.json").read_text()), role_prefix, action)
    (target / f"{STACK}.template.json").write_text(json.dumps(template))
    return target


@pytest.mark.parametrize(("role", "action", "resource", "error"), [
    # the node container's own upload: moto refuses the PUT under the task role's session; the task
    # exits with the entrypoint's upload-failed code and its runTask.sync state fails
    ("NodeTaskDefinitionTaskRole", "s3:PutObject", f"{BUCKET}/results/e2e-iam/inner_product/centralization/node_",
     "States.TaskFailed"),
    # what Step Functions does with the state machine's role: ecs:RunTask of the node task definition
    ("ExperimentStateMachineRole", "ecs:RunTask",
     "arn:aws:ecs:us-east-2:123456789012:task-definition/hpcx-automon-node:1", "ECS.AccessDeniedException"),
])
def test_a_grant_taken_out_of_the_template_fails_the_run_with_access_denied(
        cdk_out, tmp_path, role, action, resource, error):  # noqa: F811 - the fixture
    outdir = without_grant(cdk_out, tmp_path / "cdk.out", role, action)
    result = run(outdir, execution_input=CENTRALIZATION, sizes=SIZES, workdir=tmp_path / "work",
                 execution="e2e-iam", timeout_s=120.0)
    assert result.status == "FAILED" and result.error == "AutoMon.ExperimentsFailed"
    report = json.loads((result.results_dir / "report.json").read_text())
    (item,) = report["items"]
    assert item["status"] == "FAILED" and item["error"]["Error"] == error
    assert result.denials and result.iam["denied"] == len(result.denials)
    for denial in result.denials:
        assert f"assumed-role/{role}" in denial
        assert f"not authorized to perform: {action} on resource: {resource}" in denial
    assert result.alive_at_end == []
