"""Experiment parameters (validated) and the submissions they turn into, before anything is sent.

Two kinds of run:
- *execution*: one iteration of the LSRTM-SGD state machine (weak scaling, cost, resilience), the
  path users run, so start-up, container and reduction times are those of the real workflow;
- *job*: one gradient submitted straight to a chosen queue (OpenMP, MPI, hybrid), since the
  workflow always uses the gradient queue and the job definition's thread count. The launcher writes
  the run's parameters and iteration manifest itself; the worker and the reducer then run unchanged.
  The manifest's task token belongs to no execution, so the reducer's answer to it is refused as an
  invalid token, which the reducer treats as already answered: the image is still written.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from reproduce.outputs import Deployment, DeploymentError, Queue
from workloads.lsrtm.job_requests import job_identity
from workloads.lsrtm.messages import IterationManifest
from workloads.lsrtm.params import InvalidInput, RunParameters, check_run_id

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BASE_INPUT = REPO_ROOT / "examples" / "lsrtm_bp2004.json"
NO_EXECUTION_TOKEN = "experiment-without-execution"
ITERATION = 1
WORKER_SCRIPT = "/opt/app/worker.py"  # where containers/gradient_worker puts worker.py
# Model sizes of the paper's runs (reference section 11): weak scaling and cost restrict the model to the
# shot's aperture + 500 m; strong scaling uses the whole model; the hybrid "half" case a 9352 m buffer.
RESTRICTED_BUFFER_M = 500.0
HALF_MODEL_BUFFER_M = 9352.0
FULL_MODEL_BUFFER_M = 1.0e6  # wider than any model: nothing is cut
CAMPAIGN = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")


class PlanError(ValueError):
    """The parameters cannot run on this deployment; nothing was submitted."""


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    campaign: str = Field(description="names the runs (<campaign>-<experiment>-...); reuse it to resume")
    runs: int = Field(default=1, ge=1, le=50)
    base_input: dict[str, Any] = Field(description="an LSRTM-SGD execution input the runs start from")

    @field_validator("campaign")
    @classmethod
    def _name(cls, v: str) -> str:
        if not CAMPAIGN.fullmatch(v):
            raise ValueError(f"campaign {v!r}: 1-31 lower-case letters, digits and '-'")
        return v


class WeakParams(_Params):
    batch_sizes: list[int] = Field(default=[1, 2, 4, 8, 16, 32, 64, 128], min_length=1)
    runs: int = Field(default=3, ge=1, le=50)
    cooldown_timeout_s: float = Field(default=1800, ge=0, description="wait at most this long for zero vCPUs")

    @field_validator("batch_sizes")
    @classmethod
    def _sizes(cls, v: list[int]) -> list[int]:
        if any(n < 1 or n > 10_000 for n in v):
            raise ValueError(f"batch sizes must be between 1 and 10000, got {v}")
        return sorted(set(v))


class CostParams(_Params):
    shots: int = Field(default=100, ge=1, le=10_000)


class ResilienceParams(_Params):
    shots: int = Field(default=100, ge=2, le=10_000)
    failure_rate: float = Field(gt=0, lt=1, description="fraction of the job's instances to terminate")
    window_s: tuple[float, float] = Field(default=(1.0, 390.0), description="termination times after the first start")
    seed: int = 0
    confirm: bool = Field(default=False, description="--confirm-terminate: terminating instances is intended")

    @model_validator(mode="after")
    def _checks(self) -> Self:
        if not self.confirm:
            raise ValueError("the resilience experiment terminates EC2 instances of this account; "
                             "pass --confirm-terminate to run it")
        low, high = self.window_s
        if not 0 <= low < high:
            raise ValueError(f"window {self.window_s}: need 0 <= start < end")
        return self


class OpenMpParams(_Params):
    queue: str = "r5-spot-24"
    threads: list[int] = Field(default=[1, 2, 4, 8, 16, 24], min_length=1)
    hyperthreading: bool | None = Field(
        default=None, description="what the user expects of the queue; the pool decides, a contradiction is refused")
    memory_mib: int = Field(default=180_000, ge=512)
    shot: int = Field(default=800, ge=0, description="shot file number (the paper: 800)")
    runs: int = Field(default=3, ge=1, le=50)

    @field_validator("threads")
    @classmethod
    def _threads(cls, v: list[int]) -> list[int]:
        if any(t < 1 for t in v):
            raise ValueError(f"thread counts must be positive, got {v}")
        return sorted(set(v))


class MpiParams(_Params):
    queue: str = "r5-mnp-24"
    nodes: list[int] = Field(default=[1, 2, 4, 8, 16], min_length=1)
    threads: int | None = Field(default=None, ge=1, description="per node; default: one socket's cores")
    memory_mib: int | None = Field(default=None, ge=512, description="per node; default: 180000 or what fits")
    shot: int = Field(default=800, ge=0)
    runs: int = Field(default=3, ge=1, le=50)

    @field_validator("nodes")
    @classmethod
    def _nodes(cls, v: list[int]) -> list[int]:
        if any(n < 1 or n > 64 for n in v):
            raise ValueError(f"node counts must be between 1 and 64, got {v}")
        return sorted(set(v))


HybridCase = Literal["omp24-half", "omp24", "omp48", "mpi2x24"]


class HybridParams(_Params):
    queue: str = "r5-spot-48"
    cases: list[HybridCase] = Field(default=["omp24-half", "omp24", "omp48", "mpi2x24"], min_length=1)
    memory_mib: int = Field(default=700_000, ge=512)
    shot: int = Field(default=800, ge=0)
    runs: int = Field(default=3, ge=1, le=50)


class Plan(BaseModel):
    """One run: what will be sent, and what is recorded with its timings."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    experiment: Literal["weak", "openmp", "mpi", "hybrid", "cost", "resilience"]
    parameters: dict[str, str | int | float | bool | None]
    queue: str
    start_execution: dict[str, Any] | None = None
    submit_job: dict[str, Any] | None = None
    run_parameters: dict[str, Any] | None = Field(default=None, description="parameters.json of a direct job")
    manifest: dict[str, Any] | None = None


