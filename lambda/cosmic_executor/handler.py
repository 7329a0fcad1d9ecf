"""cosmicai rank: one Lambda invocation per rank, all running at once.

Event: {"rank": r, "job": <the run's job>} (workloads.cosmic.job.RankJob). Inference mode downloads the
dataset (and the state_dict when weights_key is given) into the temp directory, opens the communicator
through the rendezvous server, infers this rank's contiguous slice (workloads.cosmic.inference.run_rank)
and writes runs/<run>/ranks/rank-<r>.json; rank 0 also writes runs/<run>/combined.json. Script mode
downloads script_key and runs it with RANK, WORLD_SIZE, COMM_NAME, COMM_SECRET, RENDEZVOUS_HOST/PORT set; a non-zero
exit raises ScriptFailed. Any exception fails the invocation (and the Map iteration).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from aws_lambda_powertools import Logger

from adapters.s3_store import S3Store
from workloads.cosmic.job import RankJob, combined_key, script_record
from workloads.cosmic.script_runner import run_script

logger = Logger(service="cosmic-executor")
SCRIPT_MARGIN_S = 15  # leave time to write the record after a script that used nearly all of it


def _inference(job: RankJob, workdir: Path) -> dict:
    from workloads.cosmic.backends import open_communicator
    from workloads.cosmic.dataset import load_dataset
    from workloads.cosmic.inference import InferenceSettings, run_rank

    spec = job.job
    start = time.perf_counter()
    data_path = workdir / "data.pt"
    S3Store(spec["data_bucket"]).download(spec["data_key"], data_path)
    data = load_dataset(data_path)
    weights_path = None
    if spec.get("weights_key"):
        weights_path = str(workdir / "weights.pt")
        S3Store(spec["code_bucket"]).download(spec["weights_key"], Path(weights_path))
    data_load_s = time.perf_counter() - start
    settings = InferenceSettings(batch_size=spec.get("batch_size"), threads=spec.get("threads"),
                                 weights_path=weights_path, seed=int(spec.get("seed") or 0))
    with open_communicator(job.comm) as comm:
        out = run_rank(data, settings, spec["run_id"], comm=comm, data_load_s=data_load_s)
    if out["combined"] is not None:
        S3Store(spec["results_bucket"]).put_json(combined_key(spec["results_prefix"]), out["combined"])
    return out["rank"]


def _script(job: RankJob, workdir: Path, context: object) -> dict:
    spec = job.job
    script = S3Store(spec["code_bucket"]).download(spec["script_key"], workdir / Path(spec["script_key"]).name)
    budget = context.get_remaining_time_in_millis() / 1000 - SCRIPT_MARGIN_S
    result = run_script(script, job.script_environment(), timeout_s=max(budget, 1.0), cwd=workdir)
    return script_record(job, result.returncode, result.wall_s, result.output_tail)


def handler(event: dict, context: object) -> dict:
    job = RankJob.from_event(event)
    logger.append_keys(run_id=job.job["run_id"], rank=job.rank)
    with tempfile.TemporaryDirectory(prefix="cosmic-") as tmp:  # Lambda's temp dir: the only writable path
        if job.job["mode"] == "script":
            record = _script(job, Path(tmp), context)
        else:
            record = _inference(job, Path(tmp))
    S3Store(job.job["results_bucket"]).put_json(job.result_key, record)
    logger.info("rank done", extra={"key": job.result_key})
    return {"rank": job.rank, "result_key": job.result_key}
