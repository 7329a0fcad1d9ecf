"""One synthesized stack's IAM, wired to the local services: which role each function, job, task and state
machine runs as, and what AWS checks with that role on its behalf:

- a Lambda function: its process gets the role's session; the Lambda service creates the environment's
  log stream and writes its events (logs:CreateLogStream, logs:PutLogEvents on the function's log group);
- a state machine: each Task's service call (lambda:InvokeFunction, batch:SubmitJob, the .sync event rules,
  states:StartExecution for a Distributed Map); ecs:RunTask and iam:PassRole of the task's roles are
  checked by the local ECS itself (services/ecs_emulator.py) with the role `ecs_authorizer` gives it;
- an EventBridge rule invoking a function: an AWS::Lambda::Permission for events.amazonaws.com whose
  SourceArn is the rule (a resource policy, not a role);
- a Batch job / ECS task: the job or task role's session for the process; the execution role pulls the
  image from ECR and writes the container's log stream before the process starts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from localcloud.asl import PLACEHOLDER_ACCOUNT
from localcloud.services.lambda_runtime import FunctionRuntime, function_environment
from localcloud.services.local_iam import AccessDenied, LocalIam
from localcloud.services.template import FunctionSpec
from localcloud.services.template_roles import PolicyResolver, RoleSpec, log_stream_arn, template_roles
from localcloud.sfn.errors import StatesError
from localcloud.sfn.resources import function_name, parse_resource
from localcloud.sfn.tokens import TaskTokenError, execution_of

ECS_EVENTS_RULE = "StepFunctionsGetEventsForECSTaskRule"  # the managed rules .sync tasks need, per region
BATCH_EVENTS_RULE = "StepFunctionsGetEventsForBatchJobsRule"
EVENTS_PRINCIPAL = "events.amazonaws.com"


class StackIam:
    def __init__(self, local_iam: LocalIam, resolver: PolicyResolver) -> None:
        self.iam, self.resolver, self.stack = local_iam, resolver, resolver.stack
        self.roles = template_roles(resolver)

    def prepare(self) -> StackIam:
        """Open a session of every role something runs as here (before enforcement starts)."""
        self.iam.prepare(self.roles[r] for r in self._roles_that_run())
        return self

    def _roles_that_run(self) -> set[str]:
        used = set()
        for rtype, keys in (("AWS::Lambda::Function", ("Role",)), ("AWS::StepFunctions::StateMachine", ("RoleArn",)),
                            ("AWS::ECS::TaskDefinition", ("TaskRoleArn", "ExecutionRoleArn"))):
            for props in (r["Properties"] for r in self.stack.of_type(rtype).values()):
                used |= {self._role_id(props[k]) for k in keys if k in props}
        for jd in self.stack.of_type("AWS::Batch::JobDefinition").values():
            container = jd["Properties"].get("ContainerProperties", {})
            used |= {self._role_id(container[k]) for k in ("JobRoleArn", "ExecutionRoleArn") if k in container}
        functions = self.stack.functions()  # ours only: CDK's custom-resource helpers do not run here
        custom = {self._role_id(r["Properties"]["Role"]) for k, r in self.stack.of_type("AWS::Lambda::Function").items()
                  if k not in functions}
        return (used - custom) - {None}

    def _role_id(self, reference: Any) -> str | None:
        if isinstance(reference, dict) and "Fn::GetAtt" in reference:
            return reference["Fn::GetAtt"][0]
        return None

    def role(self, reference: Any) -> RoleSpec:
        return self.roles[self._role_id(reference)]

    # --- Lambda --------------------------------------------------------------------------------------
    def function_role(self, logical_id: str) -> RoleSpec:
        return self.role(self.stack.resources[logical_id]["Properties"]["Role"])

    def function_log_group(self, logical_id: str) -> str:
        props = self.stack.resources[logical_id]["Properties"]
        group = props.get("LoggingConfig", {}).get("LogGroup")
        if group is None:  # the default group Lambda creates
            return f"/aws/lambda/{props.get('FunctionName', logical_id)}"
        return str(self.resolver(group))

    def lambda_runtime(self, fn: FunctionSpec, *, endpoints: Mapping[str, str], log_dir: Path,
                       base_environment: Mapping[str, str], extra_environment: Mapping[str, str] | None = None
                       ) -> FunctionRuntime:
        """The function as its own worker processes, running as its role."""
        props = self.stack.resources[fn.logical_id]["Properties"]
        role, group = self.function_role(fn.logical_id), self.function_log_group(fn.logical_id)
        name = str(props.get("FunctionName", fn.logical_id))
        environment = function_environment(
            base_environment, {**fn.environment, **(extra_environment or {})}, self.iam.credentials(role),
            function_name=name, region=self.stack.region, endpoints=endpoints)

        def log_write(action: str):
            return lambda stream: self.iam.authorize(role, action, log_stream_arn(group, stream, self.stack.region),
                                                     on_behalf="the Lambda service writing the function's logs")

        return FunctionRuntime(name=name, handler_folder=fn.handler_folder, environment=environment,
                               log_dir=log_dir, timeout_s=float(props.get("Timeout", 3)) * 1.5 + 30,
                               on_environment_start=log_write("logs:CreateLogStream"),
                               on_invoke=log_write("logs:PutLogEvents"))

    def check_rule_may_invoke(self, rule_logical_id: str, function_logical_id: str) -> None:
        """EventBridge invokes a function only if the function's resource policy lets the rule do so."""
        rule_arn = self.resolver({"Fn::GetAtt": [rule_logical_id, "Arn"]})
        function_arn = self.resolver({"Fn::GetAtt": [function_logical_id, "Arn"]})
        for permission in self.stack.of_type("AWS::Lambda::Permission").values():
            props = self.resolver(permission["Properties"])
            if (props.get("Principal") == EVENTS_PRINCIPAL and props.get("Action") == "lambda:InvokeFunction"
                    and function_name(str(props.get("FunctionName"))) == function_name(function_arn)
                    and props.get("SourceArn") in (None, rule_arn)):
                return
        raise AccessDenied(f"User: {EVENTS_PRINCIPAL} is not authorized to perform: lambda:InvokeFunction on "
                           f"resource: {function_arn} because no resource-based policy allows it for {rule_arn}")

    # --- Step Functions -------------------------------------------------------------------------------
    def state_machine_role(self, machine_name: str) -> RoleSpec:
        for logical_id, machine in self.stack.of_type("AWS::StepFunctions::StateMachine").items():
            if machine["Properties"].get("StateMachineName", logical_id) == machine_name:
                return self.role(machine["Properties"]["RoleArn"])
        raise LookupError(f"no state machine {machine_name} in {self.stack.name}")

    def state_machine_authorizer(self, machine_name: str):
        """For Integrations(authorize=...): each Task's calls, with the state machine's role."""
        role = self.state_machine_role(machine_name)

        def authorize(resource_arn: str, parameters: Any) -> None:
            for action, resource in self.task_permissions(resource_arn, parameters):
                try:
                    self.iam.authorize(role, action, resource, on_behalf="Step Functions")
                except AccessDenied as denied:
                    service = action.split(":")[0]
                    raise StatesError({"lambda": "Lambda.AWSLambdaException"}.get(service, "States.TaskFailed"),
                                      str(denied)) from None

        return authorize

    def task_permissions(self, resource_arn: str, parameters: Any) -> list[tuple[str, str]]:
        """(action, resource) pairs Step Functions needs for one Task (the service integrations used here)."""
        params = parameters if isinstance(parameters, dict) else {}
        resource = parse_resource(resource_arn)
        if resource.is_bare_lambda:
            return [("lambda:InvokeFunction", resource_arn)]
        key = resource.key
        if key == "lambda:invoke":
            return [("lambda:InvokeFunction", self._function_arn(str(params.get("FunctionName", ""))))]
        if key == "batch:submitJob":
            needed = [("batch:SubmitJob", str(params.get("JobQueue"))), ("batch:SubmitJob", str(params.get("JobDefinition")))]
            if resource.pattern == "sync":
                needed += self._events_rule(BATCH_EVENTS_RULE)
            return needed
        if key == "ecs:runTask":  # RunTask and PassRole: the local ECS checks them (ecs_authorizer)
            return self._events_rule(ECS_EVENTS_RULE) if resource.pattern == "sync" else []
        if key == "states:startExecution":
            return [("states:StartExecution", str(params.get("StateMachineArn")))]
        return [(f"{resource.service.split(':')[-1]}:{resource.action[:1].upper()}{resource.action[1:]}", "*")]

    def ecs_authorizer(self, machine_name: str):
        """For the local ECS's RunTask from a state machine: (action, resource, context) -> None, with the
        state machine's role; a refusal fails the Task as Step Functions reports an ECS error."""
        role = self.state_machine_role(machine_name)

        def authorize(action: str, resource: str, context: Mapping[str, Any]) -> None:
            try:
                self.iam.authorize(role, action, resource, context, on_behalf="Step Functions")
            except AccessDenied as denied:
                raise StatesError("ECS.AccessDeniedException", str(denied)) from None

        return authorize

    def _events_rule(self, rule: str) -> list[tuple[str, str]]:
        arn = f"arn:aws:events:{self.stack.region}:{PLACEHOLDER_ACCOUNT}:rule/{rule}"
        return [(action, arn) for action in ("events:PutTargets", "events:PutRule", "events:DescribeRule")]

    def _function_arn(self, reference: str) -> str:
        if reference.startswith("arn:"):
            return reference
        return f"arn:aws:lambda:{self.stack.region}:{PLACEHOLDER_ACCOUNT}:function:{function_name(reference)}"

    def callback_authorizer(self):
        """For the callback server: SendTask* is allowed by the caller's policies on the token's state machine."""

        def authorize(headers: Mapping[str, str], operation: str, token: str) -> None:
            execution = execution_of(token)
            machine = _machine_of(execution) if execution else None
            try:
                self.iam.authorize_key(access_key_of(headers), f"states:{operation}", machine)
            except AccessDenied as denied:
                raise TaskTokenError("AccessDeniedException", str(denied)) from None

        return authorize

    # --- containers (Batch jobs, ECS tasks) ----------------------------------------------------------
    def container_start_check(self, execution_role: Any, image: Any, log_options: Mapping[str, Any] | None):
        """What the Batch/ECS agent does with the execution role before the process starts: pull the image
        from ECR, create the container's log stream. Returns check(stream) -> None (raises AccessDenied)."""
        role = self.role(execution_role) if execution_role is not None else None
        image_uri = str(self.resolver(image)) if image is not None else ""
        group = str(self.resolver(log_options["awslogs-group"])) if log_options and "awslogs-group" in log_options else None
        log_region = str(self.resolver((log_options or {}).get("awslogs-region", self.stack.region)))

        def check(stream: str) -> None:
            if role is None:
                return
            repository = _ecr_repository_arn(image_uri)
            if repository:
                self.iam.authorize(role, "ecr:GetAuthorizationToken", "*", on_behalf="the container agent")
                for action in ("ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"):
                    self.iam.authorize(role, action, repository, on_behalf="the container agent pulling the image")
            if group:
                for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
                    self.iam.authorize(role, action, log_stream_arn(group, stream, log_region),
                                       on_behalf="the container agent writing the log stream")

        return check


def access_key_of(headers: Mapping[str, str]) -> str:
    """The access key id in a SigV4 Authorization header ('' when unsigned)."""
    match = re.search(r"Credential=([^/,\s]+)/", headers.get("Authorization", "") or "")
    return match.group(1) if match else ""


def _machine_of(execution_arn: str) -> str:
    parts = execution_arn.split(":")  # arn:aws:states:<region>:<account>:execution:<machine>:<name>
    return ":".join([*parts[:5], "stateMachine", parts[6].split("/")[0]])


def _ecr_repository_arn(image_uri: str) -> str | None:
    match = re.fullmatch(r"(\d+)\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com/([^:@]+)[:@].*", image_uri)
    if not match:
        return None
    account, region, repository = match.groups()
    return f"arn:aws:ecr:{region}:{account}:repository/{repository}"



