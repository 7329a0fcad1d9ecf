"""Stop the node tasks an AutoMon item left running (after a failure; a no-op after success).

Event: {"item": <an item of the plan>}. Node tasks run through ecs:runTask.sync, which cannot set
startedBy or tags, so they are found by their override RESULTS_PREFIX, unique to the item, among the
running tasks of the node family in NODES_CLUSTER. Returns {"stopped": [task ARNs]}.
"""

from __future__ import annotations

import os

import boto3
from aws_lambda_powertools import Logger

logger = Logger(service="automon-clean-up")
STOP_REASON = "AutoMon experiment item ended"
DESCRIBE_BATCH = 100  # DescribeTasks takes up to 100 tasks


def _prefix_of(task: dict) -> str | None:
    for override in task.get("overrides", {}).get("containerOverrides", []):
        for var in override.get("environment", []):
            if var["name"] == "RESULTS_PREFIX":
                return var["value"]
    return None


def handler(event: dict, context: object) -> dict:
    prefix = event["item"]["results_prefix"]
    cluster = os.environ["NODES_CLUSTER"]
    ecs = boto3.client("ecs")
    pages = ecs.get_paginator("list_tasks").paginate(
        cluster=cluster, family=os.environ["NODE_FAMILY"], desiredStatus="RUNNING"
    )
    arns = [arn for page in pages for arn in page["taskArns"]]
    stopped = []
    for start in range(0, len(arns), DESCRIBE_BATCH):
        for task in ecs.describe_tasks(cluster=cluster, tasks=arns[start : start + DESCRIBE_BATCH])["tasks"]:
            if _prefix_of(task) == prefix:
                ecs.stop_task(cluster=cluster, task=task["taskArn"], reason=STOP_REASON)
                stopped.append(task["taskArn"])
    logger.info("node tasks stopped", extra={"prefix": prefix, "stopped": len(stopped)})
    return {"stopped": stopped}
