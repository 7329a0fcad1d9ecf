"""Gradient worker: the entrypoint of one Batch array child (one shot of one iteration).

Environment (job definition + submission): RUN_ID, ITERATION, DATA_BUCKET, GRADIENT_QUEUE_URL, and
AWS_BATCH_JOB_ARRAY_INDEX (absent for a batch of one; ARRAY_INDEX for the multi-node variant);
WORKER_MODE=curvature for the exact step rule's second job.
Steps: read the run's parameters and the iteration manifest, pick the shot for this array index,
fetch model, shot and current image, compute the gradient with workloads.seismic, write it and its
summary (with the exact rule also the shot's masked residual), send the message. In curvature mode:
fetch model, shot, the batch's gradient sum G and this shot's residual, model P G once (Born) and send
the shot's line-search terms c1, c2. Running twice is safe: the keys depend only on (run, iteration,
shot), a finished shot is not recomputed, and the message's deduplication id is the same.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import boto3
import numpy as np

from adapters.s3_store import S3Store
from workloads.common.store import ObjectNotFound
from workloads.lsrtm import layout
from workloads.lsrtm.arrays import from_npy_bytes, to_npy_bytes
from workloads.lsrtm.messages import CurvatureMessage, PartialGradientMessage
from workloads.lsrtm.params import RunParameters
from workloads.lsrtm.reduction import load_accumulator, load_manifest
from workloads.lsrtm.shots import shot_for_array_index

log = logging.getLogger("gradient-worker")


def array_index(env: dict) -> int:
    return int(env.get("AWS_BATCH_JOB_ARRAY_INDEX", env.get("ARRAY_INDEX", "0")))


def _fetch_inputs(store: S3Store, params: RunParameters, shot: int):
    """(background model, observed shot, water mask or None) from the bucket."""
    from workloads.seismic.model import Model
    from workloads.seismic.segy import read_shot
    from workloads.seismic.wavelet import Ricker

    with tempfile.TemporaryDirectory() as scratch:
        model_path = Path(scratch) / "model.npz"
        model_path.write_bytes(store.get(params.model.key))
        model = Model.load_npz(model_path)
        shot_path = Path(scratch) / "shot.segy"
        shot_path.write_bytes(store.get(params.data.key(shot)))
        observed = read_shot(shot_path, wavelet=Ricker(params.physics.peak_frequency_hz))
    water = from_npy_bytes(store.get(params.model.water_key)).astype(bool) if params.model.water_key else None
    return model, observed, water


def _operator_options(params: RunParameters, water: np.ndarray | None) -> dict:
    """What decides the operator M J P: the same for the gradient and the curvature pass of a shot."""
    from workloads.seismic.preconditioning import Preconditioning

    physics = params.physics
    return {"space_order": physics.space_order, "imaging": physics.imaging,
            "preconditioning": Preconditioning(water_mask=water) if physics.preconditioning else None,
            "aperture_buffer_m": physics.aperture_buffer_m}


def compute_shot_gradient(store: S3Store, params: RunParameters, run_id: str, iteration: int, shot: int) -> dict:
    """Fetch the inputs, run the science, return {'gradient', 'misfit', 'residual', 'timings', 'storage'}."""
    from workloads.seismic.gradient import compute_gradient

    started = time.perf_counter()
    model, observed, water = _fetch_inputs(store, params, shot)
    image = None
    if iteration > 1:
        image = from_npy_bytes(store.get(layout.image_key(run_id, iteration - 1)))
    fetched = time.perf_counter()
    physics = params.physics
    result = compute_gradient(
        model,
        observed,
        image,
        storage="checkpointing" if physics.storage == "checkpointed" else physics.storage,
        memory_budget_bytes=physics.memory_budget_mib * 2**20,
        **_operator_options(params, water),
    )
    timings = {"fetch_s": fetched - started, **{f"{k}_s": v for k, v in result.timings.items()}}
    return {"gradient": result.gradient, "misfit": result.misfit, "residual": result.residual, "timings": timings,
            "storage": result.storage}


def compute_shot_curvature(store: S3Store, params: RunParameters, run_id: str, iteration: int, shot: int) -> dict:
    """This shot's (c1, c2) along the iteration's gradient sum; {'c1', 'c2', 'timings'}."""
    from workloads.seismic.curvature import born_curvature

    started = time.perf_counter()
    model, observed, water = _fetch_inputs(store, params, shot)
    direction = load_accumulator(store, run_id, iteration).total
    if direction is None:
        raise ValueError(f"iteration {iteration} has no gradient sum to measure the curvature along")
    residual = from_npy_bytes(store.get(layout.residual_key(run_id, iteration, shot)))
    fetched = time.perf_counter()
    c1, c2 = born_curvature(model, observed, direction, residual, **_operator_options(params, water))
    finished = time.perf_counter()
    return {"c1": c1, "c2": c2, "timings": {"fetch_s": fetched - started, "born_s": finished - fetched,
                                            "worker_s": finished - started}}


class NonFiniteResult(RuntimeError):
    """The shot's misfit or gradient overflowed (inf or NaN): no sum can use it, so the job fails."""


