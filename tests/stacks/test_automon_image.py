"""The AutoMon image, checked by reading (no Docker daemon here), and its entrypoint run for real:
pins agree with the tested environment, the build context holds what the Dockerfile copies and no
credentials, the automon package comes only from the build argument, the process runs as non-root, and
the entrypoint uploads a run's results (even a failed run's) to S3."""

from __future__ import annotations

import json
import re

import boto3
import pytest
from moto import mock_aws

from containers.automon import task
from stacks.automon.image import AUTOMON_CONTEXT, AUTOMON_DOCKERFILE
from tests.conftest import REPO_ROOT
from tests.containers.requirement_pins import pins
from workloads.automon.constants import AUTOMON_BUILD_ARG

DOCKERFILE = REPO_ROOT / AUTOMON_DOCKERFILE




def test_image_pins_are_the_versions_the_tests_run_with():
    image = pins(DOCKERFILE.parent / "requirements.txt")
    dev = pins(REPO_ROOT / "requirements-dev.txt")
    assert {"pyzmq", "numpy", "scipy", "pydantic", "boto3"} <= set(image)
    for name, version in image.items():
        assert dev.get(name) == version, f"{name}: image {version}, requirements-dev.txt {dev.get(name)}"


def test_everything_copied_is_inside_the_narrowed_build_context():
    sources = []
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            sources += [s.rstrip("/") for s in line.split()[1:-1]]
    assert sources
    for source in sources:
        assert (REPO_ROOT / source).exists(), source
        assert any(source == c or source.startswith(c + "/") for c in AUTOMON_CONTEXT), source
    # the original baked an admin key file into its image; nothing like it may be in the context
    for folder in AUTOMON_CONTEXT:
        path = REPO_ROOT / folder
        files = [path] if path.is_file() else path.rglob("*")
        assert not [f for f in files if re.search(r"credential|\.csv$|\.pem$|id_rsa", f.name)], folder


def test_automon_comes_only_from_the_build_argument_and_the_process_is_not_root():
    text = DOCKERFILE.read_text()
    assert f'ARG {AUTOMON_BUILD_ARG}=""' in text
    installs = [line for line in text.splitlines() if f"${AUTOMON_BUILD_ARG}" in line]
    assert installs and all("--no-deps" in line or "-n " in line for line in installs)
    final_stage = text.split("\nFROM ")[-1]
    users = re.findall(r"^USER (\S+)", final_stage, flags=re.M)
    assert users and not users[-1].startswith(("root", "0"))
    assert re.search(r'^ENTRYPOINT \["python", "/opt/app/task.py"\]', final_stage, flags=re.M)


@pytest.fixture
def s3(monkeypatch, tmp_path):
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("RESULTS_BUCKET", "results-bucket")
    monkeypatch.setenv("RESULTS_PREFIX", "results/exec-1/inner_product/centralization/")
    monkeypatch.setenv("RESULTS_BUCKET_REGION", "us-east-2")
    with mock_aws():
        yield boto3.client("s3", region_name="us-east-2")


COORDINATOR_WITHOUT_NODES = ["coordinator", "--node-type", "inner_product", "--num-nodes", "2", "--iterations", "10",
                             "--window", "5", "--bind", "127.0.0.1", "--port", "0", "--barrier-timeout", "0.5"]


def test_a_failed_run_still_uploads_its_results_and_keeps_its_exit_code(s3):
    s3.create_bucket(Bucket="results-bucket", CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    assert task.main(COORDINATOR_WITHOUT_NODES) == 1  # no node came: barrier timeout, run ended early
    key = "results/exec-1/inner_product/centralization/coordinator.json"
    doc = json.loads(s3.get_object(Bucket="results-bucket", Key=key)["Body"].read())
    assert doc["status"] == "barrier_timeout" and doc["schema"] == "automon.coordinator/v2"


def test_a_failed_upload_is_an_error_of_its_own(s3):
    assert task.main(COORDINATOR_WITHOUT_NODES) == task.EXIT_UPLOAD_FAILED  # the bucket does not exist


def test_nothing_is_uploaded_for_commands_that_are_not_runs(s3, capsys):
    assert task.main(["schema"]) == 0
    assert "automon.coordinator/v2" in capsys.readouterr().out
    assert task.main(["coordinator", "--node-type", "nope"]) == 2  # usage error: exit code kept
