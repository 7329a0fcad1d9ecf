"""Run the AutoMon experiment state machine *as synthesized into cdk.out* on this machine.

    python -m localcloud.automon                          # centralization, inner_product, 40 rounds
    python -m localcloud.automon --iterations 60 --window 10 --cdk-out cdk.out

What runs for real: the definition from AutoMonNodesStack's template (every state, Map, Retry and Catch,
through localcloud.sfn), every Lambda handler in lambda/automon_*, the coordinator and every node as
processes of the container entrypoint (containers/automon/task.py -> python -m workloads.automon) talking
ZeroMQ over 127.0.0.1, and their uploads of the results JSON.

What is emulated, and how:
- S3, STS, SSM, IAM and EC2: moto's server on 127.0.0.1 (AWS_ENDPOINT_URL). The coordinator stack's side
  is made in moto from AutoMonCoordinatorStack's template: the launcher role, the details parameter
  (its value as synthesized, with moto's subnet, security group and launch template ids) and the launch
  template. The coordinator Lambda assumes the role, reads the parameter and calls RunInstances,
  DescribeInstances and TerminateInstances against moto, unchanged.
- The coordinator *instance*: moto keeps the instance records; `CoordinatorHosts` plays the instance's
  boot script for each one carrying the token tag: it runs the coordinator command of the user data with
  the user data's `-e` variables and the instance's automon-env-* tags, and terminates the instance when
  the process ends (the script's `shutdown -h now`); a terminated instance's process gets SIGTERM.
- The network: a coordinator's public address (moto's) maps to 127.0.0.1 and a free local port, which
  node tasks get as HOST and PORT (the port in the template, 6400, may be taken here); the coordinator
  binds 127.0.0.1 only.
- ECS for the nodes: localcloud.services.ecs_emulator, one process per task with the task definition's
  command and environment plus the RunTask overrides; ecs:runTask.sync waits for the process and fails
  the state (States.TaskFailed, the task as Cause) on a non-zero exit. The clean-up Lambda lists,
  describes and stops those same tasks through AWS_ENDPOINT_URL_ECS.
- Local sizes and link: ITERATIONS, WINDOW and LINK_LATENCY (28 ms each way: the paper's 56 ms RTT) are
  added to every container's environment (the deployed stack runs the published sizes on a real WAN);
  node counts come from the synthesized config (`-c automon.node_counts=...`).
  Retry intervals and waits are scaled by `time_scale` (GatherResults waits 20 s between tries on AWS).

- IAM: both templates' roles, recreated in moto (localcloud/services/local_iam.py), each stack resolved
  in its own region (the manifest's: nodes us-east-2, coordinator us-west-2, as their ARNs hard-code).
  Every Lambda function runs as worker processes with its role's session; node tasks with the task
  role's (the execution role pulls the image and opens the log stream first); the coordinator with the
  instance role's (image and log stream checked first; a refusal fails the boot script and the
  instance terminates); the coordinator Lambda's EC2/SSM calls under the launcher role it assumes; the
  state machine's Tasks and its ecs:RunTask (with iam:PassRole, ecs:cluster) under its role; the
  clean-up's ECS calls through the local endpoint under the clean-up role. The results bucket takes
  its physical name, which the coordinator stack's policy names. The run reports the `iam` counters.

Not emulated: the Fargate coordinator kind (the default, EC2, is what runs here), images, the automon
package (centralization runs; automon needs the package).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localcloud.runs import LocalRun, download_prefix, failure_line
from localcloud.services.api_server import ApiError
from localcloud.services.ecs_emulator import (
    EcsHttpServer,
    LocalEcs,
    LocalTask,
    RunTaskSync,
    TaskDefinitionSpec,
    environment_of_image,
)
from localcloud.services.environment import local_bucket_name
from localcloud.services.lambda_runtime import CALLER_ONLY
from localcloud.services.local_iam import LocalIam
from localcloud.services.moto_server import free_port, moto_server
from localcloud.services.stack_iam import StackIam, access_key_of
from localcloud.services.template import REPO_ROOT, SynthesizedStack
from localcloud.services.template_roles import PolicyResolver, template_roles
from localcloud.sfn.resources import PLACEHOLDER_ACCOUNT
from workloads.automon.constants import LOCAL_LINK_LATENCY_S

EXPERIMENT = "automon"
STACK = "AutoMonNodesStack"
COORDINATOR_STACK = "AutoMonCoordinatorStack"
MACHINE_SUFFIX = "AutoMon-Experiment"
ENTRYPOINT = [sys.executable, str(REPO_ROOT / "containers" / "automon" / "task.py")]  # the image's ENTRYPOINT
DOCKERFILE = REPO_ROOT / "containers" / "automon" / "Dockerfile"
LOOPBACK = "127.0.0.1"
MOTO_AMI = "ami-12c6146b"  # one of moto's images; the template's AMI is an SSM lookup
DEFAULT_INPUT = {"algorithm": "centralization", "node_types": ["inner_product"]}
INSTANCE_POLL_S = 0.1
ADDRESS_WAIT_S = 15.0


@dataclass(frozen=True)
class LocalSizes:
    """The run's length and link, added to every container's environment (ITERATIONS, WINDOW, LINK_LATENCY)."""

    iterations: int = 40
    window: int | None = None  # None: the node type's
    link_latency_s: float = LOCAL_LINK_LATENCY_S  # each side holds what it receives this long (the WAN link)

    def environment(self) -> dict[str, str]:
        env = {"ITERATIONS": str(self.iterations), "LINK_LATENCY": str(self.link_latency_s)}
        if self.window is not None:
            env["WINDOW"] = str(self.window)
        return env


# --- the coordinator stack, from its template ----------------------------------------------------------
def _flatten(stack: SynthesizedStack, value: Any) -> str:
    """A Fn::Join of strings and Refs as text; other intrinsics (image URIs) become <unresolved>."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(_flatten(stack, p) for p in parts)
    if isinstance(value, dict) and "Ref" in value:
        return str(stack.resolve(value))
    return "<unresolved>"


