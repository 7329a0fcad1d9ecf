"""Gradient reduction: the real reduce handler summing BP 2004-sized partial gradients from local S3.

Fixed sizes: 16 partial gradients of 10789 x 1911 float32 (82 MB each), one iteration, delivered through
the local SQS -> Lambda event source mapping (batch size from the synthesized stack) to the handler in
lambda/lsrtm_reduce_gradients. Reports:
- reduce_invocations and its ratio to the batch size (target: at most batch size + a small constant;
  the original needed ~234 invocations per iteration of 80 shots: 561,500 / 30 / 80 ...);
- sum_throughput_ratio: bytes of partial gradients summed per second by the streaming kernel
  (add_npy_stream, in memory) divided by numpy's own a += b bandwidth on the same arrays (target >= 0.5);
- end_to_end_throughput_ratio: the same for the whole handler against moto's S3 server (HTTP), which
  is dominated by the emulator's I/O, reported for honesty.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from pathlib import Path

import boto3
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from localcloud.lambdas import invoke  # noqa: E402
from localcloud.services.event_sources import SqsEventSource  # noqa: E402
from localcloud.services.moto_server import moto_server  # noqa: E402
from workloads.lsrtm import layout  # noqa: E402
from workloads.lsrtm.arrays import add_npy_stream, to_npy_bytes  # noqa: E402
from workloads.lsrtm.messages import IterationManifest, PartialGradientMessage  # noqa: E402

SHAPE = (10789, 1911)
PARTIALS = 16
BATCH_SIZE = 10  # the stack's REDUCER_BATCH_SIZE
RUN = "bench"


def numpy_add_bandwidth(a: np.ndarray, b: np.ndarray, repeats: int = 5) -> float:
    """Bytes of b added per second by numpy's in-place add (the best of a few runs)."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        np.add(a, b, out=a)
        best = min(best, time.perf_counter() - t)
    return b.nbytes / best


def kernel_throughput(partial: bytes, repeats: int = 5) -> float:
    total = np.zeros(SHAPE, np.float32)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        add_npy_stream(total, io.BytesIO(partial))
        best = min(best, time.perf_counter() - t)
    return np.prod(SHAPE) * 4 / best


def main() -> int:
    rng = np.random.default_rng(0)
    partials = [rng.standard_normal(SHAPE, dtype=np.float32) for _ in range(PARTIALS)]
    print(f"{PARTIALS} partial gradients of {SHAPE} float32 ({partials[0].nbytes / 1e6:.0f} MB each)", flush=True)

    reference = np.zeros(SHAPE, np.float32)
    numpy_bw = numpy_add_bandwidth(reference, partials[0])
    kernel_bw = kernel_throughput(to_npy_bytes(partials[0]))
    print(f"numpy a += b: {numpy_bw / 1e9:.2f} GB/s; streaming kernel: {kernel_bw / 1e9:.2f} GB/s", flush=True)

    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    os.environ.update(env)
    with moto_server() as url:
        os.environ["AWS_ENDPOINT_URL_S3"] = url
        os.environ["AWS_ENDPOINT_URL_SQS"] = url
        os.environ["AWS_ENDPOINT_URL_SFN"] = "http://127.0.0.1:9"  # no execution waits: answers fail fast
        s3, sqs = boto3.client("s3"), boto3.client("sqs")
        s3.create_bucket(Bucket="bench")
        shots = list(range(PARTIALS))
        manifest = IterationManifest(run_id=RUN, iteration=1, shots=shots, step_size=1e-4, task_token="bench")
        s3.put_object(Bucket="bench", Key=layout.manifest_key(RUN, 1), Body=manifest.to_json())
        queue = sqs.create_queue(QueueName="bench.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        print("uploading partial gradients to moto S3", flush=True)
        for shot, partial in zip(shots, partials, strict=True):
            key = layout.partial_gradient_key(RUN, 1, shot)
            s3.put_object(Bucket="bench", Key=key, Body=to_npy_bytes(partial))
            message = PartialGradientMessage(run_id=RUN, iteration=1, shot=shot, bucket="bench", key=key, misfit=1.0)
            sqs.send_message(QueueUrl=queue, MessageBody=message.to_json(), MessageGroupId=message.group_id,
                             MessageDeduplicationId=message.deduplication_id)

        import adapters.task_tokens as task_tokens

        task_tokens.send_success = lambda token, output, client=None: True  # noqa: ARG005 - no execution here
        started = time.perf_counter()
        source = SqsEventSource(sqs, queue, "arn:aws:sqs:us-east-1:123456789012:bench.fifo",
                                lambda event: invoke("lsrtm_reduce_gradients", event), batch_size=BATCH_SIZE).start()
        result_key = layout.result_key(RUN, 1)
        while True:
            try:
                s3.head_object(Bucket="bench", Key=result_key)
                break
            except s3.exceptions.ClientError:
                time.sleep(0.2)
            if time.perf_counter() - started > 600:
                raise TimeoutError("reduction did not finish in 10 minutes")
        elapsed = time.perf_counter() - started
        source.stop()
        body = s3.get_object(Bucket="bench", Key=layout.accumulator_key(RUN, 1))["Body"].read()
        with np.load(io.BytesIO(body)) as npz:
            total = npz["total"]
        expected = np.sum(partials, axis=0, dtype=np.float64)
        rel_error = float(np.max(np.abs(total - expected)) / np.max(np.abs(expected)))

    end_to_end_bw = PARTIALS * partials[0].nbytes / elapsed
    metrics = {
        "partials": PARTIALS,
        "partial_mb": round(partials[0].nbytes / 1e6, 1),
        "reduce_invocations": source.invocations,
        "invocations_minus_batch_size": source.invocations - PARTIALS,
        "numpy_add_gb_s": round(numpy_bw / 1e9, 3),
        "kernel_gb_s": round(kernel_bw / 1e9, 3),
        "sum_throughput_ratio": round(kernel_bw / numpy_bw, 3),
        "end_to_end_gb_s": round(end_to_end_bw / 1e9, 3),
        "end_to_end_throughput_ratio": round(end_to_end_bw / numpy_bw, 3),
        "end_to_end_s": round(elapsed, 2),
        "max_relative_error": rel_error,
    }
    print(json.dumps({"benchmark": "gradient_reduction", "metrics": metrics}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
