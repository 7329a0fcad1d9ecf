"""Amazon ECS on this machine: RunTask / ListTasks / DescribeTasks / StopTask, each task one local process.

`LocalEcs` holds the task definitions (family -> container command and environment, e.g. read from a
synthesized template) and runs every task as a process of `command + container command`, with the
definition's environment, then the RunTask overrides. `EcsHttpServer` serves it to boto3 (the JSON 1.1
protocol, AWS_ENDPOINT_URL_ECS), so handlers that list, describe and stop tasks talk to the same tasks.
`RunTaskSync` is the Step Functions `ecs:runTask.sync` integration against it: it returns the task
(PascalCase, as Step Functions does) once the task has stopped with exit code 0, and fails with
States.TaskFailed and the task as Cause when the container exited otherwise.

What is emulated: one essential container per task, task states PROVISIONING -> RUNNING -> STOPPED, exit
codes (a signal N reads as 128 + N, as Docker reports it), stop reasons and codes, StopTask as SIGTERM
then SIGKILL after the grace period. IAM: `permissions` lists what AWS authorizes for each request (the
ecs:cluster condition key, each task ARN, iam:PassRole of the task and execution roles for RunTask);
the HTTP server and RunTaskSync check them with their caller's role when given an `authorize`. A task
runs with its task role's session (`TaskDefinitionSpec.role_environment`); `before_start` is the
agent's work with the execution role (pulling the image, creating the log stream): when it is refused
the task stops with TaskFailedToStart, as on AWS. Not emulated: networking (the caller maps addresses,
see `environment_hook`), images, CPU/memory limits, capacity.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localcloud.services.api_server import ApiError, LocalApiServer
from localcloud.sfn.errors import TASK_FAILED, StatesError
from localcloud.sfn.resources import TaskContext, sdk_metadata

USER_STOP = "UserInitiated"
FAILED_TO_START = "TaskFailedToStart"
CONTAINER_EXITED = "EssentialContainerExited"
EXITED_REASON = "Essential container in task exited"


class EcsError(ApiError):
    pass


@dataclass
class TaskDefinitionSpec:
    family: str
    arn: str
    container: str  # the one container's name
    command: list[str]  # the container's command (appended to the image entrypoint)
    environment: dict[str, str]
    task_role_arn: str | None = None
    execution_role_arn: str | None = None
    role_environment: dict[str, str] = field(default_factory=dict)  # the task role's session
    before_start: Callable[[str], None] = lambda task_id: None  # the agent, with the execution role


@dataclass
class LocalTask:
    arn: str
    cluster: str
    definition: TaskDefinitionSpec
    overrides: dict
    started_by: str | None
    environment: dict[str, str]  # what the process got
    log: Path
    created: float = field(default_factory=time.time)
    last_status: str = "PROVISIONING"
    desired_status: str = "RUNNING"
    exit_code: int | None = None
    stop_code: str | None = None
    stopped_reason: str | None = None
    process: subprocess.Popen | None = None
    stopped: threading.Event = field(default_factory=threading.Event)

    def describe(self) -> dict:
        """The task as DescribeTasks returns it (camelCase)."""
        container = {"name": self.definition.container, "lastStatus": self.last_status, "taskArn": self.arn}
        if self.exit_code is not None:
            container["exitCode"] = self.exit_code
        out = {
            "taskArn": self.arn, "clusterArn": self.cluster, "taskDefinitionArn": self.definition.arn,
            "group": f"family:{self.definition.family}", "launchType": "FARGATE",
            "lastStatus": self.last_status, "desiredStatus": self.desired_status,
            "overrides": self.overrides, "containers": [container],
            "createdAt": datetime.fromtimestamp(self.created, UTC).isoformat(),
        }
        if self.started_by:
            out["startedBy"] = self.started_by
        if self.stopped_reason is not None:
            out["stoppedReason"], out["stopCode"] = self.stopped_reason, self.stop_code
        return out


class LocalEcs:
    """Tasks as processes. `entrypoint`: the image's entrypoint as a local command; `base_environment`:
    what every process starts from (the image's ENV, credentials for the emulated services);
    `environment_hook(task_environment) -> environment`: last word on a process's variables (e.g. mapping
    a public address to 127.0.0.1); `crash(task)`: tasks for which it is true are killed (SIGKILL) as soon
    as their process starts, as a container that crashes would be."""

    def __init__(self, task_definitions: list[TaskDefinitionSpec], *, entrypoint: list[str],
                 base_environment: dict[str, str], log_dir: Path, region: str = "us-east-1",
                 account: str = "123456789012", stop_grace_s: float = 5.0,
                 environment_hook: Callable[[dict[str, str]], dict[str, str]] | None = None,
                 task_directory: Callable[[str], dict[str, str]] | None = None,
                 crash: Callable[[LocalTask], bool] | None = None) -> None:
        self.definitions: dict[str, TaskDefinitionSpec] = {}
        for spec in task_definitions:
            self.definitions[spec.family] = self.definitions[spec.arn] = spec
        self.entrypoint, self.base_environment = entrypoint, base_environment
        self.log_dir = log_dir
        self.region, self.account, self.stop_grace_s = region, account, stop_grace_s
        self.environment_hook = environment_hook or (lambda env: env)
        self.task_directory = task_directory or (lambda task_id: {})
        self.crash = crash or (lambda task: False)
        self.tasks: dict[str, LocalTask] = {}
        self._lock = threading.Lock()
        log_dir.mkdir(parents=True, exist_ok=True)

    # --- IAM: what each request needs ---------------------------------------------------------------
    def permissions(self, operation: str, request: dict) -> list[tuple[str, str, dict]]:
        """(IAM action, resource, condition keys) AWS authorizes for one API request (camelCase)."""
        cluster = {"ecs:cluster": self.cluster_arn(request.get("cluster", "default"))}
        if operation == "run_task":
            try:
                definition = self._definition(request.get("taskDefinition", ""))
            except EcsError:
                return [("ecs:RunTask", str(request.get("taskDefinition")), cluster)]
            needed = [("ecs:RunTask", definition.arn, cluster)]
            passed = {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
            needed += [("iam:PassRole", arn, passed) for arn in (definition.task_role_arn, definition.execution_role_arn)
                       if arn]
            return needed
        if operation == "list_tasks":
            return [("ecs:ListTasks", "*", cluster)]
        if operation == "describe_tasks":
            return [("ecs:DescribeTasks", arn, cluster) for arn in request.get("tasks", [])]
        if operation == "stop_task":
            return [("ecs:StopTask", str(request.get("task")), cluster)]
        return []

    def cluster_arn(self, cluster: str) -> str:
        """A cluster named by name or ARN, as its ARN."""
        if cluster.startswith("arn:"):
            return cluster
        return f"arn:aws:ecs:{self.region}:{self.account}:cluster/{cluster}"

    # --- the API (boto3's camelCase request -> response) -----------------------------------------
    def run_task(self, request: dict) -> dict:
        definition = self._definition(request.get("taskDefinition", ""))
        count = int(request.get("count", 1))
        return {"tasks": [self._start(request, definition).describe() for _ in range(count)], "failures": []}

    def list_tasks(self, request: dict) -> dict:
        cluster = request.get("cluster", "default")
        family, started_by = request.get("family"), request.get("startedBy")
        desired = request.get("desiredStatus", "RUNNING")
        with self._lock:
            tasks = list(self.tasks.values())
        arns = [t.arn for t in tasks if self._same_cluster(t.cluster, cluster) and t.desired_status == desired
                and (family is None or t.definition.family == family)
                and (started_by is None or t.started_by == started_by)]
        return {"taskArns": arns}

    def describe_tasks(self, request: dict) -> dict:
        found, failures = [], []
        for arn in request.get("tasks", []):
            task = self.tasks.get(arn)
            if task is None or not self._same_cluster(task.cluster, request.get("cluster", "default")):
                failures.append({"arn": arn, "reason": "MISSING"})
            else:
                found.append(task.describe())
        return {"tasks": found, "failures": failures}

    def stop_task(self, request: dict) -> dict:
        task = self.tasks.get(request.get("task", ""))
        if task is None:
            raise EcsError("InvalidParameterException", f"The referenced task was not found: {request.get('task')}")
        self.stop(task, request.get("reason", "Task stopped by the user"))
        return {"task": task.describe()}

    # --- local side ----------------------------------------------------------------------------------
    def stop(self, task: LocalTask, reason: str) -> None:
        with self._lock:
            if task.desired_status == "STOPPED":
                return
            task.desired_status, task.stop_code, task.stopped_reason = "STOPPED", USER_STOP, reason
        process = task.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            threading.Thread(target=self._kill_after_grace, args=(process,), daemon=True).start()

    def shutdown(self) -> None:
        """Stop every task still running (end of a local run) and wait for the processes."""
        for task in list(self.tasks.values()):
            self.stop(task, "local ECS shut down")
        for task in list(self.tasks.values()):
            task.stopped.wait(self.stop_grace_s + 5)

    def running_processes(self) -> list[LocalTask]:
        return [t for t in self.tasks.values() if t.process is not None and t.process.poll() is None]

    def _definition(self, reference: str) -> TaskDefinitionSpec:
        # a family, family:revision or the ARN (with or without revision)
        name = reference.rsplit("/", 1)[-1]
        for key in (reference, name, name.split(":")[0]):
            if key in self.definitions:
                return self.definitions[key]
        raise EcsError("ClientException", f"Unable to find task definition {reference!r}")

    @staticmethod
    def _same_cluster(a: str, b: str) -> bool:
        return a.rsplit("/", 1)[-1] == b.rsplit("/", 1)[-1]

    def _start(self, request: dict, definition: TaskDefinitionSpec) -> LocalTask:
        cluster = request.get("cluster", "default")
        task_id = uuid.uuid4().hex
        arn = f"arn:aws:ecs:{self.region}:{self.account}:task/{cluster.rsplit('/', 1)[-1]}/{task_id}"
        env = dict(definition.environment)
        command = list(definition.command)
        for override in request.get("overrides", {}).get("containerOverrides", []):
            if override.get("name") != definition.container:
                raise EcsError("InvalidParameterException", f"no container {override.get('name')!r} in "
                                                            f"{definition.family}")
            env.update({v["name"]: v["value"] for v in override.get("environment", [])})
            command = override.get("command", command)
        env.update(self.task_directory(task_id))
        task = LocalTask(arn=arn, cluster=self.cluster_arn(cluster), definition=definition,
                         overrides=request.get("overrides", {}), started_by=request.get("startedBy"),
                         environment=self.environment_hook(env),
                         log=self.log_dir / f"{definition.family}-{task_id[:8]}.log")
        with self._lock:
            self.tasks[arn] = task
        try:
            definition.before_start(task_id)
        except ApiError as refused:  # the agent could not pull the image or create the log stream
            self._failed_to_start(task, f"ResourceInitializationError: {refused}")
            return task
        with open(task.log, "w") as log:
            task.process = subprocess.Popen(
                [*self.entrypoint, *command],
                env={**self.base_environment, **definition.role_environment, **task.environment},
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        task.last_status = "RUNNING"
        if self.crash(task):
            task.process.kill()
        threading.Thread(target=self._watch, args=(task,), daemon=True).start()
        return task

    def _failed_to_start(self, task: LocalTask, reason: str) -> None:
        with self._lock:
            task.last_status = task.desired_status = "STOPPED"
            task.stop_code, task.stopped_reason = FAILED_TO_START, reason
        task.stopped.set()

    def _watch(self, task: LocalTask) -> None:
        code = task.process.wait()
        with self._lock:
            task.exit_code = code if code >= 0 else 128 - code  # a signal N: 128 + N, as Docker reports
            task.last_status = task.desired_status = "STOPPED"
            if task.stopped_reason is None:
                task.stop_code, task.stopped_reason = CONTAINER_EXITED, EXITED_REASON
        task.stopped.set()

    def _kill_after_grace(self, process: subprocess.Popen) -> None:
        try:
            process.wait(self.stop_grace_s)
        except subprocess.TimeoutExpired:
            process.kill()


# --- boto3's side: the JSON 1.1 protocol ----------------------------------------------------------
class EcsHttpServer(LocalApiServer):
    """Serves LocalEcs on 127.0.0.1 for boto3 (AWS_ENDPOINT_URL_ECS; the operation is in X-Amz-Target)."""

    TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113."
    OPERATIONS = {"RunTask": "run_task", "ListTasks": "list_tasks", "DescribeTasks": "describe_tasks",
                  "StopTask": "stop_task"}

    def __init__(self, ecs: LocalEcs, authorize: Callable[[object, str, str, dict], None] | None = None) -> None:
        """`authorize(headers, action, resource, context)` raises an ApiError for a caller who may not."""
        def dispatch(path: str, headers, body: dict) -> dict:
            name = headers.get("X-Amz-Target", "").removeprefix(self.TARGET_PREFIX)
            if name not in self.OPERATIONS:
                raise EcsError("InvalidParameterException", f"operation {name!r} is not emulated")
            if authorize is not None:
                for action, resource, context in ecs.permissions(self.OPERATIONS[name], body):
                    authorize(headers, action, resource, context)
            return getattr(ecs, self.OPERATIONS[name])(body)

        super().__init__(dispatch, "application/x-amz-json-1.1")


# --- Step Functions' side: ecs:runTask[.sync] --------------------------------------------------------
def _camel(value: Any) -> Any:
    """Step Functions' PascalCase request -> the ECS API's camelCase."""
    if isinstance(value, dict):
        return {k[:1].lower() + k[1:]: _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def _pascal(value: Any) -> Any:
    if isinstance(value, dict):
        return {k[:1].upper() + k[1:]: _pascal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_pascal(v) for v in value]
    return value


class RunTaskSync:
    """ecs:runTask (returns the RunTask response) and ecs:runTask.sync (returns the stopped task; a task whose
    container exited non-zero or that was stopped fails the state with States.TaskFailed, the task as Cause).
    `stop_abandoned`: stop the task when the state is abandoned (a Map sibling failed, a timeout), as Step
    Functions does for .sync tasks; False leaves it running for the workflow's own clean-up to find.
    `authorize(action, resource, context)`: the state machine role's check of what RunTask needs (raises
    StatesError)."""

    def __init__(self, ecs: LocalEcs, *, stop_abandoned: bool = True, poll_interval_s: float = 0.1,
                 authorize: Callable[[str, str, dict], None] | None = None) -> None:
        self.ecs, self.stop_abandoned, self.poll_interval_s = ecs, stop_abandoned, poll_interval_s
        self.authorize = authorize

    def __call__(self, parameters: Any, context: TaskContext) -> Any:
        request = _camel(parameters)
        if self.authorize is not None:
            for action, resource, keys in self.ecs.permissions("run_task", request):
                self.authorize(action, resource, keys)
        try:
            response = self.ecs.run_task(request)
        except EcsError as exc:
            raise StatesError(f"ECS.{exc.code}", str(exc)) from exc
        if context.pattern != "sync":
            return {**_pascal(response), **sdk_metadata()}
        if response["failures"]:  # as AWS: a RunTask with failures fails a .sync task with AmazonECS.Unknown
            raise StatesError("AmazonECS.Unknown", json.dumps(response["failures"]))
        task = self.ecs.tasks[response["tasks"][0]["taskArn"]]
        while not task.stopped.wait(self.poll_interval_s):
            if context.cancelled.is_set():
                if self.stop_abandoned:
                    self.ecs.stop(task, "Step Functions task abandoned")
                return None
        described = _pascal(task.describe())
        if task.exit_code != 0 or task.stop_code != CONTAINER_EXITED:
            raise StatesError(TASK_FAILED, json.dumps(described))
        return described


def environment_of_image(dockerfile: Path) -> dict[str, str]:
    """The ENV lines of a Dockerfile's last stage (KEY=VALUE pairs, continuation lines joined)."""
    stages = dockerfile.read_text().replace("\\\n", " ").split("\nFROM ")
    env: dict[str, str] = {}
    for line in stages[-1].splitlines():
        if line.strip().startswith("ENV "):
            for pair in line.strip()[4:].split():
                key, _, value = pair.partition("=")
                env[key] = value
    return env
