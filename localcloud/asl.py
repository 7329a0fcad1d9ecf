"""State machine definitions from synthesized templates: flatten CDK's DefinitionString and validate it.

cfn-lint skips a DefinitionString built with Fn::Join (CDK emits one as soon as the definition
references a resource), so every state machine is validated here with asl-validator (npm, pinned in
package.json). The same flattening gives the local runner the definition exactly as deployed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
ASL_VALIDATOR = REPO_ROOT / "node_modules" / ".bin" / "asl-validator"

PLACEHOLDER_ACCOUNT = "123456789012"
PLACEHOLDER_REGION = "us-east-1"
PSEUDO_PARAMETERS = {
    "AWS::Partition": "aws",
    "AWS::Region": PLACEHOLDER_REGION,
    "AWS::AccountId": PLACEHOLDER_ACCOUNT,
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "stack",
}
# What `Ref` returns for resource types whose Ref is an ARN or a URL (CloudFormation docs);
# other types return their name, for which the logical id stands in.
REF_FORMATS = {
    "AWS::Batch::JobQueue": "arn:aws:batch:{region}:{account}:job-queue/{id}",
    "AWS::Batch::JobDefinition": "arn:aws:batch:{region}:{account}:job-definition/{id}:1",
    "AWS::SNS::Topic": "arn:aws:sns:{region}:{account}:{id}",
    "AWS::SQS::Queue": "https://sqs.{region}.amazonaws.com/{account}/{id}",
    "AWS::StepFunctions::StateMachine": "arn:aws:states:{region}:{account}:stateMachine:{id}",
    "AWS::ECS::TaskDefinition": "arn:aws:ecs:{region}:{account}:task-definition/{id}:1",
}
ARN_FORMATS = {
    "AWS::Lambda::Function": "arn:aws:lambda:{region}:{account}:function:{id}",
    "AWS::SQS::Queue": "arn:aws:sqs:{region}:{account}:{id}",
    "AWS::S3::Bucket": "arn:aws:s3:::{id}",
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{region}:{account}:table/{id}",
    "AWS::StepFunctions::StateMachine": "arn:aws:states:{region}:{account}:stateMachine:{id}",
    "AWS::ECS::Cluster": "arn:aws:ecs:{region}:{account}:cluster/{id}",
    "AWS::ECS::TaskDefinition": "arn:aws:ecs:{region}:{account}:task-definition/{id}:1",
}


# The property holding a resource's physical name, for the types whose ARNs a policy names by it (an ECS
# task ARN carries its cluster's name, an SSM parameter ARN the parameter's name). Other resources keep
# their logical id as name: the local runners address functions and queues by it.
PHYSICAL_NAMES = {
    "AWS::ECS::Cluster": "ClusterName",
    "AWS::ECS::TaskDefinition": "Family",
    "AWS::SSM::Parameter": "Name",
}


class UnresolvableIntrinsic(ValueError):
    pass


def resolve(value: Any, resources: dict[str, Any], region: str = PLACEHOLDER_REGION) -> Any:
    """Replace CloudFormation intrinsics with plausible literal values (placeholder account; the stack's
    region, which a stack deployed to a given region also hard-codes in its ARNs)."""
    if isinstance(value, list):
        return [resolve(v, resources, region) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (key, arg), = value.items()
        if key == "Fn::Join":
            sep, parts = arg
            return sep.join(str(resolve(p, resources, region)) for p in parts)
        if key == "Ref":
            if arg == "AWS::Region":
                return region
            if arg in PSEUDO_PARAMETERS:
                return PSEUDO_PARAMETERS[arg]
            rtype = resources.get(arg, {}).get("Type", "")
            return REF_FORMATS.get(rtype, "{id}").format(region=region, account=PLACEHOLDER_ACCOUNT,
                                                         id=physical_name(resources, arg))
        if key == "Fn::GetAtt":
            logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            rtype = resources.get(logical_id, {}).get("Type", "")
            if attribute == "Arn":
                fmt = ARN_FORMATS.get(rtype, "arn:aws:{service}:{region}:{account}:resource/{id}")
                service = rtype.split("::")[1].lower() if rtype.count("::") == 2 else "unknown"
                return fmt.format(region=region, account=PLACEHOLDER_ACCOUNT, id=physical_name(resources, logical_id),
                                  service=service)
            return f"{logical_id}.{attribute}"
        if key.startswith("Fn::"):
            raise UnresolvableIntrinsic(f"cannot flatten {key} in a state machine definition")
    return {k: resolve(v, resources, region) for k, v in value.items()}


def physical_name(resources: dict[str, Any], logical_id: str) -> str:
    """The name a resource is given in its template (PHYSICAL_NAMES), else its logical id."""
    resource = resources.get(logical_id, {})
    name = resource.get("Properties", {}).get(PHYSICAL_NAMES.get(resource.get("Type", ""), ""))
    return name if isinstance(name, str) else logical_id


def state_machines(template: dict, region: str = PLACEHOLDER_REGION) -> dict[str, dict]:
    """Every AWS::StepFunctions::StateMachine in a template, as logical id -> ASL dict."""
    resources = template.get("Resources", {})
    found = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::StepFunctions::StateMachine":
            continue
        props = resource["Properties"]
        if "Definition" in props:
            found[logical_id] = resolve(props["Definition"], resources, region)
        else:
            found[logical_id] = json.loads(resolve(props["DefinitionString"], resources, region))
    return found


def state_machines_in_cdk_out(outdir: Path) -> dict[str, dict]:
    """All state machines of all templates in a cloud assembly, keyed '<Stack>/<LogicalId>'."""
    found = {}
    for template_file in sorted(Path(outdir).glob("*.template.json")):
        stack = template_file.name.removesuffix(".template.json")
        for logical_id, asl in state_machines(json.loads(template_file.read_text())).items():
            found[f"{stack}/{logical_id}"] = asl
    return found


def validate(definition: dict) -> list[str]:
    """Errors asl-validator finds in a definition; an empty list means valid."""
    if not ASL_VALIDATOR.exists():
        raise FileNotFoundError(f"{ASL_VALIDATOR} is missing: run `make install` (npm ci)")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(definition, handle)
        path = handle.name
    try:
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        result = subprocess.run(
            [str(ASL_VALIDATOR), "--json-path", path], capture_output=True, text=True, env=env, timeout=120
        )
    finally:
        os.unlink(path)
    if result.returncode == 0:
        return []
    lines = (result.stdout + result.stderr).splitlines()
    return [line.strip() for line in lines if line.strip() and "is invalid" not in line] or [f"exit {result.returncode}"]
