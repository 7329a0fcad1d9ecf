"""One cosmicai execution: the input schema, the per-rank jobs, the S3 key layout and the summary check.

No AWS calls here (the Lambda handlers in lambda/cosmic_* do the I/O). The flow:
  plan(input)  -> {"run_id", "world_size", "ranks": [0..W-1], "job": {...}, results location}
  each rank    <- {"rank": r, "job": job}   (the Map's ItemSelector joins them: the list of ranks stays
                                             small, so W is not limited by the 256 KiB state payload)
  summarize()  <- every rank's record (+ rank 0's combined record), read back from S3

Results of an execution live under runs/<run_id>/ (run_id = the execution name), so two executions never
share a key and re-running one rank overwrites only its own record.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, model_validator

from workloads.common.execution_input import InvalidInput, StrictInput, echo
from workloads.common.execution_input import parse_input as _parse
from workloads.common.run_ids import run_id_of
from workloads.cosmic.metrics import RedshiftSums, validate_record
from workloads.cosmic.payload import CommSettings, new_comm_name
from workloads.cosmic.peer_auth import new_secret

__all__ = ["InvalidInput"]  # the validator and the ranks raise it; handlers and tests import it from here

RESULTS_ROOT = "runs/"
SCRIPT_SCHEMA = "cosmicai.script/v1"
_KEY = re.compile(r"[A-Za-z0-9!_.*'()/ -]{1,1024}")
TORCH_SEED_MAX = 2**64 - 1  # torch.manual_seed refuses larger seeds, so every rank would fail


class ResultsIncomplete(RuntimeError):
    """Fewer rank records than ranks: a rank did not write its result."""


class ResultsInconsistent(RuntimeError):
    """The records are there but do not add up (wrong run, duplicate or missing samples)."""


class CosmicInput(StrictInput):
    """The execution input of the cosmicai state machine."""

    world_size: int = Field(ge=1, description="number of ranks (Lambda invocations), all running at once")
    data_key: str | None = Field(default=None, description="a .pt TensorDataset in the data bucket")
    weights_key: str | None = Field(default=None, description="an AstroMAE state_dict in the code bucket")
    script_key: str | None = Field(default=None, description="a Python script in the code bucket, run per rank")
    batch_size: int | None = Field(default=None, ge=1, le=4096)
    threads: int | None = Field(default=None, ge=1, le=64, description="torch threads; default: every core")
    seed: int = Field(default=0, ge=0, le=TORCH_SEED_MAX, description="weights seed when no weights_key is given")
    timeout_s: float | None = Field(default=None, gt=0, description="a rank's wait for a peer; default: configured")

    @model_validator(mode="after")
    def _one_job(self) -> CosmicInput:
        if (self.data_key is None) == (self.script_key is None):
            raise ValueError("give exactly one of data_key (AstroMAE inference) and script_key (run a script)")
        if self.script_key is not None and (self.weights_key or self.batch_size or self.threads):
            raise ValueError("weights_key, batch_size and threads apply to inference (data_key) only")
        for name in ("data_key", "weights_key", "script_key"):
            key = getattr(self, name)
            if key is not None and (not _KEY.fullmatch(key) or key.startswith("/") or ".." in key.split("/")):
                raise ValueError(f"{name} {echo(key)} is not a plain S3 key")
        return self

    @property
    def mode(self) -> Literal["inference", "script"]:
        return "script" if self.script_key else "inference"


@dataclass(frozen=True)
class Deployment:
    """What the stack tells the validator (its Lambda environment)."""

    rendezvous_host: str
    rendezvous_port: int
    max_world_size: int
    op_timeout_s: float
    data_bucket: str
    code_bucket: str
    results_bucket: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Deployment:
        return cls(env["RENDEZVOUS_HOST"], int(env["RENDEZVOUS_PORT"]), int(env["MAX_WORLD_SIZE"]),
                   float(env["OP_TIMEOUT_S"]), env["DATA_BUCKET"], env["CODE_BUCKET"], env["RESULTS_BUCKET"])


def parse_input(raw: object) -> CosmicInput:
    return _parse(CosmicInput, raw, what="input")


def plan(raw: object, *, execution: str, deployment: Deployment) -> dict[str, Any]:
    """The run: the shared job every rank receives, the list of ranks and where results go."""
    request = parse_input(raw)
    if request.world_size > deployment.max_world_size:
        raise InvalidInput(
            f"world_size {request.world_size} is above the deployed limit {deployment.max_world_size}: the Map "
            "runs at most that many ranks at once, and FMI collectives wait for every rank, so a larger world "
            "would deadlock (deploy with -c fmi.max_world_size=N to raise it)"
        )
    timeout_s = request.timeout_s or deployment.op_timeout_s
    if timeout_s > deployment.op_timeout_s:
        raise InvalidInput(f"timeout_s {timeout_s} is above the deployed limit {deployment.op_timeout_s}, which "
                           "keeps a waiting rank from outliving its Lambda")
    run_id = run_id_of(execution)
    prefix = f"{RESULTS_ROOT}{run_id}/"
    job = {
        "run_id": run_id,
        "mode": request.mode,
        "world_size": request.world_size,
        "comm_name": new_comm_name(),  # random: the public server must not be told names anyone could guess
        "comm_secret": new_secret(),  # one per execution, never sent to the server: signs the ranks' hellos
        "rendezvous_host": deployment.rendezvous_host,
        "rendezvous_port": deployment.rendezvous_port,
        "timeout_s": timeout_s,
        "data_bucket": deployment.data_bucket,
        "data_key": request.data_key,
        "code_bucket": deployment.code_bucket,
        "weights_key": request.weights_key,
        "script_key": request.script_key,
        "batch_size": request.batch_size,
        "threads": request.threads,
        "seed": request.seed,
        "results_bucket": deployment.results_bucket,
        "results_prefix": prefix,
    }
    RankJob.of(0, job)  # the job every rank will parse must parse
    return {"run_id": run_id, "mode": request.mode, "world_size": request.world_size,
            "ranks": list(range(request.world_size)), "results_bucket": deployment.results_bucket,
            "results_prefix": prefix, "job": job}


def rank_key(prefix: str, rank: int) -> str:
    return f"{prefix}ranks/rank-{rank:05d}.json"


def ranks_prefix(prefix: str) -> str:
    return f"{prefix}ranks/"


def combined_key(prefix: str) -> str:
    return f"{prefix}combined.json"


def summary_key(prefix: str) -> str:
    return f"{prefix}summary.json"


@dataclass(frozen=True)
class RankJob:
    """One rank's invocation payload, checked: {"rank": r, "job": <plan()["job"]>}."""

    rank: int
    job: dict[str, Any]
    comm: CommSettings

    @classmethod
    def of(cls, rank: Any, job: Any) -> RankJob:
        if not isinstance(job, dict):
            raise InvalidInput("the rank payload needs a 'job' object")
        comm = CommSettings.from_payload({**job, "rank": rank, "backend": job.get("backend", "auto")})
        for key in ("run_id", "mode", "results_bucket", "results_prefix", "comm_secret"):
            if not job.get(key):
                raise InvalidInput(f"the rank payload's job lacks {key!r}")
        needed = "data_key" if job["mode"] == "inference" else "script_key"
        if not job.get(needed):
            raise InvalidInput(f"a {job['mode']} job needs {needed!r}")
        return cls(comm.rank, job, comm)

    @classmethod
    def from_event(cls, event: Any) -> RankJob:
        if not isinstance(event, dict) or "rank" not in event:
            raise InvalidInput("the rank payload must be {'rank': r, 'job': {...}}")
        return cls.of(event["rank"], event.get("job"))

    @property
    def result_key(self) -> str:
        return rank_key(self.job["results_prefix"], self.rank)

    def script_environment(self) -> dict[str, str]:
        """What a script learns about its rank: FMI's upper-case names, as the course's executor passed them."""
        return {
            "RANK": str(self.rank), "WORLD_SIZE": str(self.comm.world_size), "COMM_NAME": self.comm.comm_name,
            "RENDEZVOUS_HOST": self.comm.rendezvous_host, "RENDEZVOUS_PORT": str(self.comm.rendezvous_port),
            "TIMEOUT_S": str(self.comm.timeout_s), "COMM_SECRET": self.job["comm_secret"], "RUN_ID": self.job["run_id"],
            "RESULTS_BUCKET": self.job["results_bucket"], "RESULTS_PREFIX": self.job["results_prefix"],
        }


