"""Sum partial gradients as their messages arrive (SQS FIFO event source), exactly once per shot.

Records are grouped by message group (= run + iteration) and each group is reduced with a single
accumulator write (workloads/lsrtm/reduction.py explains why that is exactly-once). When a group's
sum is complete: SGD update, iteration result, and the waiting execution is told (task token).
A group that fails is reported back whole (partial batch response), so SQS redelivers it and, FIFO
keeping order, nothing after it in that group runs first; other groups are unaffected.

Not Powertools' SqsFifoPartialProcessor: it handles one record at a time, which would rewrite the
accumulator (82 MB for BP 2004) once per message instead of once per batch.
"""

from __future__ import annotations

import json
from collections import OrderedDict

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import SQSEvent

from adapters.s3_store import S3Store
from adapters.task_tokens import send_success
from workloads.lsrtm import layout
from workloads.lsrtm.messages import PartialGradientMessage
from workloads.lsrtm.reduction import apply_update, load_manifest, reduce_messages

logger = Logger(service="lsrtm-reduce-gradients")


@logger.inject_lambda_context(log_event=False)
def handler(event: dict, context: object) -> dict:
    groups: OrderedDict[str, list] = OrderedDict()
    for record in SQSEvent(event).records:
        groups.setdefault(record.attributes.message_group_id or record.message_id, []).append(record)
    failures: list[dict] = []
    for group, records in groups.items():
        try:
            reduce_group([PartialGradientMessage.from_json(r.body) for r in records])
        except Exception:
            logger.exception("reduction failed; the group will be redelivered", extra={"group": group})
            failures.extend({"itemIdentifier": r.message_id} for r in records)
    return {"batchItemFailures": failures}


def reduce_group(messages: list[PartialGradientMessage]) -> None:
    first = messages[0]
    if any((m.bucket, m.group_id) != (first.bucket, first.group_id) for m in messages):
        raise ValueError(f"messages of one group name different buckets or iterations: {messages}")
    store = S3Store(first.bucket)
    manifest = load_manifest(store, first.run_id, first.iteration)
    result_key = layout.result_key(first.run_id, first.iteration)
    if store.exists(result_key):
        # the iteration is complete: a late duplicate, or a redelivery after a crash before the execution
        # was told. Answering again is harmless (a token answers once; later answers are ignored).
        outcome = json.loads(store.get(result_key))
        answered = send_success(manifest.task_token, outcome)
        logger.info("iteration already complete", extra={"group": first.group_id, "token_answered_now": answered})
        return
    result, accumulator = reduce_messages(store, manifest, messages)
    logger.info(
        "reduced",
        extra={"run_id": result.run_id, "iteration": result.iteration, "added": result.added,
               "duplicates": result.skipped, "done": result.shots_done, "expected": result.shots_expected},
    )
    if not result.complete:
        return
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
    store.put(result_key, json.dumps(outcome).encode())
    answered = send_success(manifest.task_token, outcome)
    logger.info("iteration complete", extra={**outcome, "token_answered_now": answered})
