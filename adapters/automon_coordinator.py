"""Starting and stopping one item's AutoMon coordinator in the coordinator's region (ECS or EC2).

The caller assumes the coordinator stack's launcher role (launcher_session) and reads the coordinator's
details from its SSM parameter (coordinator_details); lambda/automon_coordinator is that caller.
start: runs the coordinator (Fargate task or EC2 instance) with the item's settings, waits with a boto3
       waiter until it is running, and returns {"kind", "region", "host" (public IPv4), "id"}. Retry-safe:
       a coordinator already started for the item's token is reused, never doubled.
stop:  stops every coordinator carrying the item's token (none is fine); returns {"stopped": [ids]}.
"""

from __future__ import annotations

import hashlib
import json

import boto3

WAIT = {"Delay": 6, "MaxAttempts": 80}  # 8 minutes, inside the function's 10-minute timeout
STOP_REASON = "AutoMon experiment item finished"
LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped"]


class CoordinatorNotStarted(RuntimeError):
    """The coordinator could not be started or has no public address."""


def launcher_session(region: str, role_arn: str) -> boto3.Session:
    """A session in the coordinator's region under the coordinator stack's launcher role."""
    creds = boto3.client("sts", region_name=region).assume_role(
        RoleArn=role_arn, RoleSessionName="automon-experiment"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"], region_name=region,
    )


def coordinator_details(session: boto3.Session, parameter: str) -> dict:
    """What the coordinator stack published: kind, subnets, security group, cluster or launch template."""
    return json.loads(session.client("ssm").get_parameter(Name=parameter)["Parameter"]["Value"])


def _client_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:64]


def start(session: boto3.Session, details: dict, item: dict) -> dict:
    """The item's coordinator running (started now or reused): {"kind", "region", "host", "id"}."""
    if details["kind"] == "fargate":
        return _start_task(session, details, item)
    return _start_instance(session, details, item)


def stop(session: boto3.Session, details: dict, item: dict) -> list[str]:
    """Stop every coordinator carrying the item's token; returns their ids (none is fine)."""
    if details["kind"] == "fargate":
        return _stop_tasks(session, details, item)
    return _stop_instances(session, details, item)


# --- Fargate ------------------------------------------------------------------------------------
def _start_task(session: boto3.Session, details: dict, item: dict) -> dict:
    ecs = session.client("ecs")
    cluster, token = details["cluster"], item["token"]
    running = ecs.list_tasks(cluster=cluster, startedBy=token, desiredStatus="RUNNING")["taskArns"]
    if running:
        task_arn = running[0]
    else:
        response = ecs.run_task(
            cluster=cluster,
            taskDefinition=details["task_definition"],
            launchType="FARGATE",
            count=1,
            startedBy=token,
            clientToken=_client_token(token),
            enableExecuteCommand=True,  # ECS Exec (Session Manager), never SSH
            networkConfiguration={"awsvpcConfiguration": {
                "subnets": details["subnets"], "securityGroups": [details["security_group"]],
                "assignPublicIp": "ENABLED",
            }},
            overrides={"containerOverrides": [{
                "name": details["container"],
                "environment": [{"name": k, "value": v} for k, v in item["env"].items()],
            }]},
            tags=[{"key": details["token_tag"], "value": token}],
        )
        if response.get("failures") or not response.get("tasks"):
            raise CoordinatorNotStarted(f"RunTask failed: {response.get('failures')}")
        task_arn = response["tasks"][0]["taskArn"]
    ecs.get_waiter("tasks_running").wait(cluster=cluster, tasks=[task_arn], WaiterConfig=WAIT)
    task = ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"][0]
    eni_ids = [d["value"] for a in task.get("attachments", []) for d in a.get("details", [])
               if d.get("name") == "networkInterfaceId"]
    if not eni_ids:
        raise CoordinatorNotStarted(f"task {task_arn} has no network interface")
    enis = session.client("ec2").describe_network_interfaces(NetworkInterfaceIds=eni_ids)["NetworkInterfaces"]
    host = next((e["Association"]["PublicIp"] for e in enis if e.get("Association", {}).get("PublicIp")), None)
    if not host:
        raise CoordinatorNotStarted(f"task {task_arn} has no public IPv4 address")
    return {"kind": "fargate", "region": session.region_name, "host": host, "id": task_arn}


def _stop_tasks(session: boto3.Session, details: dict, item: dict) -> list[str]:
    ecs = session.client("ecs")
    cluster = details["cluster"]
    arns = ecs.list_tasks(cluster=cluster, startedBy=item["token"], desiredStatus="RUNNING")["taskArns"]
    for arn in arns:
        ecs.stop_task(cluster=cluster, task=arn, reason=STOP_REASON)
    return arns


# --- EC2 ----------------------------------------------------------------------------------------
def _instances(ec2, details: dict, token: str, states: list[str]) -> list[dict]:
    pages = ec2.get_paginator("describe_instances").paginate(Filters=[
        {"Name": f"tag:{details['token_tag']}", "Values": [token]},
        {"Name": "instance-state-name", "Values": states},
    ])
    return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]


def _start_instance(session: boto3.Session, details: dict, item: dict) -> dict:
    ec2 = session.client("ec2")
    token = item["token"]
    existing = _instances(ec2, details, token, ["pending", "running"])
    if existing:
        instance_id = existing[0]["InstanceId"]
    else:
        subnets = details["subnets"]
        tags = [{"Key": details["token_tag"], "Value": token}, {"Key": "Name", "Value": f"automon-{item['key']}"}]
        # the boot script passes every automon-env-<NAME> tag to the container as NAME
        tags += [{"Key": details["setting_tag_prefix"] + k, "Value": v} for k, v in item["env"].items() if v]
        response = ec2.run_instances(
            LaunchTemplate={"LaunchTemplateId": details["launch_template_id"], "Version": "$Latest"},
            MinCount=1, MaxCount=1,
            SubnetId=subnets[int(_client_token(token), 16) % len(subnets)],
            ClientToken=_client_token(token),
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
        )
        instance_id = response["Instances"][0]["InstanceId"]
    ec2.get_waiter("instance_running").wait(InstanceIds=[instance_id], WaiterConfig=WAIT)
    instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    host = instance.get("PublicIpAddress")
    if not host:
        raise CoordinatorNotStarted(f"instance {instance_id} has no public IPv4 address")
    return {"kind": "ec2", "region": session.region_name, "host": host, "id": instance_id}


def _stop_instances(session: boto3.Session, details: dict, item: dict) -> list[str]:
    ec2 = session.client("ec2")
    ids = [i["InstanceId"] for i in _instances(ec2, details, item["token"], LIVE_INSTANCE_STATES)]
    if ids:
        ec2.terminate_instances(InstanceIds=ids)
    return ids
