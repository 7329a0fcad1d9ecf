"""Sum partial gradients as their messages arrive (SQS FIFO event source), exactly once per shot.

The reduction, and how it treats a message that can never be summed versus a failure worth retrying,
is workloads/lsrtm/gradient_batches.py; this handler gives it S3, the task tokens and the dead-letter
queue, and answers SQS with the records to redeliver (partial batch response).
"""

from __future__ import annotations

import os

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import SQSEvent

from adapters.s3_store import S3Store
from adapters.task_tokens import send_failure, send_success
from workloads.lsrtm.gradient_batches import Delivery, Ports, reduce_deliveries

logger = Logger(service="lsrtm-reduce-gradients")


def _set_aside(delivery: Delivery, reason: str) -> None:
    boto3.client("sqs").send_message(
        QueueUrl=os.environ["DEAD_LETTER_QUEUE_URL"],
        MessageBody=delivery.body or "(empty)",
        MessageGroupId=delivery.group_id,
        MessageDeduplicationId=delivery.message_id[:128],  # a redelivered copy of the same message is dropped
        MessageAttributes={"reason": {"DataType": "String", "StringValue": reason[:1024]}},
    )


@logger.inject_lambda_context(log_event=False)
def handler(event: dict, context: object) -> dict:
    deliveries = [
        Delivery(message_id=r.message_id, body=r.body, group_id=r.attributes.message_group_id or r.message_id,
                 receive_count=int(r.raw_event.get("attributes", {}).get("ApproximateReceiveCount") or 0))
        for r in SQSEvent(event).records
    ]
    ports = Ports(store_for=S3Store, default_bucket=os.environ.get("DATA_BUCKET", ""), succeed=send_success,
                  fail=send_failure, set_aside=_set_aside,
                  max_receive_count=int(os.environ.get("MAX_RECEIVE_COUNT", "0")), log=logger)
    failed = reduce_deliveries(deliveries, ports)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
