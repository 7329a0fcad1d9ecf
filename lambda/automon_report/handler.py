"""Last step of the AutoMon experiment: write the execution's report.

Event: {"run_id", "bucket", "results_prefix", "outcomes": [{"key", "outcome": {"status", "summary" |
"error"}, ...}]}. Writes <results_prefix>report.json (one entry per item, the totals) and returns
{"run_id", "report_key", "succeeded", "failed", "cause"}; the state machine fails the execution when
failed > 0, with `cause` (which items failed and why, in short) as the execution's cause.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

from adapters.s3_store import S3Store

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


CAUSE_PER_ITEM = 300  # characters of each failed item's error in the execution's cause (ECS causes are long JSON)


def failure_cause(doc: dict, report_key: str) -> str:
    failed = [i for i in doc["items"] if i["status"] != "SUCCEEDED"]
    if not failed:
        return ""
    lines = [f"{len(failed)} of {len(doc['items'])} experiment(s) failed; details in {report_key}"]
    for item in failed:
        error = item.get("error") or {}
        what = f"{error.get('Error', '')}: {error.get('Cause', '')}".strip(": ") if isinstance(error, dict) else str(error)
        lines.append(f"{item['key']} {item['status']}: {what[:CAUSE_PER_ITEM] or 'no error recorded'}")
    return "\n".join(lines)


def handler(event: dict, context: object) -> dict:
    doc = report(event["run_id"], event["outcomes"])
    key = f"{event['results_prefix']}report.json"
    S3Store(event["bucket"]).put_json(key, doc)
    logger.info("report written", extra={"run_id": doc["run_id"], "failed": doc["failed"]})
    return {"run_id": doc["run_id"], "report_key": key, "succeeded": doc["succeeded"], "failed": doc["failed"],
            "cause": failure_cause(doc, key)}