def load_base_input(path: Path | None) -> dict[str, Any]:
    path = Path(path or DEFAULT_BASE_INPUT)
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PlanError(f"cannot read the base execution input {path}: {exc}") from None


# The paper timed one iteration with the seed's fixed step (1e-4): one gradient job per iteration. The exact
# line search (the default, and the examples' rule) adds a Born modelling job per iteration, which the cost
# model and the published times do not have; so the campaigns set the seed's step whatever the base input says.
SEED_STEP = {"step_rule": "fixed", "step_length": 1, "step_scaling": -10_000}


def _input(base: dict[str, Any], *, batchsize: int, physics: dict[str, Any]) -> dict[str, Any]:
    raw = {**base, "iterations": ITERATION, "batchsize": batchsize, **SEED_STEP,
           "physics": {**base.get("physics", {}), **physics}}
    try:
        return RunParameters.parse(raw).model_dump(mode="json", exclude_none=True)
    except InvalidInput as exc:
        raise PlanError(str(exc)) from None


# What each experiment's run id says (as _run_id builds it below); `collect` reads the labels back.
RUN_ID_LABELS: dict[str, re.Pattern] = {
    "weak": re.compile(r"-weak-n(?P<batchsize>\d+)-r(?P<repeat>\d+)$"),
    "cost": re.compile(r"-cost-n(?P<batchsize>\d+)-r(?P<repeat>\d+)$"),
    "resilience": re.compile(r"-resilience-f(?P<failure_percent>\d+)-r(?P<repeat>\d+)$"),
    "openmp": re.compile(r"-openmp-(?P<ht>ht|noht)-t(?P<threads>\d+)-r(?P<repeat>\d+)$"),
    "mpi": re.compile(r"-mpi-[a-z0-9]+-n(?P<nodes>\d+)-r(?P<repeat>\d+)$"),
    "hybrid": re.compile(r"-hybrid-(?P<case>[a-z0-9-]+?)-r(?P<repeat>\d+)$"),
}


