"""Check one item's results in S3 and write its summary.

Event: {"run_id", "bucket", "item": <an item of the plan>}. Reads <item.results_prefix>coordinator.json
and node_<i>.json for every node (the files the containers upload), validates them against the runtime's
result schemas, and writes <item.results_prefix>summary.json: every participant's status and the
coordinator's traffic (messages and bytes, per node and in total).
Raises ResultsIncomplete while a file is missing (the state machine retries: the coordinator uploads
after the last node), and RunEndedEarly, after writing the summary, when a participant did not complete.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from aws_lambda_powertools import Logger

from adapters.s3_store import S3Store
from workloads.automon import results

logger = Logger(service="automon-gather-results")


class ResultsIncomplete(RuntimeError):
    """A participant's results file is not in S3 yet."""


class RunEndedEarly(RuntimeError):
    """Every file is there, but a participant did not complete (its status says why)."""


def summarize(coordinator: results.CoordinatorResult, nodes: list[results.NodeResult], item: dict) -> dict:
    statuses = {"coordinator": coordinator.status, **{f"node_{n.node_idx}": n.status for n in nodes}}
    traffic = coordinator.traffic
    return {
        "key": item["key"],
        "node_type": item["node_type"],
        "error_bound": item["error_bound"],
        "algorithm": coordinator.run.algorithm,
        "num_nodes": item["num_nodes"],
        "status": "completed" if all(s == "completed" for s in statuses.values()) else "ended_early",
        "statuses": statuses,
        # what failed, in the participants' words (an algorithm's exception, a node's abort)
        "errors": {name: err for name, err in (("coordinator", coordinator.error),
                                               *((f"node_{n.node_idx}", n.error) for n in nodes)) if err},
        # what the coordinator received from / sent to all nodes (application frames)
        "messages": {"received": traffic.received.messages, "sent": traffic.sent.messages},
        "bytes": {"received": traffic.received.bytes, "sent": traffic.sent.bytes},
        "zmtp_bytes": {"received": traffic.received.zmtp_bytes, "sent": traffic.sent.zmtp_bytes},
        "messages_per_node": {k: t.received.messages + t.sent.messages for k, t in coordinator.traffic_per_node.items()},
        "rejected_frames": coordinator.rejected.count,
        "coordinator_wall_s": coordinator.wall_s,
    }


def handler(event: dict, context: object) -> dict:
    item, bucket = event["item"], event["bucket"]
    prefix = PurePosixPath(item["results_prefix"])
    store = S3Store(bucket)
    wanted = {"coordinator": results.coordinator_path(prefix).as_posix()}
    wanted.update({f"node_{i}": results.node_path(prefix, i).as_posix() for i in range(item["num_nodes"])})
    found = {name: store.read_json(key) for name, key in wanted.items()}
    missing = sorted(wanted[name] for name, doc in found.items() if doc is None)
    if missing:
        raise ResultsIncomplete(f"not yet in s3://{bucket}/: {', '.join(missing)}")
    coordinator = results.CoordinatorResult.model_validate(found.pop("coordinator"))
    nodes = [results.NodeResult.model_validate(found[f"node_{i}"]) for i in range(item["num_nodes"])]
    summary = summarize(coordinator, nodes, item)
    store.put_json((prefix / "summary.json").as_posix(), summary)
    logger.info("results gathered", extra={"item": item["key"], "status": summary["status"]})
    if summary["status"] != "completed":
        errors = "; ".join(f"{name}: {err}" for name, err in summary["errors"].items())
        raise RunEndedEarly(f"{item['key']}: {summary['statuses']}" + (f"; {errors}" if errors else ""))
    return {k: summary[k] for k in ("key", "status", "messages", "bytes")}
