"""The gradient worker entrypoint for real: moto's S3/SQS server, a tiny synthetic dataset, Devito."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import boto3
import numpy as np
import pytest

from adapters.seismic_upload import upload
from localcloud.services.moto_server import moto_server
from tests.conftest import REPO_ROOT
from workloads.lsrtm import layout
from workloads.lsrtm.arrays import from_npy_bytes
from workloads.lsrtm.messages import IterationManifest, PartialGradientMessage
from workloads.lsrtm.params import RunParameters
from workloads.seismic.datasets import make_synthetic

WORKER = REPO_ROOT / "containers" / "gradient_worker" / "worker.py"
BUCKET = "data"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_synthetic(tmp_path_factory.mktemp("syn"), shape=(81, 41), num_shots=2, record_ms=500.0,
                          show_progress=False)


@pytest.fixture
def cloud(dataset):
    with moto_server() as url:
        env = {"AWS_ENDPOINT_URL_S3": url, "AWS_ENDPOINT_URL_SQS": url, "AWS_ACCESS_KEY_ID": "testing",
               "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
        sqs = boto3.client("sqs", endpoint_url=url, region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        sections = upload(s3, BUCKET, "syn/", dataset, show_progress=False)
        params = RunParameters.parse({"iterations": 1, "batchsize": 2, **sections,
                                      "physics": {"space_order": 4, "memory_budget_mib": 256}})
        s3.put_object(Bucket=BUCKET, Key=layout.parameters_key("r1"), Body=params.model_dump_json())
        manifest = IterationManifest(run_id="r1", iteration=1, shots=[0, 1], step_size=1.0, task_token="t")
        s3.put_object(Bucket=BUCKET, Key=layout.manifest_key("r1", 1), Body=manifest.to_json())
        queue = sqs.create_queue(QueueName="g.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        yield {"s3": s3, "sqs": sqs, "queue": queue, "env": {
            **os.environ, **env, "PYTHONPATH": str(REPO_ROOT), "RUN_ID": "r1", "ITERATION": "1",
            "DATA_BUCKET": BUCKET, "GRADIENT_QUEUE_URL": queue, "OMP_NUM_THREADS": "1"}}


def _run_worker(env: dict, index: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(WORKER)], env={**env, "AWS_BATCH_JOB_ARRAY_INDEX": str(index)},
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_worker_writes_its_shot_gradient_and_message_once(cloud):
    first = _run_worker(cloud["env"], 1)
    assert first.returncode == 0, first.stdout + first.stderr
    key = layout.partial_gradient_key("r1", 1, 1)
    gradient = from_npy_bytes(cloud["s3"].get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert gradient.shape == (81, 41) and np.isfinite(gradient).all() and np.abs(gradient).max() > 0
    summary = json.loads(cloud["s3"].get_object(Bucket=BUCKET, Key=layout.partial_summary_key("r1", 1, 1))["Body"].read())
    assert summary["misfit"] > 0
    timings = summary["timings"]  # what reproduce collects
    assert 0 < timings["upload_s"] < timings["worker_s"]
    assert timings["worker_s"] >= timings["fetch_s"] + timings["total_s"] - 1e-3

    again = _run_worker(cloud["env"], 1)  # a retried attempt: reuses the result, same message
    assert again.returncode == 0 and "already computed" in again.stdout + again.stderr
    messages = cloud["sqs"].receive_message(QueueUrl=cloud["queue"], MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1  # the second send had the same deduplication id
    message = PartialGradientMessage.from_json(messages[0]["Body"])
    assert (message.shot, message.key, message.misfit) == (1, key, summary["misfit"])


def test_worker_refuses_to_start_without_its_environment():
    result = subprocess.run([sys.executable, str(WORKER)], env={"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO_ROOT)},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "missing environment" in result.stderr


def _worker_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gradient_worker_entrypoint", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("misfit", "gradient_value"), [(float("inf"), 1.0), (2.0, float("nan"))])
def test_a_shot_that_overflows_fails_its_job_and_sends_nothing(monkeypatch, misfit, gradient_value):
    """An inf misfit passed the old schema and reached the reducer as "misfit": null, refused forever."""
    from moto import mock_aws

    worker = _worker_module()
    monkeypatch.setattr(worker, "compute_shot_gradient", lambda *a: {
        "gradient": np.full((3, 2), gradient_value, np.float32), "misfit": misfit, "timings": {}, "storage": "full"})
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        s3, sqs = boto3.client("s3"), boto3.client("sqs")
        s3.create_bucket(Bucket=BUCKET)
        params = RunParameters.parse({"iterations": 1, "batchsize": 1, "model": {"key": "m.npz"},
                                      "data": {"prefix": "d/", "num_shots": 2}})
        s3.put_object(Bucket=BUCKET, Key=layout.parameters_key("r1"), Body=params.model_dump_json())
        manifest = IterationManifest(run_id="r1", iteration=1, shots=[1], step_size=1.0, task_token="t")
        s3.put_object(Bucket=BUCKET, Key=layout.manifest_key("r1", 1), Body=manifest.to_json())
        queue = sqs.create_queue(QueueName="g.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        env = {"RUN_ID": "r1", "ITERATION": "1", "DATA_BUCKET": BUCKET, "GRADIENT_QUEUE_URL": queue}
        with pytest.raises(worker.NonFiniteResult, match="shot 1: misfit"):
            worker.run(env)
        assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=layout.iteration_prefix("r1", 1) + "partial/")
        assert "Messages" not in sqs.receive_message(QueueUrl=queue)


@pytest.mark.slow
def test_worker_in_curvature_mode_sends_its_shots_line_search_terms_once(cloud):
    """The exact rule (the default): the gradient pass leaves the shot's residual beside its gradient; the
    curvature pass models the gradient sum once and sends c1 > 0 (G descends) and c2 > 0."""
    from workloads.lsrtm.messages import CurvatureMessage
    from workloads.lsrtm.reduction import Accumulator

    assert _run_worker(cloud["env"], 1).returncode == 0
    s3 = cloud["s3"]
    residual = from_npy_bytes(s3.get_object(Bucket=BUCKET, Key=layout.residual_key("r1", 1, 1))["Body"].read())
    assert residual.dtype == np.float32 and residual.ndim == 2 and np.abs(residual).max() > 0
    gradient = from_npy_bytes(s3.get_object(Bucket=BUCKET, Key=layout.partial_gradient_key("r1", 1, 1))["Body"].read())
    s3.put_object(Bucket=BUCKET, Key=layout.accumulator_key("r1", 1),
                  Body=Accumulator(total=gradient, shots={1}, misfit=1.0).to_bytes())
    env = {**cloud["env"], "WORKER_MODE": "curvature"}
    first = _run_worker(env, 1)
    assert first.returncode == 0, first.stdout + first.stderr
    again = _run_worker(env, 1)  # a retried attempt resends the stored terms under the same deduplication id
    assert again.returncode == 0 and "already computed" in again.stdout + again.stderr
    bodies = [m["Body"] for m in cloud["sqs"].receive_message(QueueUrl=cloud["queue"], MaxNumberOfMessages=10)["Messages"]]
    curvature = [CurvatureMessage.parse(b) for b in bodies if '"curvature"' in b]
    assert len(curvature) == 1 and len(bodies) == 2  # the gradient's message and one curvature message
    (message,) = curvature
    assert message.shot == 1 and message.c1 > 0 and message.c2 > 0
    # with G this shot's own gradient, c1 = dt r.(M J P G) = <G, G>: the residual-based term is the slope
    assert message.c1 == pytest.approx(float(np.vdot(gradient.astype(np.float64), gradient)), rel=0.05)