def _run_id(*parts: object) -> str:
    try:
        return check_run_id("-".join(str(p) for p in parts))
    except InvalidInput as exc:
        raise PlanError(str(exc)) from None


# --- executions of the workflow ----------------------------------------------------------------------


def _execution_plan(dep: Deployment, run_id: str, experiment: str, execution_input: dict, parameters: dict) -> Plan:
    return Plan(
        run_id=run_id, experiment=experiment, parameters=parameters, queue=dep.gradient_queue,
        start_execution={"stateMachineArn": dep.state_machine_arn, "name": run_id,
                         "input": json.dumps(execution_input, sort_keys=True)},
    )


def plan_weak(p: WeakParams, dep: Deployment) -> list[Plan]:
    plans = []
    for n in p.batch_sizes:
        execution_input = _input(p.base_input, batchsize=n, physics=_paper_restricted())
        for k in range(p.runs):
            run_id = _run_id(p.campaign, "weak", f"n{n:04d}", f"r{k}")
            plans.append(_execution_plan(dep, run_id, "weak", execution_input, {"batchsize": n, "repeat": k}))
    return plans


def plan_cost(p: CostParams, dep: Deployment) -> list[Plan]:
    execution_input = _input(p.base_input, batchsize=p.shots, physics=_paper_restricted())
    return [_execution_plan(dep, _run_id(p.campaign, "cost", f"n{p.shots:04d}", f"r{k}"), "cost", execution_input,
                            {"batchsize": p.shots, "repeat": k}) for k in range(p.runs)]


def plan_resilience(p: ResilienceParams, dep: Deployment) -> list[Plan]:
    execution_input = _input(p.base_input, batchsize=p.shots, physics=_paper_restricted())
    plans = []
    for k in range(p.runs):
        run_id = _run_id(p.campaign, "resilience", f"f{round(p.failure_rate * 100):02d}", f"r{k}")
        plans.append(_execution_plan(dep, run_id, "resilience", execution_input, {
            "batchsize": p.shots, "failure_rate": p.failure_rate, "window_start_s": p.window_s[0],
            "window_end_s": p.window_s[1], "seed": p.seed + k, "repeat": k}))
    return plans


def _paper_restricted() -> dict[str, Any]:
    # weak scaling and cost: cross-correlation, no preconditioning, model cut to the aperture + 500 m
    return {"imaging": "xcorr", "preconditioning": False, "aperture_buffer_m": RESTRICTED_BUFFER_M}


# --- direct jobs ----------------------------------------------------------------------------------


def _fits(queue: Queue, *, vcpus: int, memory_mib: int, setting: str) -> None:
    if not queue.instance_types:
        raise PlanError(f"queue {queue.name}: its compute environment names no instance types")
    if vcpus > queue.online_cpus:
        raise PlanError(f"{setting}={vcpus} but queue {queue.name} offers {queue.online_cpus} CPUs per instance: "
                        f"{queue.describe_cpus()}; the job would never start")
    if memory_mib > queue.usable_memory_mib:
        raise PlanError(f"memory {memory_mib} MiB exceeds what {'/'.join(queue.instance_types)} in {queue.name} "
                        f"gives a job ({queue.usable_memory_mib} MiB)")


def _shot_index(base: dict[str, Any], shot: int) -> int:
    data = base.get("data", {})
    index = shot - int(data.get("first_shot", 0))
    if not 0 <= index < int(data.get("num_shots", 0)):
        raise PlanError(f"shot {shot} is not in the base input's data (first_shot {data.get('first_shot', 0)}, "
                        f"num_shots {data.get('num_shots')})")
    return index


