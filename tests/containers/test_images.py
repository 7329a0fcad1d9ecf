"""The gradient worker image, checked by reading (no Docker daemon here): pins agree with the tested
environment, everything the Dockerfile copies is inside the narrowed build context, it runs as non-root."""

from __future__ import annotations

import re

import pytest

from stacks.batch_stack import WORKER_CONTEXT, WORKER_DOCKERFILE
from stacks.constructs.workflow_functions import DOCKERFILE as LAMBDA_DOCKERFILE
from stacks.constructs.workflow_functions import IMAGE_CONTEXT as LAMBDA_CONTEXT
from tests.conftest import REPO_ROOT
from tests.containers.requirement_pins import pins

DOCKERFILE = REPO_ROOT / WORKER_DOCKERFILE
IMAGE_REQUIREMENTS = DOCKERFILE.parent / "requirements.txt"




@pytest.mark.parametrize(
    ("requirements", "must_have"),
    [
        (IMAGE_REQUIREMENTS, {"devito", "mpi4py", "mpich", "segyio", "numpy", "pydantic"}),
        (REPO_ROOT / "containers/workflow_lambdas/requirements.txt", {"numpy", "pydantic", "aws-lambda-powertools"}),
    ],
    ids=["gradient_worker", "workflow_lambdas"],
)
def test_image_pins_are_the_versions_the_tests_run_with(requirements, must_have):
    image = pins(requirements)
    dev = pins(REPO_ROOT / "requirements-dev.txt")
    assert must_have <= set(image)
    for name, version in image.items():
        assert dev.get(name) == version, f"{name}: image {version}, requirements-dev.txt {dev.get(name)}"


@pytest.mark.parametrize(
    ("dockerfile", "context"),
    [(DOCKERFILE, WORKER_CONTEXT), (REPO_ROOT / LAMBDA_DOCKERFILE, LAMBDA_CONTEXT)],
    ids=["gradient_worker", "workflow_lambdas"],
)
def test_everything_copied_is_inside_the_build_context(dockerfile, context):
    sources = [
        line.split()[1].rstrip("/")
        for line in dockerfile.read_text().splitlines()
        if line.startswith("COPY ") and "--from=" not in line
    ]
    assert sources
    for source in sources:
        assert (REPO_ROOT / source).exists(), source
        assert any(source == c or source.startswith(c + "/") for c in context), source


def test_final_stage_runs_as_a_non_root_user_and_keeps_only_the_runtime_compiler():
    final_stage = DOCKERFILE.read_text().split("\nFROM ")[-1]
    users = re.findall(r"^USER (\S+)", final_stage, flags=re.M)
    assert users and not users[-1].startswith(("root", "0"))
    installs = " ".join(re.findall(r"apt-get install[^\n]*", final_stage))
    assert "gcc" in installs  # Devito JIT-compiles at run time
    assert not re.search(r"\b(g\+\+|build-essential|make|cmake)\b", installs)
