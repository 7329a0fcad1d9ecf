"""The deployment a plan needs, read from cdk.out instead of CloudFormation: no stack, no credentials.

BatchStack's template holds every fact a plan uses (queue names, the ComputePools output, job definition
and state machine references, each compute environment's vCPU ceiling); what exists only once deployed
(ARNs, the bucket's generated name) becomes a placeholder naming what it stands for, so a plan printed
offline shows the same submissions with `<...>` where the deployed value will be.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reproduce.outputs import (
    COMPUTE_POOLS,
    REQUIRED_OUTPUTS,
    Deployment,
    DeploymentError,
    Queue,
    parse_compute_pools,
)

STACK = "BatchStack"  # the stack id in cdk.out (the deployed stack is named <prefix>-batch)


def deployment_from_cdk_out(cdk_out: Path, stack: str = STACK) -> Deployment:
    path = Path(cdk_out) / f"{stack}.template.json"
    if not path.exists():
        raise DeploymentError(f"{path} does not exist: synthesize first (`hpcx synth`)")
    template = json.loads(path.read_text())
    resources = template.get("Resources", {})
    queue_names = {
        logical_id: r["Properties"].get("JobQueueName") or logical_id
        for logical_id, r in resources.items() if r["Type"] == "AWS::Batch::JobQueue"
    }
    outputs = {key: _flatten(o["Value"], queue_names) for key, o in template.get("Outputs", {}).items()}
    missing = [k for k in (*REQUIRED_OUTPUTS, COMPUTE_POOLS) if k not in outputs]
    if missing:
        raise DeploymentError(f"{path} has no output(s) {', '.join(missing)}: it is not a BatchStack template")
    pools = parse_compute_pools(outputs[COMPUTE_POOLS])
    max_vcpus = _max_vcpus_by_queue(resources, queue_names)
    queues = {
        pool["queue"]: Queue(
            key=key, name=pool["queue"], arn=f"<{pool['queue']} ARN>", compute_environment=f"<{key} environment>",
            instance_types=tuple(pool["instance_types"]), online_cpus=int(pool["online_cpus"]),
            threads_per_core=int(pool["threads_per_core"]), spot=bool(pool["spot"]),
            multi_node=bool(pool["multi_node"]), max_vcpus=max_vcpus.get(pool["queue"], 0), vcpus=int(pool["vcpus"]),
            cores_per_socket=int(pool["cores_per_socket"]), usable_memory_mib=int(pool["usable_memory_mib"]),
        )
        for key, pool in pools.items()
    }
    return Deployment(stack_name=f"{stack} in {cdk_out}", queues=queues,
                      **{attr: outputs[key] for key, attr in REQUIRED_OUTPUTS.items()})


def _flatten(value: Any, queue_names: dict[str, str]) -> str:
    """An output value as text: a queue's name where the template derives it from the queue's ARN (CDK's
    Fn::Select/Fn::Split chain), Fn::Join joined, other references as `<logical id>`."""
    if isinstance(value, str | int | float):
        return str(value)
    (fn, arg), = value.items()
    if fn == "Fn::Select":
        text = json.dumps(arg)
        named = [name for logical_id, name in queue_names.items() if f'"{logical_id}", "JobQueueArn"' in text]
        if len(named) == 1:
            return named[0]
    if fn == "Fn::Join":
        separator, parts = arg
        return separator.join(_flatten(p, queue_names) for p in parts)
    if fn == "Ref":
        return queue_names.get(arg, f"<{arg}>")
    if fn == "Fn::GetAtt":
        return f"<{'.'.join(arg)}>"
    return f"<{fn}>"


def _max_vcpus_by_queue(resources: dict, queue_names: dict[str, str]) -> dict[str, int]:
    out = {}
    for logical_id, name in queue_names.items():
        order = resources[logical_id]["Properties"].get("ComputeEnvironmentOrder", [])
        ref = order[0].get("ComputeEnvironment") if order else None  # a Ref or a GetAtt ... Arn
        target = (ref.get("Ref") or ref.get("Fn::GetAtt", [None])[0]) if isinstance(ref, dict) else ref
        environment = resources.get(target, {})
        out[name] = int(environment.get("Properties", {}).get("ComputeResources", {}).get("MaxvCpus", 0))
    return out