def _direct_setup(p: _Params, dep: Deployment, run_id: str, shot: int, physics: dict) -> tuple[dict, dict]:
    run_parameters = {**_input(p.base_input, batchsize=1, physics=physics), "bucket": dep.bucket}
    params = RunParameters.parse(run_parameters)
    manifest = IterationManifest(run_id=run_id, iteration=ITERATION, shots=[_shot_index(p.base_input, shot)],
                                 step_size=params.step_size, step_rule=params.step_rule, task_token=NO_EXECUTION_TOKEN)
    return run_parameters, json.loads(manifest.to_json())


def _env(run_id: str, extra: dict[str, str]) -> list[dict[str, str]]:
    env = {"RUN_ID": run_id, "ITERATION": str(ITERATION), **extra}
    return [{"name": k, "value": v} for k, v in env.items()]


def _resources(vcpus: int, memory_mib: int) -> list[dict[str, str]]:
    return [{"type": "VCPU", "value": str(vcpus)}, {"type": "MEMORY", "value": str(memory_mib)}]


def _single_job(dep: Deployment, queue: Queue, run_id: str, *, threads: int, vcpus: int, memory_mib: int,
                extra_env: dict[str, str] | None = None, command: list[str] | None = None) -> dict[str, Any]:
    overrides: dict[str, Any] = {
        "environment": _env(run_id, {"OMP_NUM_THREADS": str(threads), **(extra_env or {})}),
        "resourceRequirements": _resources(vcpus, memory_mib),
    }
    if command:
        overrides["command"] = command
    return {
        "jobName": run_id[:128],
        "jobQueue": queue.name,
        "jobDefinition": dep.gradient_job_definition,
        **job_identity(run_id, ITERATION),  # as the workflow's jobs: the failure rule and the clean-up read it
        "containerOverrides": overrides,
    }


def _single_node_queue(dep: Deployment, key: str) -> Queue:
    try:
        queue = dep.queue(key)
    except DeploymentError as exc:
        raise PlanError(str(exc)) from None
    if queue.multi_node:
        raise PlanError(f"queue {queue.name} is a multi-node queue; single-node runs need another")
    return queue


def plan_openmp(p: OpenMpParams, dep: Deployment) -> list[Plan]:
    queue = _single_node_queue(dep, p.queue)
    hyperthreading = queue.hyperthreading  # the pool's, whatever the user believes
    if p.hyperthreading is not None and p.hyperthreading != hyperthreading:
        raise PlanError(f"--hyperthreading {'on' if p.hyperthreading else 'off'} contradicts queue {queue.name}: "
                        f"{queue.describe_cpus()}; drop the option or choose a queue whose pool has "
                        f"hyper-threading {'on' if p.hyperthreading else 'off'} (batch.compute_environments)")
    for t in p.threads:
        _fits(queue, vcpus=t, memory_mib=p.memory_mib, setting="threads")
    plans = []
    ht = "ht" if hyperthreading else "noht"
    for t in p.threads:
        for k in range(p.runs):
            run_id = _run_id(p.campaign, "openmp", ht, f"t{t:03d}", f"r{k}")
            run_parameters, manifest = _direct_setup(p, dep, run_id, p.shot, {"aperture_buffer_m": FULL_MODEL_BUFFER_M})
            plans.append(Plan(
                run_id=run_id, experiment="openmp", queue=queue.name,
                parameters={"threads": t, "hyperthreading": hyperthreading, "shot": p.shot, "repeat": k,
                            "instance_type": queue.instance_types[0]},
                submit_job=_single_job(dep, queue, run_id, threads=t, vcpus=t, memory_mib=p.memory_mib),
                run_parameters=run_parameters, manifest=manifest,
            ))
    return plans


