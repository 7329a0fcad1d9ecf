"""The IAM roles of a synthesized template with their policies as synthesized, intrinsics resolved to the
values the local run uses (local bucket names, moto's queue ARNs, the state machines' ARNs), so that a
policy resource matches exactly what the local services name in a request. Everything resolves in the
stack's own region (SynthesizedStack.region): a stack deployed to us-east-2 names us-east-2 in the ARNs it
hard-codes and in those it builds from AWS::Region alike.

A role's policies are its inline `Policies`, every AWS::IAM::Policy / ManagedPolicy that lists it, and the
AWS managed policies this module knows (`MANAGED`); an unknown managed policy is kept by ARN in
`RoleSpec.unexpanded`, and a role that has one refuses to run locally rather than guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from localcloud.asl import PLACEHOLDER_ACCOUNT, PSEUDO_PARAMETERS
from localcloud.services.template import SynthesizedStack

# AWS managed policies a role that runs locally may carry (the documents AWS publishes)
MANAGED = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream",
                                                     "logs:PutLogEvents"], "Resource": "*"}],
    },
    # Session Manager on an instance (v2): the agent's calls, none of which a local run makes
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore": {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Resource": "*", "Action": [
                "ssm:DescribeAssociation", "ssm:GetDeployablePatchSnapshotForInstance", "ssm:GetDocument",
                "ssm:DescribeDocument", "ssm:GetManifest", "ssm:GetParameter", "ssm:GetParameters",
                "ssm:ListAssociations", "ssm:ListInstanceAssociations", "ssm:PutInventory", "ssm:PutComplianceItems",
                "ssm:PutConfigurePackageResult", "ssm:UpdateAssociationStatus", "ssm:UpdateInstanceAssociationStatus",
                "ssm:UpdateInstanceInformation"]},
            {"Effect": "Allow", "Resource": "*", "Action": [
                "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel",
                "ssmmessages:OpenDataChannel"]},
            {"Effect": "Allow", "Resource": "*", "Action": [
                "ec2messages:AcknowledgeMessage", "ec2messages:DeleteMessage", "ec2messages:FailMessage",
                "ec2messages:GetEndpoint", "ec2messages:GetMessages", "ec2messages:SendReply"]},
        ],
    },
}


@dataclass(frozen=True)
class RoleSpec:
    stack: str
    logical_id: str
    name: str
    arn: str
    trust: dict
    policies: tuple[dict, ...]
    unexpanded: tuple[str, ...] = field(default=())


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{PLACEHOLDER_ACCOUNT}:role/{name}"


def log_group_arn(name: str, region: str = PSEUDO_PARAMETERS["AWS::Region"]) -> str:
    """What GetAtt <LogGroup>.Arn returns: the group's ARN with `:*` (its streams) appended."""
    return f"arn:aws:logs:{region}:{PLACEHOLDER_ACCOUNT}:log-group:{name}:*"


def log_stream_arn(group: str, stream: str, region: str = PSEUDO_PARAMETERS["AWS::Region"]) -> str:
    return f"arn:aws:logs:{region}:{PLACEHOLDER_ACCOUNT}:log-group:{group}:log-stream:{stream}"


