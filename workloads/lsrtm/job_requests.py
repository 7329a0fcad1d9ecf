"""The Batch SubmitJob requests of one iteration: what each gradient job is told (run, iteration, bucket,
its shot through the array index) and the resources the execution input asked for.

`stage` "curvature" (exact step rule): the same job definition and shots, the worker told WORKER_MODE=
curvature; the job's "stage" parameter lets the failure handler fail the MeasureCurvature state's token."""

from __future__ import annotations

from workloads.lsrtm.params import RunParameters

CURVATURE = "curvature"


def job_identity(run_id: str, iteration: int, stage: str = "gradient") -> dict:
    """What names a job's run, iteration and stage to the rest of the workflow: its parameters (the failure
    rule's event carries them), its tags (the clean-up terminates by run_id) and their propagation. Every
    job that writes into a run carries these, the reproduce launchers' direct jobs too."""
    parameters = {"run_id": run_id, "iteration": str(iteration)}
    if stage == CURVATURE:
        parameters["stage"] = CURVATURE
    return {"parameters": parameters, "tags": {"run_id": run_id, "iteration": str(iteration)}, "propagateTags": True}


def _common(run_id: str, bucket: str, iteration: int, stage: str) -> dict:
    env = {"RUN_ID": run_id, "ITERATION": str(iteration), "DATA_BUCKET": bucket}
    if stage == CURVATURE:
        env["WORKER_MODE"] = CURVATURE
    return {**job_identity(run_id, iteration, stage), "env": [{"name": k, "value": v} for k, v in env.items()]}


def _resources(params: RunParameters) -> list[dict]:
    out = []
    if params.job.vcpus:
        out.append({"type": "VCPU", "value": str(params.job.vcpus)})
    if params.job.memory_mib:
        out.append({"type": "MEMORY", "value": str(params.job.memory_mib)})
    return out


def _suffix(stage: str) -> str:
    return "-curvature" if stage == CURVATURE else ""


def array_job(params: RunParameters, run_id: str, bucket: str, iteration: int, size: int, *, queue: str,
              definition: str, stage: str = "gradient") -> dict:
    """SubmitJob's arguments for one iteration's array job: child i computes the iteration's shot i."""
    common = _common(run_id, bucket, iteration, stage)
    request = {
        "jobName": f"{run_id}-it{iteration}{_suffix(stage)}"[:128],
        "jobQueue": queue,
        "jobDefinition": definition,
        "parameters": common["parameters"],
        "tags": common["tags"],
        "propagateTags": True,
        "containerOverrides": {"environment": common["env"], "resourceRequirements": _resources(params)},
    }
    if size > 1:  # Batch array jobs need at least 2 children; one shot runs as a plain job (index 0)
        request["arrayProperties"] = {"size": size}
    return request


def multi_node_job(params: RunParameters, run_id: str, bucket: str, iteration: int, index: int, *, queue: str,
                   definition: str, stage: str = "gradient") -> dict:
    """SubmitJob's arguments for the multi-node (MPI) job of the iteration's shot `index`."""
    common = _common(run_id, bucket, iteration, stage)
    env = [*common["env"], {"name": "ARRAY_INDEX", "value": str(index)}]
    return dict(
        jobName=f"{run_id}-it{iteration}-shot{index}{_suffix(stage)}"[:128],
        jobQueue=queue,
        jobDefinition=definition,
        parameters=common["parameters"],
        tags=common["tags"],
        propagateTags=True,
        nodeOverrides={
            "numNodes": params.job.num_nodes,
            "nodePropertyOverrides": [
                {"targetNodes": "0:", "containerOverrides": {"environment": env, "resourceRequirements": _resources(params)}}
            ],
        },
    )
