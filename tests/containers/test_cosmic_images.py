"""The cosmicai images, checked by reading (no Docker daemon here): pins agree with the tested environment,
torch comes from the CPU index only (by default), the image
commands name real handlers/modules, and the rendezvous server runs as a non-root user."""

from __future__ import annotations

import re

import pytest

from stacks.cosmic import executor as cosmic_executor
from stacks.cosmic import rendezvous as rendezvous_service
from tests.conftest import REPO_ROOT
from tests.containers.requirement_pins import pins

EXECUTOR = REPO_ROOT / cosmic_executor.DOCKERFILE
RENDEZVOUS = REPO_ROOT / rendezvous_service.DOCKERFILE


@pytest.mark.parametrize("requirements", ["requirements.txt", "requirements-torch.txt"])
def test_executor_pins_are_the_versions_the_tests_run_with(requirements):
    image = pins(EXECUTOR.parent / requirements)
    dev = pins(REPO_ROOT / "requirements-dev.txt")
    assert image
    for name, version in image.items():
        assert dev.get(name) == version, f"{name}: image {version}, requirements-dev.txt {dev.get(name)}"


def test_executor_gets_cpu_torch_and_everything_the_handler_imports():
    assert pins(EXECUTOR.parent / "requirements-torch.txt") == {"torch": "2.13.0"}
    assert {"numpy", "pydantic", "aws-lambda-powertools", "boto3"} <= set(pins(EXECUTOR.parent / "requirements.txt"))
    text = EXECUTOR.read_text()
    # the index is a build argument (for a machine that cannot reach it) whose default is the CPU index
    assert re.findall(r"^ARG TORCH_INDEX_URL=(\S+)$", text, flags=re.M) == ["https://download.pytorch.org/whl/cpu"]
    installs = [line for line in text.splitlines() if "pip install" in line]
    torch_install = [line for line in installs if "requirements-torch.txt" in line or "INDEX" in line]
    assert torch_install and all('--index-url "${TORCH_INDEX_URL}"' in line for line in torch_install)
    # the other requirements never see the CPU index, and torch is not in them (it would resolve to CUDA)
    assert "torch" not in pins(EXECUTOR.parent / "requirements.txt")


def test_executor_command_names_the_handler_the_image_copies():
    text = EXECUTOR.read_text()
    (cmd,) = re.findall(r'^CMD \["([^"]+)"\]', text, flags=re.M)
    assert cmd == f"{cosmic_executor.HANDLER_FOLDER}.handler.handler"
    assert (REPO_ROOT / "lambda" / cosmic_executor.HANDLER_FOLDER / "handler.py").exists()
    assert text.startswith("#") and "FROM public.ecr.aws/lambda/python:${PYTHON_VERSION}" in text


def test_rendezvous_runs_the_server_module_as_a_non_root_user():
    text = RENDEZVOUS.read_text()
    users = re.findall(r"^USER (\S+)", text, flags=re.M)
    assert users and not users[-1].startswith(("root", "0"))
    assert 'ENTRYPOINT ["python", "-m", "workloads.cosmic.rendezvous_server"]' in text
    assert (REPO_ROOT / "workloads" / "cosmic" / "rendezvous_server.py").exists()