class PolicyResolver:
    """stack.resolve, plus the intrinsics policies use and state machine definitions do not: Fn::Sub,
    Fn::Select, Fn::Split, GetAtt of roles and log groups, and Fn::GetStackOutput (from `siblings`)."""

    def __init__(self, stack: SynthesizedStack, overrides: dict[str, Any] | None = None,
                 siblings: tuple[SynthesizedStack, ...] = ()) -> None:
        self.stack, self.overrides, self.siblings = stack, dict(overrides or {}), siblings
        for logical_id, machine in stack.of_type("AWS::StepFunctions::StateMachine").items():
            name = machine["Properties"].get("StateMachineName", logical_id)
            self.overrides.setdefault(logical_id, f"arn:aws:states:{stack.region}:"
                                                  f"{PLACEHOLDER_ACCOUNT}:stateMachine:{name}")

    def __call__(self, value: Any) -> Any:
        return self.stack.resolve(self._literal(value), self.overrides)

    def log_group_name(self, logical_id: str) -> str:
        props = self.stack.resources[logical_id].get("Properties", {})
        return str(self(props["LogGroupName"])) if "LogGroupName" in props else str(self({"Ref": logical_id}))

    def _literal(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self._literal(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Select":
                index, items = arg
                return self(items)[int(index)]
            if key == "Fn::Split":
                separator, text = arg
                return str(self(text)).split(separator)
            if key == "Fn::GetStackOutput":
                return self._stack_output(arg)
            if key == "Fn::GetAtt":
                logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                special = self._attribute(logical_id, attribute)
                if special is not None:
                    return special
        return {k: self._literal(v) for k, v in value.items()}

    def _attribute(self, logical_id: str, attribute: str) -> str | None:
        if f"{logical_id}.{attribute}" in self.overrides:
            return None  # stack.resolve substitutes it
        rtype = self.stack.resources.get(logical_id, {}).get("Type")
        if rtype == "AWS::IAM::Role" and attribute == "Arn":
            return role_arn(self.role_name(logical_id))
        if rtype == "AWS::Logs::LogGroup" and attribute == "Arn":
            return log_group_arn(self.log_group_name(logical_id), self.stack.region)
        if rtype == "AWS::S3::Bucket" and attribute == "Arn" and logical_id in self.overrides:
            return f"arn:aws:s3:::{self.overrides[logical_id]}"  # the local bucket's name
        return None

    def role_name(self, logical_id: str) -> str:
        props = self.stack.resources[logical_id].get("Properties", {})
        return str(self(props["RoleName"])) if "RoleName" in props else logical_id

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def one(match: re.Match) -> str:
            name = match.group(1)
            if name in variables:
                return str(self(variables[name]))
            if name == "AWS::Region":
                return self.stack.region
            if name in PSEUDO_PARAMETERS:
                return PSEUDO_PARAMETERS[name]
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return str(self({"Fn::GetAtt": [logical_id, attribute]}))
            return str(self({"Ref": name}))

        return re.sub(r"\$\{([^}!]+)\}", one, text)

    def _stack_output(self, arg: dict) -> Any:
        for sibling in self.siblings:
            output = sibling.template.get("Outputs", {}).get(arg["OutputName"])
            if output is not None:
                return PolicyResolver(sibling, siblings=()).__call__(output["Value"])
        raise LookupError(f"{self.stack.name}: no loaded stack has the output {arg['OutputName']}")


def template_roles(resolver: PolicyResolver) -> dict[str, RoleSpec]:
    """Every AWS::IAM::Role of the resolver's stack, with its resolved policies."""
    stack = resolver.stack
    attached: dict[str, list[dict]] = {}
    for rtype in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for policy in stack.of_type(rtype).values():
            props = policy["Properties"]
            for ref in props.get("Roles", []):
                if isinstance(ref, dict) and "Ref" in ref:
                    attached.setdefault(ref["Ref"], []).append(props["PolicyDocument"])
    roles = {}
    for logical_id, role in stack.of_type("AWS::IAM::Role").items():
        props = role["Properties"]
        documents = [p["PolicyDocument"] for p in props.get("Policies", [])] + attached.get(logical_id, [])
        managed = [str(resolver(arn)) for arn in props.get("ManagedPolicyArns", [])]
        documents += [MANAGED[arn] for arn in managed if arn in MANAGED]
        name = resolver.role_name(logical_id)
        roles[logical_id] = RoleSpec(
            stack=stack.name, logical_id=logical_id, name=name, arn=role_arn(name),
            trust=resolver(props.get("AssumeRolePolicyDocument", {})),
            policies=tuple(resolver(d) for d in documents),
            unexpanded=tuple(arn for arn in managed if arn not in MANAGED),
        )
    return roles
