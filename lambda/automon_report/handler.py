"""Last step of the AutoMon experiment: write the execution's report.

Event: {"run_id", "bucket", "results_prefix", "outcomes": [{"key", "outcome": {"status", "summary" |
"error"}, ...}]}. Writes <results_prefix>report.json (one entry per item, the totals) and returns
{"run_id", "report_key", "succeeded", "failed"}; the state machine fails the execution when failed > 0.
"""

from __future__ import annotations

import json

import boto3
from aws_lambda_powertools import Logger

logger = Logger(service="automon-report")


def report(run_id: str, outcomes: list[dict]) -> dict:
    items = []
    for entry in outcomes:
        outcome = entry.get("outcome", {})
        items.append({
            "key": entry["key"],
            "status": outcome.get("status", "UNKNOWN"),
            "summary": outcome.get("summary"),
            "error": outcome.get("error") or entry.get("error"),
        })
    succeeded = sum(1 for i in items if i["status"] == "SUCCEEDED")
    return {"run_id": run_id, "items": items, "succeeded": succeeded, "failed": len(items) - succeeded}


def handler(event: dict, context: object) -> dict:
    doc = report(event["run_id"], event["outcomes"])
    key = f"{event['results_prefix']}report.json"
    boto3.client("s3").put_object(Bucket=event["bucket"], Key=key, Body=json.dumps(doc, indent=2).encode())
    logger.info("report written", extra={"run_id": doc["run_id"], "failed": doc["failed"]})
    return {"run_id": doc["run_id"], "report_key": key, "succeeded": doc["succeeded"], "failed": doc["failed"]}