def script_record(job: RankJob, returncode: int, wall_s: float, output_tail: str) -> dict[str, Any]:
    return {"schema": SCRIPT_SCHEMA, "run_id": job.job["run_id"], "rank": job.rank,
            "world_size": job.comm.world_size, "script_key": job.job["script_key"], "returncode": returncode,
            "wall_s": wall_s, "output_tail": output_tail}


def summarize(run: Mapping[str, Any], records: Mapping[int, dict], combined: dict | None) -> dict[str, Any]:
    """Check that every rank reported for this run, and (inference) that rank 0's combined record is the
    exact sum of the rank records; return the execution's summary."""
    world_size, run_id = int(run["world_size"]), run["run_id"]
    missing = sorted(set(range(world_size)) - set(records))
    if missing:
        raise ResultsIncomplete(f"{len(missing)} of {world_size} ranks wrote no record: {missing[:20]}")
    extra = sorted(set(records) - set(range(world_size)))
    if extra:
        raise ResultsInconsistent(f"records for ranks outside the world: {extra[:20]}")
    for rank, record in records.items():
        if record.get("run_id") != run_id or record.get("rank") != rank or record.get("world_size") != world_size:
            raise ResultsInconsistent(f"rank {rank}'s record belongs to another run or rank")
    base = {"run_id": run_id, "mode": run["mode"], "world_size": world_size,
            "results_bucket": run["results_bucket"], "results_prefix": run["results_prefix"],
            "rank_keys": [rank_key(run["results_prefix"], r) for r in range(world_size)]}
    if run["mode"] == "script":
        failed = sorted(r for r, rec in records.items() if rec.get("returncode") != 0)
        if failed:
            raise ResultsInconsistent(f"ranks {failed} report a failed script")
        return {**base, "wall_s": max(float(rec["wall_s"]) for rec in records.values())}

    for record in records.values():
        validate_record(record)
    if combined is None:
        raise ResultsIncomplete("rank 0 wrote no combined record")
    validate_record(combined)
    ranges = sorted(tuple(rng) for rec in records.values() for rng in rec["sample_ranges"])
    for (_, stop), (start, _) in zip(ranges, ranges[1:], strict=False):
        if start != stop:
            raise ResultsInconsistent(f"the ranks' sample ranges are not contiguous: {ranges[:20]}")
    total = RedshiftSums()
    for rec in records.values():
        total = total + RedshiftSums.from_dict(rec["sums"])
    if combined["run_id"] != run_id or combined["samples"] != total.n or combined["ranks"] != list(range(world_size)):
        raise ResultsInconsistent(f"the combined record ({combined['samples']} samples, ranks {combined['ranks'][:8]}"
                                  f"...) does not match the {total.n} samples of {world_size} rank records")
    return {**base, "combined_key": combined_key(run["results_prefix"]), "samples": total.n,
            "metrics": combined["metrics"], "throughput": combined["throughput"], "timing_s": combined["timing_s"]}
