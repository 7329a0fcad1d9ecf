"""What the local runner needs from a synthesized template: functions and their handlers, job queues
and definitions, queues, event source mappings, EventBridge rules and state machines."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localcloud.asl import PLACEHOLDER_REGION, resolve, state_machines

REPO_ROOT = Path(__file__).resolve().parents[2]
# Image paths of container entrypoints -> the files of this repository they are built from.
ENTRYPOINTS = {"/opt/app/worker.py": REPO_ROOT / "containers" / "gradient_worker" / "worker.py"}


@dataclass
class FunctionSpec:
    logical_id: str
    handler_folder: str
    environment: dict[str, Any]
    arn: str


@dataclass
class SynthesizedStack:
    name: str
    template: dict
    # the stack's region when it is deployed to one (its ARNs hard-code it), else the placeholder region
    region: str = PLACEHOLDER_REGION
    resources: dict = field(init=False)

    def __post_init__(self) -> None:
        self.resources = self.template.get("Resources", {})

    @classmethod
    def load(cls, outdir: Path, stack: str) -> SynthesizedStack:
        template = json.loads((Path(outdir) / f"{stack}.template.json").read_text())
        return cls(stack, template, stack_region(outdir, stack))

    def of_type(self, resource_type: str) -> dict[str, dict]:
        return {k: v for k, v in self.resources.items() if v["Type"] == resource_type}

    def resolve(self, value: Any, overrides: dict[str, Any] | None = None) -> Any:
        """localcloud.asl.resolve, with local values for chosen logical ids (Ref and GetAtt ... Arn)."""
        overrides = overrides or {}

        def substitute(v: Any) -> Any:
            if isinstance(v, dict) and len(v) == 1:
                (key, arg), = v.items()
                if key == "Ref" and arg in overrides:
                    return overrides[arg]
                if key == "Fn::GetAtt" and isinstance(arg, list) and f"{arg[0]}.{arg[1]}" in overrides:
                    return overrides[f"{arg[0]}.{arg[1]}"]
                return {key: substitute(arg)}
            if isinstance(v, dict):
                return {k: substitute(x) for k, x in v.items()}
            if isinstance(v, list):
                return [substitute(x) for x in v]
            return v

        return resolve(substitute(value), self.resources, self.region)

    def functions(self, overrides: dict[str, Any] | None = None) -> dict[str, FunctionSpec]:
        out = {}
        for logical_id, fn in self.of_type("AWS::Lambda::Function").items():
            command = fn["Properties"].get("ImageConfig", {}).get("Command")
            if not command:
                continue  # CDK's own helper functions (custom resources), not ours
            folder = command[0].split(".")[0]
            env = fn["Properties"].get("Environment", {}).get("Variables", {})
            arn = self.resolve({"Fn::GetAtt": [logical_id, "Arn"]})
            out[logical_id] = FunctionSpec(logical_id, folder, self.resolve(env, overrides), arn)
        return out

    def state_machines_by_name(self) -> dict[str, dict]:
        names = {
            k: v["Properties"].get("StateMachineName", k) for k, v in self.of_type("AWS::StepFunctions::StateMachine").items()
        }
        return {names[k]: definition for k, definition in state_machines(self.template, self.region).items()}

    def state_machine_ending(self, suffix: str) -> tuple[str, dict]:
        """(name, ASL) of the one state machine named `<prefix>-<suffix>` (the prefix is configurable)."""
        found = {name: d for name, d in self.state_machines_by_name().items() if name.endswith(f"-{suffix}")}
        if len(found) != 1:
            raise LookupError(f"expected one state machine named *-{suffix} in {self.name}, got {sorted(found)}")
        return next(iter(found.items()))

    def event_source_mappings(self) -> list[tuple[str, str, int]]:
        """(queue logical id, function logical id, batch size) per SQS event source mapping."""
        out = []
        for esm in self.of_type("AWS::Lambda::EventSourceMapping").values():
            props = esm["Properties"]
            queue = props["EventSourceArn"]["Fn::GetAtt"][0]
            out.append((queue, props["FunctionName"]["Ref"], int(props.get("BatchSize", 10))))
        return out

    def event_rules(self, overrides: dict[str, Any] | None = None) -> list[tuple[str, dict, list[str]]]:
        """(rule logical id, event pattern with local values, target function logical ids) per EventBridge rule."""
        out = []
        for logical_id, rule in self.of_type("AWS::Events::Rule").items():
            props = rule["Properties"]
            targets = [t["Arn"]["Fn::GetAtt"][0] for t in props.get("Targets", []) if "Fn::GetAtt" in t["Arn"]]
            out.append((logical_id, self.resolve(props["EventPattern"], overrides), targets))
        return out


def stack_region(outdir: Path, stack: str) -> str:
    """The region of the stack's environment in the assembly's manifest (aws://<account>/<region>), or the
    placeholder region for an environment-agnostic stack (or an assembly with no manifest)."""
    manifest = Path(outdir) / "manifest.json"
    if not manifest.exists():
        return PLACEHOLDER_REGION
    artifact = json.loads(manifest.read_text()).get("artifacts", {}).get(stack, {})
    region = artifact.get("environment", "").rsplit("/", 1)[-1]
    return PLACEHOLDER_REGION if region in ("", "unknown-region") else region


def matches(pattern: Any, event: Any) -> bool:
    """EventBridge matching for the pattern forms we use: nested objects and lists of exact values."""
    if isinstance(pattern, dict):
        return isinstance(event, dict) and all(k in event and matches(v, event[k]) for k, v in pattern.items())
    if isinstance(pattern, list):
        return event in pattern
    return pattern == event
