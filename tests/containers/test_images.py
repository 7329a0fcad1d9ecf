"""The gradient worker image, checked by reading (no Docker daemon here): pins agree with the tested
environment, the source-only pyrevolve builds in the build stage only, it runs as non-root.
(test_image_sources.py checks what every image copies and its Python version.)"""

from __future__ import annotations

import re

import pytest

from stacks.lsrtm.stack import WORKER_DOCKERFILE
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


def test_final_stage_runs_as_a_non_root_user_and_keeps_only_the_runtime_compiler():
    final_stage = DOCKERFILE.read_text().split("\nFROM ")[-1]
    users = re.findall(r"^USER (\S+)", final_stage, flags=re.M)
    assert users and not users[-1].startswith(("root", "0"))
    installs = " ".join(re.findall(r"apt-get install[^\n]*", final_stage))
    assert "gcc" in installs  # Devito JIT-compiles at run time
    assert not re.search(r"\b(g\+\+|build-essential|make|cmake)\b", installs)


def test_the_build_stage_compiles_the_source_only_pyrevolve_with_pinned_build_requirements():
    build_stage, final_stage = DOCKERFILE.read_text().split("\nFROM ")[1:]
    assert re.search(r"apt-get install[^\n]*\bg\+\+", build_stage)  # a C++ extension
    build = pins(DOCKERFILE.parent / "requirements-build.txt")
    assert {"cython", "packaging", "setuptools"} <= set(build)  # what its setup.py imports
    assert "pyrevolve" in pins(IMAGE_REQUIREMENTS)
    assert "--no-build-isolation" in build_stage and "requirements-build.txt" in build_stage
    assert "requirements-build.txt" not in final_stage
