"""Sum partial gradients as their messages arrive (SQS FIFO event source), exactly once per shot.

Records are grouped by message group (= run + iteration) and each group is reduced with a single
conditional accumulator write (workloads/lsrtm/reduction.py explains why that is exactly-once). When a
group's sum is complete: SGD update, iteration result, and the waiting execution is told (task token).

Two kinds of failure, handled apart:
- a message that can never be summed (malformed, misfit null, another shot's key, a missing gradient)
  is set aside on its own: copied to the dead-letter queue (which alarms) and its iteration failed at
  once with a cause naming the shot. It is not returned to the queue, where it would block its FIFO
  group for five visibility timeouts and drag its group-mates to the dead-letter queue with it;
- anything else (S3 or the network) fails the group's records (partial batch response), so SQS
  redelivers them; on the last delivery before the dead-letter queue the iteration is failed too,
  rather than left waiting for its timeout.

Not Powertools' SqsFifoPartialProcessor: it handles one record at a time, which would rewrite the
accumulator (82 MB for BP 2004) once per message instead of once per batch.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import SQSEvent
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from adapters.s3_store import S3Store
from adapters.task_tokens import send_failure, send_success
from workloads.common.store import ObjectNotFound
from workloads.lsrtm import layout
from workloads.lsrtm.messages import InvalidMessage, PartialGradientMessage
from workloads.lsrtm.reduction import apply_update, load_manifest, reduce_messages

logger = Logger(service="lsrtm-reduce-gradients")
INVALID = "InvalidGradientMessage"
REDUCTION_FAILED = "ReductionFailed"


@logger.inject_lambda_context(log_event=False)
def handler(event: dict, context: object) -> dict:
    groups: OrderedDict[str, list[SQSRecord]] = OrderedDict()
    for record in SQSEvent(event).records:
        groups.setdefault(record.attributes.message_group_id or record.message_id, []).append(record)
    failures: list[dict] = []
    for group, records in groups.items():
        try:
            reduce_group(group, records)
        except Exception as exc:
            logger.exception("reduction failed; the group will be redelivered", extra={"group": group})
            _fail_on_last_delivery(group, records, exc)
            failures.extend({"itemIdentifier": r.message_id} for r in records)
    return {"batchItemFailures": failures}


def reduce_group(group_id: str, records: list[SQSRecord]) -> None:
    messages: list[PartialGradientMessage] = []
    record_of: dict[int, SQSRecord] = {}  # id(message) -> its record, to set a rejected one aside
    set_aside: list[tuple[SQSRecord, InvalidMessage]] = []
    for record in records:
        try:
            message = PartialGradientMessage.parse(record.body, group_id)
        except InvalidMessage as exc:
            set_aside.append((record, exc))
            continue
        messages.append(message)
        record_of[id(message)] = record
    store = S3Store(messages[0].bucket if messages else os.environ["DATA_BUCKET"])
    complete = None
    if messages:
        complete, rejected = _reduce(store, messages)
        set_aside += [(record_of[id(message)], invalid) for message, invalid in rejected]
    for record, invalid in set_aside:
        _set_aside(store, group_id, record, invalid)
    if complete is not None and not set_aside:
        _finish(store, *complete)


def _reduce(store: S3Store, messages: list[PartialGradientMessage]):
    """Sum the group's valid messages: ((manifest, accumulator) if the sum is now complete, else None;
    the (message, why) pairs that can never be summed)."""
    first = messages[0]
    manifest = load_manifest(store, first.run_id, first.iteration)
    result_key = layout.result_key(first.run_id, first.iteration)
    if store.exists(result_key):
        # the iteration is complete: a late duplicate, or a redelivery after a crash before the execution
        # was told. Answering again is harmless (a token answers once; later answers are ignored).
        answered = send_success(manifest.task_token, json.loads(store.get(result_key)))
        logger.info("iteration already complete", extra={"group": first.group_id, "token_answered_now": answered})
        return None, []
    result, accumulator = reduce_messages(store, manifest, messages)
    logger.info(
        "reduced",
        extra={"run_id": result.run_id, "iteration": result.iteration, "added": result.added,
               "duplicates": result.skipped, "rejected": [invalid.shot for _, invalid in result.rejected],
               "done": result.shots_done, "expected": result.shots_expected, "write_attempts": result.write_attempts},
    )
    return ((manifest, accumulator) if result.complete else None), result.rejected


def _finish(store: S3Store, manifest, accumulator) -> None:
    # Each step below is idempotent. The result is written before the execution is told, so whatever
    # runs next (the next iteration, the clean-up and its report) finds it; after a crash anywhere here
    # the redelivered messages add nothing to the sum and finish the iteration again.
    image_key = apply_update(store, manifest, accumulator)
    outcome = {
        "iteration": manifest.iteration,
        "misfit": accumulator.misfit,
        "image_key": image_key,
        "shots": sorted(accumulator.shots),
    }
    store.put(layout.result_key(manifest.run_id, manifest.iteration), json.dumps(outcome).encode())
    answered = send_success(manifest.task_token, outcome)
    logger.info("iteration complete", extra={**outcome, "token_answered_now": answered})


def _set_aside(store: S3Store, group_id: str, record: SQSRecord, invalid: InvalidMessage) -> None:
    """Keep the message where a person (and the alarm) sees it, and fail its iteration now."""
    boto3.client("sqs").send_message(
        QueueUrl=os.environ["DEAD_LETTER_QUEUE_URL"],
        MessageBody=record.body or "(empty)",
        MessageGroupId=group_id,
        MessageDeduplicationId=record.message_id[:128],  # a redelivered copy of the same message is dropped
        MessageAttributes={"reason": {"DataType": "String", "StringValue": invalid.describe()[:1024]}},
    )
    answered = _fail_iteration(store, invalid.run_id, invalid.iteration, INVALID, invalid.describe())
    logger.error("message set aside", extra={"group": group_id, "reason": invalid.describe(), "answered": answered})


def _fail_on_last_delivery(group_id: str, records: list[SQSRecord], exc: Exception) -> None:
    """After this delivery the group's messages go to the dead-letter queue: fail the iteration now."""
    limit = int(os.environ.get("MAX_RECEIVE_COUNT", "0"))
    if not limit or max(int(r.attributes.approximate_receive_count or 0) for r in records) < limit:
        return
    run_id, _, iteration = group_id.rpartition(".")
    if not iteration.isdigit():
        return
    cause = f"reducing iteration {iteration} failed on all {limit} deliveries, last with {exc!r}"
    try:
        _fail_iteration(S3Store(os.environ["DATA_BUCKET"]), run_id, int(iteration), REDUCTION_FAILED, cause)
    except Exception:
        logger.exception("could not fail the iteration; the dead-letter queue alarm still fires")


def _fail_iteration(store: S3Store, run_id: str | None, iteration: int | None, error: str, cause: str) -> bool:
    if run_id is None or iteration is None:
        return False  # nothing says which execution waits; the dead-letter queue's alarm tells a person
    try:
        manifest = load_manifest(store, run_id, iteration)
    except (ObjectNotFound, ValueError):
        return False  # no such iteration: nothing waits on it
    return send_failure(manifest.task_token, error, cause)
