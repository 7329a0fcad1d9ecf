"""Start or stop one item's AutoMon coordinator, in the coordinator's region.

Event: {"action": "start" | "stop", "run_id": ..., "item": <an item of the plan>}.
Assumes the coordinator stack's launcher role (LAUNCHER_ROLE_ARN) and reads the coordinator's details
from the SSM parameter COORDINATOR_PARAMETER, both in COORDINATOR_REGION (adapters/automon_coordinator.py).
start: returns {"kind", "region", "host" (public IPv4), "id"} once it runs; retry-safe (a coordinator
       already started for the item's token is reused, never doubled).
stop:  stops every coordinator carrying the item's token; returns {"stopped": [ids]}.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger

from adapters.automon_coordinator import coordinator_details, launcher_session, start, stop

logger = Logger(service="automon-coordinator")


def handler(event: dict, context: object) -> dict:
    action, item = event["action"], event["item"]
    if action not in ("start", "stop"):
        raise ValueError(f"unknown action {action!r}; expected 'start' or 'stop'")
    session = launcher_session(os.environ["COORDINATOR_REGION"], os.environ["LAUNCHER_ROLE_ARN"])
    details = coordinator_details(session, os.environ["COORDINATOR_PARAMETER"])
    if action == "start":
        result = start(session, details, item)
        logger.info("coordinator running", extra={"item": item["key"], **result})
        return result
    stopped = stop(session, details, item)
    logger.info("coordinator stopped", extra={"item": item["key"], "stopped": stopped})
    return {"stopped": stopped}