def coordinator_boot(stack: SynthesizedStack) -> tuple[dict[str, str], list[str]]:
    """(the `-e` variables, the container command) of the coordinator launch template's `docker run`."""
    (template,) = stack.of_type("AWS::EC2::LaunchTemplate").values()
    script = _flatten(stack, template["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"])
    (line,) = [ln for ln in script.splitlines() if ln.startswith("docker run ")]
    static = dict(re.findall(r" -e (\w+)=(\S+)", line))
    return static, [line.split()[-1]]


@dataclass
class CoordinatorHost:
    instance_id: str
    public_ip: str
    port: int
    environment: dict[str, str]
    log: Path
    process: subprocess.Popen
    ended_by: str | None = None  # "exited" (then the instance was terminated) or "instance terminated"


class CoordinatorHosts:
    """The coordinator instances moto holds, each played by a local coordinator process (see the module doc)."""

    def __init__(self, ec2, *, token_tag: str, setting_prefix: str, static_env: dict[str, str],
                 command: list[str], base_env: dict[str, str], workdir: Path, stop_grace_s: float = 5.0,
                 before_boot: Callable[[str], None] = lambda instance_id: None) -> None:
        """`base_env`: what the process starts from (the instance role's session included); `before_boot`:
        the boot script's work with the instance role before the coordinator runs (pulling the image,
        the log stream); when it raises, the script fails and the instance shuts down (terminates)."""
        self.ec2, self.token_tag, self.setting_prefix = ec2, token_tag, setting_prefix
        self.static_env, self.command, self.base_env = static_env, command, base_env
        self.workdir, self.stop_grace_s, self.before_boot = workdir, stop_grace_s, before_boot
        self.refused: dict[str, str] = {}  # instance id -> why its boot script failed
        self.hosts: dict[str, CoordinatorHost] = {}
        self._addresses: dict[str, int] = {}
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._reconciling = threading.Lock()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="coordinator-hosts")

    def __enter__(self) -> CoordinatorHosts:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        for host in self.hosts.values():
            if host.process.poll() is None:
                host.ended_by = host.ended_by or "local shutdown"
                self._end(host.process)

    def local_address(self, public_ip: str, timeout_s: float = ADDRESS_WAIT_S) -> tuple[str, int] | None:
        """(127.0.0.1, port) of the coordinator at `public_ip`, once its instance runs here; None if none does."""
        with self._changed:
            self._changed.wait_for(lambda: public_ip in self._addresses, timeout_s)
            port = self._addresses.get(public_ip)
        return None if port is None else (LOOPBACK, port)

    def reconcile(self) -> None:
        """One look at moto's instances: boot the new ones, end the processes of terminated ones."""
        with self._reconciling:
            pages = self.ec2.get_paginator("describe_instances").paginate(
                Filters=[{"Name": "tag-key", "Values": [self.token_tag]}])
            for instance in (i for page in pages for r in page["Reservations"] for i in r["Instances"]):
                self._reconcile(instance)

    def _loop(self) -> None:
        while not self._stop.wait(INSTANCE_POLL_S):
            self.reconcile()

    def _reconcile(self, instance: dict) -> None:
        instance_id, state = instance["InstanceId"], instance["State"]["Name"]
        host = self.hosts.get(instance_id)
        if host is None and instance_id in self.refused:
            return
        if host is None and state in ("pending", "running"):
            try:
                self.before_boot(instance_id)
            except ApiError as refused:  # set -e: the script stops, its trap shuts the instance down
                self.refused[instance_id] = str(refused)
                self.ec2.terminate_instances(InstanceIds=[instance_id])
                return
            self._boot(instance)
        elif host is not None and state not in ("pending", "running") and host.process.poll() is None:
            host.ended_by = "instance terminated"
            threading.Thread(target=self._end, args=(host.process,), daemon=True).start()
        elif host is not None and state == "running" and host.process.poll() is not None:
            host.ended_by = "exited"  # the boot script's trap: shutdown -h now, and the instance terminates
            self.ec2.terminate_instances(InstanceIds=[instance_id])

    def _boot(self, instance: dict) -> None:
        tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
        port = free_port()
        results = self.workdir / "coordinators" / instance["InstanceId"]
        results.mkdir(parents=True, exist_ok=True)
        env = {**self.static_env, "PORT": str(port), "BIND": LOOPBACK, "RESULTS_DIR": str(results / "results"),
               **{k[len(self.setting_prefix):]: v for k, v in tags.items() if k.startswith(self.setting_prefix)}}
        log = results / "coordinator.log"
        with open(log, "w") as out:
            process = subprocess.Popen([*ENTRYPOINT, *self.command], env={**self.base_env, **env}, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        public_ip = instance.get("PublicIpAddress") or instance["PrivateIpAddress"]
        self.hosts[instance["InstanceId"]] = CoordinatorHost(instance["InstanceId"], public_ip, port, env, log, process)
        with self._changed:
            self._addresses[public_ip] = port
            self._changed.notify_all()

    def _end(self, process: subprocess.Popen) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(self.stop_grace_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _coordinator_region(coordinator: SynthesizedStack, session_env: dict[str, str], client,
                        results_bucket: str) -> tuple[dict, dict[str, str], list[str], dict[str, str]]:
    """Make the coordinator stack's side in moto with `client(service, region)` (the runner's); returns
    (details, the container's static env, command, the ids moto gave the template's resources)."""
    region = session_env["COORDINATOR_REGION"]
    ec2 = client("ec2", region)
    (parameter,) = coordinator.of_type("AWS::SSM::Parameter").values()
    props = parameter["Properties"]
    if props["Name"] != session_env["COORDINATOR_PARAMETER"]:
        raise ValueError(f"the coordinator Lambda reads {session_env['COORDINATOR_PARAMETER']}, the coordinator "
                         f"stack writes {props['Name']}")
    default_subnets = iter(s["SubnetId"] for s in ec2.describe_subnets(
        Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"])
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    overrides: dict[str, str] = {}
    templates = []
    for part in props["Value"]["Fn::Join"][1]:
        if not isinstance(part, dict):
            continue
        ref = part.get("Ref") or part.get("Fn::GetAtt", [None])[0]
        rtype = coordinator.resources.get(ref, {}).get("Type")
        if rtype == "AWS::EC2::Subnet":
            overrides[ref] = next(default_subnets)
        elif rtype == "AWS::EC2::SecurityGroup":
            overrides[f"{ref}.GroupId"] = ec2.create_security_group(
                GroupName=ref, Description="AutoMon coordinator (local)", VpcId=vpc)["GroupId"]
        elif rtype == "AWS::EC2::LaunchTemplate":
            templates.append(ref)
        else:
            raise NotImplementedError(
                f"the coordinator details name {ref} ({rtype}); only the EC2 coordinator runs locally "
                "(synthesize with the default automon.coordinator kind 'ec2')")
    for ref in templates:  # after the security group it names
        overrides[ref] = _launch_template(coordinator, ref, overrides, client, region)
    value = coordinator.resolve(props["Value"], overrides)
    details = json.loads(value)
    if details["kind"] != "ec2":
        raise NotImplementedError("only the EC2 coordinator runs locally; this assembly has kind "
                                  f"{details['kind']!r}")
    client("ssm", region).put_parameter(Name=props["Name"], Value=value, Type="String")
    static, command = coordinator_boot(coordinator)
    if static.get("RESULTS_BUCKET") != results_bucket:
        raise ValueError(f"the coordinator uploads to {static.get('RESULTS_BUCKET')!r}, the nodes' results bucket "
                         f"is {results_bucket!r}")
    return details, static, command, overrides


def _launch_template(coordinator: SynthesizedStack, logical_id: str, overrides: dict[str, str], client,
                     region: str) -> str:
    """The launch template in moto with what IAM looks at when an instance is launched from it: its
    security groups, its instance profile (with the template's instance role), its tag specifications."""
    props = coordinator.resources[logical_id]["Properties"]
    data = props["LaunchTemplateData"]
    profile_id = data["IamInstanceProfile"]["Arn"]["Fn::GetAtt"][0]
    (role_ref,) = coordinator.resources[profile_id]["Properties"]["Roles"]
    role_name = PolicyResolver(coordinator).role_name(role_ref["Ref"])
    iam = client("iam", region)
    profile = iam.create_instance_profile(InstanceProfileName=profile_id)["InstanceProfile"]
    iam.add_role_to_instance_profile(InstanceProfileName=profile_id, RoleName=role_name)
    local = {
        "ImageId": MOTO_AMI, "InstanceType": data["InstanceType"],
        "SecurityGroupIds": [str(coordinator.resolve(g, overrides)) for g in data.get("SecurityGroupIds", [])],
        "IamInstanceProfile": {"Arn": profile["Arn"]},
        "TagSpecifications": coordinator.resolve(data.get("TagSpecifications", []), overrides),
    }
    return client("ec2", region).create_launch_template(
        LaunchTemplateName=props["LaunchTemplateName"], LaunchTemplateData=local)["LaunchTemplate"]["LaunchTemplateId"]


def coordinator_instance_role(coordinator: SynthesizedStack) -> dict:
    """A reference ({"Fn::GetAtt": [role, "Arn"]}) to the role of the launch template's instance profile."""
    (template,) = coordinator.of_type("AWS::EC2::LaunchTemplate").values()
    profile_id = template["Properties"]["LaunchTemplateData"]["IamInstanceProfile"]["Arn"]["Fn::GetAtt"][0]
    (role_ref,) = coordinator.resources[profile_id]["Properties"]["Roles"]
    return {"Fn::GetAtt": [role_ref["Ref"], "Arn"]}


def coordinator_agent(coordinator: SynthesizedStack) -> tuple[Any, dict]:
    """(the image, the awslogs options) of the boot script's `docker run`: what the instance role pulls
    and writes before the coordinator starts."""
    (template,) = coordinator.of_type("AWS::EC2::LaunchTemplate").values()
    parts = template["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"]["Fn::Join"][1]
    image = next(p for p in parts if isinstance(p, dict) and ".dkr.ecr." in json.dumps(p) and "Fn::Sub" in p)
    options: dict[str, Any] = {}
    for before, after in zip(parts, parts[1:], strict=False):
        if isinstance(before, str) and before.endswith("awslogs-group="):
            options["awslogs-group"] = after
        if isinstance(before, str) and "awslogs-region=" in before:
            options["awslogs-region"] = re.search(r"awslogs-region=(\S+)", before).group(1)
    return image, options


# --- one local execution -----------------------------------------------------------------------------
@dataclass(kw_only=True)
class AutomonRun(LocalRun):
    node_tasks: list[LocalTask] = field(default_factory=list)
    coordinators: list[CoordinatorHost] = field(default_factory=list)
    # what was still alive when the execution ended (before this runner stopped it)
    alive_at_end: list[str] = field(default_factory=list)


def _task_definitions(stack: SynthesizedStack, overrides: dict[str, str], stack_iam: StackIam) -> list[TaskDefinitionSpec]:
    """Each task definition with its roles: the task role's session for the process, the execution role
    for what the agent does first (the image, the awslogs stream <prefix>/<container>/<task id>)."""
    specs = []
    for logical_id, td in stack.of_type("AWS::ECS::TaskDefinition").items():
        props = td["Properties"]
        (container,) = props["ContainerDefinitions"]
        env = {e["Name"]: str(e["Value"]) for e in stack.resolve(container.get("Environment", []), overrides)}
        options = container.get("LogConfiguration", {}).get("Options", {})
        check = stack_iam.container_start_check(props.get("ExecutionRoleArn"), container.get("Image"), options)
        prefix = f"{options.get('awslogs-stream-prefix', 'ecs')}/{container['Name']}"
        roles = {k: stack_iam.role(props[k]) for k in ("TaskRoleArn", "ExecutionRoleArn") if k in props}
        specs.append(TaskDefinitionSpec(
            family=props["Family"], arn=stack.resolve({"Ref": logical_id}), container=container["Name"],
            command=list(container.get("Command", [])), environment=env,
            task_role_arn=roles["TaskRoleArn"].arn if "TaskRoleArn" in roles else None,
            execution_role_arn=roles["ExecutionRoleArn"].arn if "ExecutionRoleArn" in roles else None,
            role_environment=stack_iam.iam.credentials(roles["TaskRoleArn"]) if "TaskRoleArn" in roles else {},
            before_start=lambda task_id, check=check, prefix=prefix: check(f"{prefix}/{task_id}"),
        ))
    return specs


def _lambda_environment(functions) -> dict[str, str]:
    merged: dict[str, str] = {}
    for fn in functions.values():
        for key, value in fn.environment.items():
            if key == "POWERTOOLS_SERVICE_NAME":
                continue
            if merged.setdefault(key, str(value)) != str(value):
                raise ValueError(f"functions disagree on {key}: {merged[key]!r} vs {value!r}")
    return merged


def default_input() -> dict:
    """One centralization run of the inner-product nodes (the deployed stack's example input)."""
    return dict(DEFAULT_INPUT)


def check_input(cdk_out: Path, execution_input: dict, sizes: LocalSizes = LocalSizes()) -> None:
    """InvalidInput with automon_validate_input's message, before anything starts: the same plan() with the
    settings the template gives that handler (node counts, error bounds, what the image holds); then each
    item's node configuration with the local sizes, as every node process would check it at start (a
    window the rounds cannot fill would otherwise start a coordinator and nodes that all exit 2)."""
    from workloads.automon.config import RunConfig
    from workloads.automon.plan import InvalidInput, plan

    stack = SynthesizedStack.load(cdk_out, STACK)
    (validate,) = [f for f in stack.functions().values() if f.handler_folder == "automon_validate_input"]
    env = validate.environment
    run = plan(execution_input, execution="local-check", bucket=str(env["RESULTS_BUCKET"]),
               results_prefix=env["RESULTS_PREFIX"], node_counts=json.loads(env["NODE_COUNTS"]),
               error_bounds=json.loads(env["ERROR_BOUNDS"]), automon_in_image=env.get("AUTOMON_IN_IMAGE") == "1",
               datasets_in_image=env.get("DATASETS_IN_IMAGE") == "1")
    for item in run["items"]:
        try:
            RunConfig.for_type(item["node_type"], algorithm=run["algorithm"], num_nodes=item["num_nodes"],
                               error_bound=item["error_bound"], synthetic=item["env"]["SYNTHETIC"] == "1",
                               iterations=sizes.iterations, window=sizes.window)
        except ValueError as exc:
            window = sizes.window or "the node type's"
            raise InvalidInput(f"{item['key']}: {exc} (local sizes: iterations {sizes.iterations}, "
                               f"window {window}; see --iterations and --window)") from None


def run(
    cdk_out: Path,
    *,
    execution_input: dict | None = None,
    workdir: Path | None = None,
    execution: str | None = None,
    timeout_s: float = 600.0,
    on_progress: Callable[[str], None] = lambda message: None,
    sizes: LocalSizes = LocalSizes(),
    crash_node: int | None = None,
    stop_abandoned_tasks: bool = True,
    time_scale: float = 0.05,
) -> AutomonRun:
    """One execution of the synthesized AutoMon experiment; `execution_input`: the whole input
    (default: `default_input()`).

    `crash_node`: the node task with that NODE_IDX is killed as soon as it starts (a crashing container);
    `stop_abandoned_tasks`: whether the runTask.sync stand-in stops tasks a failed Map abandons (as Step
    Functions does) or leaves them to the state machine's StopNodeTasks clean-up."""
    from localcloud.sfn import Integrations, LocalStateMachine

    workdir = Path(workdir or tempfile.mkdtemp(prefix="automon-local-"))
    workdir.mkdir(parents=True, exist_ok=True)
    nodes = SynthesizedStack.load(cdk_out, STACK)
    coordinator = SynthesizedStack.load(cdk_out, COORDINATOR_STACK)
    machine_name, definition = nodes.state_machine_ending(MACHINE_SUFFIX)
    execution = execution or f"local-{int(time.time())}"
    request = execution_input if execution_input is not None else default_input()

    with moto_server() as moto_url:
        iam = LocalIam(moto_url, region=nodes.region)
        s3 = iam.client("s3")  # the runner's own calls (set-up, results)
        overrides = {logical_id: _create_bucket(s3, nodes, logical_id) for logical_id in nodes.of_type("AWS::S3::Bucket")}
        functions = nodes.functions(overrides)
        lambda_env = _lambda_environment(functions)
        results_bucket = lambda_env["RESULTS_BUCKET"]
        nodes_iam = StackIam(iam, PolicyResolver(nodes, overrides)).prepare()
        # the coordinator stack's roles: the instance's (its profile is part of the launch template made in
        # moto), then the launcher's (assumed by the coordinator Lambda), whose policy names what moto made
        instance_role_id = coordinator_instance_role(coordinator)["Fn::GetAtt"][0]
        iam.prepare([template_roles(PolicyResolver(coordinator, siblings=(nodes,)))[instance_role_id]])
        details, coordinator_env, coordinator_command, ids = _coordinator_region(
            coordinator, lambda_env, iam.client, results_bucket)
        coordinator_iam = StackIam(iam, PolicyResolver(coordinator, ids, siblings=(nodes,)))
        iam.prepare(r for r in coordinator_iam.roles.values() if r.arn == lambda_env["LAUNCHER_ROLE_ARN"])
        image, log_options = coordinator_agent(coordinator)
        agent_check = coordinator_iam.container_start_check(coordinator_instance_role(coordinator), image, log_options)
        instance_role = coordinator_iam.role(coordinator_instance_role(coordinator))

        image_env = {k: v for k, v in environment_of_image(DOCKERFILE).items()
                     if k not in ("PATH", "AUTOMON_DATA_DIR", "RESULTS_DIR")}  # paths of the image
        base_env = {**{k: v for k, v in os.environ.items() if k not in CALLER_ONLY}, **image_env,
                    "AWS_ENDPOINT_URL": moto_url, "AWS_DEFAULT_REGION": nodes.region,
                    "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1", **sizes.environment()}
        with iam.enforce(), CoordinatorHosts(
                iam.client("ec2", lambda_env["COORDINATOR_REGION"]), token_tag=details["token_tag"],
                setting_prefix=details["setting_tag_prefix"], static_env=coordinator_env, command=coordinator_command,
                base_env={**base_env, **iam.credentials(instance_role),
                          "AWS_DEFAULT_REGION": lambda_env["COORDINATOR_REGION"]},
                workdir=workdir, before_boot=lambda instance_id: agent_check(f"coordinator/{instance_id}")) as hosts:

            def network(env: dict[str, str]) -> dict[str, str]:
                address = hosts.local_address(env.get("HOST", ""))
                if address is None:
                    return env  # nothing listens there: the node times out, as it would on AWS
                return {**env, "HOST": address[0], "PORT": str(address[1])}

            ecs = LocalEcs(
                _task_definitions(nodes, overrides, nodes_iam), entrypoint=ENTRYPOINT, base_environment=base_env,
                log_dir=workdir / "tasks", environment_hook=network, region=nodes.region, account=PLACEHOLDER_ACCOUNT,
                task_directory=lambda task_id: {"RESULTS_DIR": str(workdir / "tasks" / task_id / "results")},
                crash=(lambda task: task.environment.get("NODE_IDX") == str(crash_node)) if crash_node is not None
                else None,
            )
            integrations = Integrations(authorize=nodes_iam.state_machine_authorizer(machine_name)).register_service(
                "ecs:runTask", RunTaskSync(ecs, stop_abandoned=stop_abandoned_tasks,
                                           authorize=nodes_iam.ecs_authorizer(machine_name)))

            def progress(event) -> None:
                if event.is_state_entered or event.type in ("MapIterationFailed", "ExecutionFailed"):
                    on_progress(f"{event.type} {event.state_name or ''}".strip())

            def ecs_caller(headers, action: str, resource: str, context: dict) -> None:
                iam.authorize_key(access_key_of(headers), action, resource, context)

            on_progress(f"executing {machine_name} from {cdk_out / (STACK + '.template.json')}")
            start = time.monotonic()
            with EcsHttpServer(ecs, authorize=ecs_caller) as ecs_server:
                runtimes = {logical_id: nodes_iam.lambda_runtime(
                    fn, endpoints={"AWS_ENDPOINT_URL": moto_url, "AWS_ENDPOINT_URL_ECS": ecs_server.url},
                    log_dir=workdir / "lambda-logs", base_environment={**os.environ, "POWERTOOLS_LOG_LEVEL": "WARNING"})
                    for logical_id, fn in functions.items()}
                for logical_id, runtime in runtimes.items():  # localcloud.asl names functions by logical id
                    integrations.register_lambda(logical_id, runtime)
                machine = LocalStateMachine(definition, integrations, name=machine_name, time_scale=time_scale)
                try:
                    result = machine.execute(request, name=execution, timeout=timeout_s, on_event=progress)
                finally:
                    elapsed = time.monotonic() - start
                    hosts.reconcile()  # instances the workflow terminated in the last moments
                    # what the workflow stopped gets its grace period to exit; then whatever is left is ours
                    deadline = time.monotonic() + ecs.stop_grace_s + 2
                    while time.monotonic() < deadline and (
                            any(t.process is not None and t.process.poll() is None and t.desired_status == "STOPPED"
                                for t in ecs.tasks.values())
                            or any(h.process.poll() is None and h.ended_by for h in hosts.hosts.values())):
                        time.sleep(0.05)
                    alive = [t.arn for t in ecs.running_processes()]
                    alive += [h.instance_id for h in hosts.hosts.values() if h.process.poll() is None]
                    ecs.shutdown()
                    for runtime in runtimes.values():
                        runtime.close()
        results_dir = download_prefix(s3, results_bucket, f"{lambda_env['RESULTS_PREFIX']}{execution}/",
                                      workdir / "results")
    return AutomonRun(
        experiment=EXPERIMENT, status=result.status, error=result.error, cause=result.cause, output=result.output,
        execution=execution, elapsed_s=elapsed, results_dir=results_dir, states=result.states_entered(),
        node_tasks=list(ecs.tasks.values()), coordinators=list(hosts.hosts.values()), alive_at_end=alive,
        iam=iam.stats.summary(), denials=list(iam.denials),
    )


def _create_bucket(s3, stack: SynthesizedStack, logical_id: str) -> str:
    """The bucket in moto, under its physical name where the template gives one (the coordinator stack's
    policy names the results bucket by it), else a local name."""
    props = stack.resources[logical_id].get("Properties", {})
    name = str(stack.resolve(props["BucketName"])) if "BucketName" in props else local_bucket_name(logical_id)
    where = {} if stack.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": stack.region}}
    s3.create_bucket(Bucket=name, **where)
    return name


def main(argv: list[str] | None = None, on_result: Callable[[AutomonRun], None] = lambda run: None) -> int:
    p = argparse.ArgumentParser(prog="python -m localcloud.automon", description=__doc__.split("\n")[0])
    p.add_argument("--cdk-out", type=Path, default=REPO_ROOT / "cdk.out", help="synthesized cloud assembly")
    p.add_argument("--input", type=json.loads, default=DEFAULT_INPUT, help="execution input (JSON)")
    p.add_argument("--iterations", type=int, default=LocalSizes.iterations, help="rounds per run (ITERATIONS)")
    p.add_argument("--window", type=int, default=None, help="sliding window (WINDOW); default: the node type's")
    p.add_argument("--workdir", type=Path, default=REPO_ROOT / "out" / "automon-local")
    p.add_argument("--execution", default=None, help="execution name (default local-<time>)")
    a = p.parse_args(argv)
    for stack in (STACK, COORDINATOR_STACK):
        if not (a.cdk_out / f"{stack}.template.json").exists():
            print(f"{a.cdk_out}/{stack}.template.json is missing: run `make synth` first", file=sys.stderr)
            return 2
    result = run(a.cdk_out, execution_input=a.input, sizes=LocalSizes(a.iterations, a.window), workdir=a.workdir,
                 execution=a.execution, on_progress=progress)
    on_result(result)
    show(result, a.workdir)
    print(result.results_dir)
    return 0 if result.status == "SUCCEEDED" else 1


def progress(message: str) -> None:
    # one write per line: the Map's node branches report from threads, and print() writes the newline
    # separately, so two lines could run together
    sys.stderr.write(f"[automon] {message}\n")
    sys.stderr.flush()


def show(result: AutomonRun, workdir: Path) -> None:
    """What a person reads after a run, on stderr (stdout is left to the caller's result)."""
    print(f"[automon] {result.status} in {result.elapsed_s:.1f} s: {len(result.coordinators)} coordinator(s), "
          f"{len(result.node_tasks)} node task(s)", file=sys.stderr)
    print(f"[automon] IAM: {result.iam.get('calls_evaluated', 0)} calls evaluated under the synthesized roles, "
          f"{result.iam.get('distinct_role_action_pairs', 0)} distinct (role, action) pairs, "
          f"{result.iam.get('denied', 0)} refused", file=sys.stderr)
    for denial in result.denials:
        print(f"[automon] AccessDenied {denial}", file=sys.stderr)
    if result.status != "SUCCEEDED":
        print(f"[automon] {failure_line(result, workdir)}", file=sys.stderr)
    for summary in sorted(result.results_dir.glob("**/summary.json")):
        doc = json.loads(summary.read_text())
        print(f"[automon] {doc['key']}: {doc['status']}, coordinator received {doc['messages']['received']} "
              f"messages / {doc['bytes']['received']} bytes", file=sys.stderr)
    print(f"[automon] logs: {workdir / 'tasks'} and {workdir / 'coordinators'}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
