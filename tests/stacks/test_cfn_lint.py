"""cfn-lint on every template the app writes: zero errors and zero warnings (ignores live in .cfnlintrc)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT


def test_every_template_in_cdk_out_is_lint_clean(synthesized):
    templates = sorted(Path(synthesized.outdir).glob("*.template.json"))
    assert {t.name.removesuffix(".template.json") for t in templates} == set(synthesized.stacks)
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run(
        [str(cfn_lint), "--format", "parseable", *map(str, templates)],
        cwd=REPO_ROOT,  # picks up .cfnlintrc
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout + result.stderr


def test_cfn_lint_does_report_a_broken_template(tmp_path):
    """Guards the test above against passing because cfn-lint checks nothing."""
    bad = tmp_path / "bad.template.json"
    bad.write_text('{"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": "soon"}}}}')
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run([str(cfn_lint), str(bad)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "E3012" in result.stdout