def check_finite(shot: int, misfit: float, gradient: np.ndarray) -> None:
    """Fail the job (its iteration fails with this message) rather than send what the reducer must refuse."""
    bad = int(gradient.size - np.count_nonzero(np.isfinite(gradient)))
    if not np.isfinite(misfit) or bad:
        raise NonFiniteResult(f"shot {shot}: misfit {misfit}, {bad} of {gradient.size} gradient values not "
                              "finite (the model or the data may be outside what the time step supports)")


def mpi_rank(env: dict) -> int:
    return int(env.get("PMI_RANK", "0"))  # set by MPICH's process manager under mpiexec


def run(env: dict) -> PartialGradientMessage | CurvatureMessage | None:
    run_id, iteration, bucket = env["RUN_ID"], int(env["ITERATION"]), env["DATA_BUCKET"]
    store = S3Store(bucket)
    params = RunParameters.model_validate_json(store.get(layout.parameters_key(run_id)))
    manifest = load_manifest(store, run_id, iteration)
    shot = shot_for_array_index(manifest.shots, array_index(env))
    if env.get("WORKER_MODE", "gradient") == "curvature":
        return run_curvature(env, store, params, run_id, iteration, shot)
    gradient_key = layout.partial_gradient_key(run_id, iteration, shot)
    summary_key = layout.partial_summary_key(run_id, iteration, shot)
    try:
        summary = json.loads(store.get(summary_key))  # an earlier attempt finished this shot
        log.info("shot %d of iteration %d already computed; resending its message", shot, iteration)
    except ObjectNotFound:
        started = time.perf_counter()
        outcome = compute_shot_gradient(store, params, run_id, iteration, shot)
        if mpi_rank(env) != 0:
            return None  # in a multi-node job the ranks share one shot; rank 0 holds the gathered gradient
        gradient = np.asarray(outcome["gradient"], dtype=np.float32)
        check_finite(shot, outcome["misfit"], gradient)  # before anything is written: a retry recomputes
        uploading = time.perf_counter()
        if params.step_rule == "exact":  # the curvature pass needs this shot's residual (small: nt x nrec)
            store.put(layout.residual_key(run_id, iteration, shot), to_npy_bytes(outcome["residual"]))
        store.put(gradient_key, to_npy_bytes(gradient))
        finished = time.perf_counter()
        # upload_s and worker_s (fetch to upload, what the paper calls the script time) for the experiments
        timings = {**outcome["timings"], "upload_s": finished - uploading, "worker_s": finished - started}
        summary = {"shot": shot, "misfit": outcome["misfit"], "timings": timings, "storage": outcome["storage"]}
        store.put(summary_key, json.dumps(summary).encode())  # after the gradient: its presence means done
    message = PartialGradientMessage(
        run_id=run_id, iteration=iteration, shot=shot, bucket=bucket, key=gradient_key, misfit=summary["misfit"]
    )
    _send(env, message)
    log.info("shot %d of iteration %d: misfit %.6g, %s", shot, iteration, summary["misfit"], summary["timings"])
    return message


def run_curvature(env: dict, store: S3Store, params: RunParameters, run_id: str, iteration: int,
                  shot: int) -> CurvatureMessage | None:
    summary_key = layout.curvature_summary_key(run_id, iteration, shot)
    try:
        summary = json.loads(store.get(summary_key))  # an earlier attempt finished this shot
        log.info("curvature of shot %d of iteration %d already computed; resending its message", shot, iteration)
    except ObjectNotFound:
        summary = None
    if summary is None:
        outcome = compute_shot_curvature(store, params, run_id, iteration, shot)
        if mpi_rank(env) != 0:
            return None  # every rank has the gathered traces; rank 0 answers
        if not (np.isfinite(outcome["c1"]) and np.isfinite(outcome["c2"])):
            raise NonFiniteResult(f"shot {shot}: line-search terms c1={outcome['c1']}, c2={outcome['c2']} not finite")
        summary = {"shot": shot, **outcome}
        store.put(summary_key, json.dumps(summary).encode())
    message = CurvatureMessage(kind="curvature", run_id=run_id, iteration=iteration, shot=shot,
                               bucket=env["DATA_BUCKET"], c1=summary["c1"], c2=summary["c2"])
    _send(env, message)
    log.info("shot %d of iteration %d: c1 %.6g, c2 %.6g, %s", shot, iteration, message.c1, message.c2,
             summary["timings"])
    return message


def _send(env: dict, message: PartialGradientMessage | CurvatureMessage) -> None:
    boto3.client("sqs").send_message(
        QueueUrl=env["GRADIENT_QUEUE_URL"],
        MessageBody=message.to_json(),
        MessageGroupId=message.group_id,
        MessageDeduplicationId=message.deduplication_id,
    )


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    missing = [k for k in ("RUN_ID", "ITERATION", "DATA_BUCKET", "GRADIENT_QUEUE_URL") if k not in os.environ]
    if missing:
        log.error("missing environment: %s", ", ".join(missing))
        return 2
    run(dict(os.environ))
    return 0


if __name__ == "__main__":
    sys.exit(main())
