"""What AWS authorizes for one EC2 or SSM request that moto serves, as (action, resource ARN, condition keys).

moto names no resource for these services (it checks them on the action alone), but the AutoMon launcher
role's policy is written per resource and with conditions: RunInstances on the launch template, image,
subnet, security group, volume and network interface, on the instance only with the automon-token request
tag; TerminateInstances only of instances carrying that tag; CreateTags only as part of RunInstances;
PassRole of the instance profile's role to EC2; GetParameter of one parameter. This module reads the
request (and, for what the request only refers to, moto's own records: the launch template's data, the
instances' tags) and lists the authorizations AWS makes, in the request's region.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from localcloud.asl import PLACEHOLDER_ACCOUNT

Authorization = tuple[str, str | None, dict[str, Any]]


def authorizations(request, action: str) -> list[Authorization] | None:
    """The checks for `request`, or None when this module does not model the action (moto's default)."""
    region = request._region
    if action in ("ssm:GetParameter", "ssm:GetParameters"):
        body = json.loads(_text(request._body) or "{}")
        names = body.get("Names") or [body.get("Name", "")]
        return [(action, _arn(region, "ssm", f"parameter/{n.lstrip('/')}"), {}) for n in names]
    if action == "ec2:RunInstances":
        return _run_instances(_query(request), region)
    if action == "ec2:TerminateInstances":
        return [(action, _arn(region, "ec2", f"instance/{i}"), _instance_tags(region, i))
                for i in _indexed(_query(request), "InstanceId")]
    return None


def _run_instances(query: dict[str, str], region: str) -> list[Authorization]:
    template_id = query.get("LaunchTemplate.LaunchTemplateId")
    data = _launch_template_data(region, template_id) if template_id else {}
    tags = _request_tags(query, "instance")
    context: dict[str, Any] = {f"aws:RequestTag/{k}": v for k, v in tags.items()}
    if tags:
        context["aws:TagKeys"] = list(tags)
    if template_id:
        context["ec2:LaunchTemplate"] = _arn(region, "ec2", f"launch-template/{template_id}")
    resources = ["instance/*", "network-interface/*", "volume/*"]
    if template_id:
        resources.append(f"launch-template/{template_id}")
    image = query.get("ImageId") or data.get("ImageId")
    subnet = query.get("SubnetId")
    groups = _indexed(query, "SecurityGroupId") or data.get("SecurityGroupIds", [])
    found = [("ec2:RunInstances", _arn(region, "ec2", r), context) for r in resources]
    if image:
        found.append(("ec2:RunInstances", f"arn:aws:ec2:{region}::image/{image}", context))
    if subnet:
        found.append(("ec2:RunInstances", _arn(region, "ec2", f"subnet/{subnet}"), context))
    found += [("ec2:RunInstances", _arn(region, "ec2", f"security-group/{g}"), context) for g in groups]
    tagged = set(_tagged_types(query)) | {s.get("ResourceType") for s in data.get("TagSpecifications", [])}
    found += [("ec2:CreateTags", _arn(region, "ec2", f"{t}/*"), {**context, "ec2:CreateAction": "RunInstances"})
              for t in sorted(tagged - {None})]
    profile = data.get("IamInstanceProfile", {}).get("Arn")
    if profile:
        for role in _profile_roles(profile):
            found.append(("iam:PassRole", role, {"iam:PassedToService": "ec2.amazonaws.com"}))
    return found


def _arn(region: str, service: str, resource: str) -> str:
    return f"arn:aws:{service}:{region}:{PLACEHOLDER_ACCOUNT}:{resource}"


def _text(body: Any) -> str:
    return body.decode() if isinstance(body, bytes) else str(body or "")


def _query(request) -> dict[str, str]:
    """A query-protocol request's parameters (moto hands them over parsed, or only in the body)."""
    data = request._data if isinstance(request._data, dict) and request._data else \
        urllib.parse.parse_qs(_text(request._body))
    return {k: v[0] if isinstance(v, list) else str(v) for k, v in data.items()}


def _indexed(query: dict[str, str], name: str) -> list[str]:
    """Name.1, Name.2, ... of a query-protocol request, in order."""
    values, index = [], 1
    while f"{name}.{index}" in query:
        values.append(query[f"{name}.{index}"])
        index += 1
    return values


def _tagged_types(query: dict[str, str]) -> list[str]:
    types, spec = [], 1
    while f"TagSpecification.{spec}.ResourceType" in query:
        types.append(query[f"TagSpecification.{spec}.ResourceType"])
        spec += 1
    return types


def _request_tags(query: dict[str, str], resource_type: str) -> dict[str, str]:
    tags, spec = {}, 1
    while f"TagSpecification.{spec}.ResourceType" in query:
        if query[f"TagSpecification.{spec}.ResourceType"] == resource_type:
            tag = 1
            while f"TagSpecification.{spec}.Tag.{tag}.Key" in query:
                tags[query[f"TagSpecification.{spec}.Tag.{tag}.Key"]] = query.get(
                    f"TagSpecification.{spec}.Tag.{tag}.Value", "")
                tag += 1
        spec += 1
    return tags


# --- what the request refers to, from moto's records ------------------------------------------------
def _ec2(region: str):
    from moto.ec2.models import ec2_backends

    return ec2_backends[PLACEHOLDER_ACCOUNT][region]


def _launch_template_data(region: str, template_id: str) -> dict:
    try:
        return _ec2(region).get_launch_template(template_id).latest_version().data
    except Exception:  # an unknown template: RunInstances itself fails with moto's error
        return {}


def _instance_tags(region: str, instance_id: str) -> dict[str, str]:
    try:
        tags = _ec2(region).get_instance(instance_id).get_tags()
    except Exception:  # an unknown instance: TerminateInstances itself fails with moto's error
        return {}
    return {f"ec2:ResourceTag/{t['key']}": t["value"] for t in tags}


def _profile_roles(profile_arn: str) -> list[str]:
    from moto.iam.models import iam_backends

    name = profile_arn.rsplit("/", 1)[-1]
    for profile in iam_backends[PLACEHOLDER_ACCOUNT]["aws"].instance_profiles.values():
        if profile.name == name:
            return [role.arn for role in profile.roles]
    return []