def plan_mpi(p: MpiParams, dep: Deployment) -> list[Plan]:
    try:
        queue = dep.queue(p.queue)
    except DeploymentError as exc:
        raise PlanError(str(exc)) from None
    if not queue.multi_node:
        raise PlanError(f"queue {queue.name} is not a multi-node queue (MPI runs need one)")
    threads = p.threads or queue.cores_per_socket  # the paper: one socket, 24 on r5, 18 on c5n
    memory = p.memory_mib or min(180_000, queue.usable_memory_mib)
    _fits(queue, vcpus=threads, memory_mib=memory, setting="threads")
    if max(p.nodes) * queue.vcpus > queue.max_vcpus:
        raise PlanError(f"{max(p.nodes)} nodes of {queue.instance_types[0]} need {max(p.nodes) * queue.vcpus} vCPUs; "
                        f"queue {queue.name} allows {queue.max_vcpus}")
    plans = []
    for n in p.nodes:
        for k in range(p.runs):
            run_id = _run_id(p.campaign, "mpi", queue.instance_types[0].replace(".", ""), f"n{n:02d}", f"r{k}")
            run_parameters, manifest = _direct_setup(p, dep, run_id, p.shot, {"aperture_buffer_m": FULL_MODEL_BUFFER_M})
            env = _env(run_id, {"ARRAY_INDEX": "0", "OMP_NUM_THREADS": str(threads)})
            submit = {
                "jobName": run_id[:128],
                "jobQueue": queue.name,
                "jobDefinition": dep.mpi_job_definition,
                **job_identity(run_id, ITERATION),
                "nodeOverrides": {
                    "numNodes": n,
                    "nodePropertyOverrides": [{
                        "targetNodes": "0:",
                        "containerOverrides": {"environment": env, "resourceRequirements": _resources(threads, memory)},
                    }],
                },
            }
            plans.append(Plan(
                run_id=run_id, experiment="mpi", queue=queue.name,
                parameters={"nodes": n, "threads": threads, "instance_type": queue.instance_types[0],
                            "shot": p.shot, "repeat": k},
                submit_job=submit, run_parameters=run_parameters, manifest=manifest,
            ))
    return plans


# case -> (OpenMP threads per rank, MPI ranks, model buffer)
HYBRID_CASES: dict[str, tuple[int, int, float]] = {
    "omp24-half": (24, 1, HALF_MODEL_BUFFER_M),
    "omp24": (24, 1, FULL_MODEL_BUFFER_M),
    "omp48": (48, 1, FULL_MODEL_BUFFER_M),
    "mpi2x24": (24, 2, FULL_MODEL_BUFFER_M),
}


def plan_hybrid(p: HybridParams, dep: Deployment) -> list[Plan]:
    queue = _single_node_queue(dep, p.queue)
    for case in p.cases:
        threads, ranks, _ = HYBRID_CASES[case]
        _fits(queue, vcpus=threads * ranks, memory_mib=p.memory_mib, setting=f"{case} CPUs")
    plans = []
    for case in p.cases:
        threads, ranks, buffer_m = HYBRID_CASES[case]
        for k in range(p.runs):
            run_id = _run_id(p.campaign, "hybrid", case, f"r{k}")
            run_parameters, manifest = _direct_setup(p, dep, run_id, p.shot, {"aperture_buffer_m": buffer_m})
            extra, command = {}, None
            if ranks > 1:
                # two ranks in one container, one per socket (the seed's `mpirun -np 2 --map-by socket`)
                extra = {"DEVITO_MPI": "1"}
                command = ["mpiexec", "-launcher", "fork", "-n", str(ranks), "-bind-to", "socket",
                           "python", WORKER_SCRIPT]
            plans.append(Plan(
                run_id=run_id, experiment="hybrid", queue=queue.name,
                parameters={"case": case, "threads": threads, "ranks": ranks, "shot": p.shot, "repeat": k},
                submit_job=_single_job(dep, queue, run_id, threads=threads, vcpus=threads * ranks,
                                       memory_mib=p.memory_mib, extra_env=extra, command=command),
                run_parameters=run_parameters, manifest=manifest,
            ))
    return plans
