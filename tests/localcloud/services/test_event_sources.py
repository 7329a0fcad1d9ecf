"""The local SQS -> Lambda mapping against moto's server: batches, FIFO groups, partial failures."""

from __future__ import annotations

import time

import boto3

from localcloud.services.event_sources import SqsEventSource
from localcloud.services.moto_server import moto_server


def test_failed_records_come_back_and_succeeded_ones_do_not():
    with moto_server() as url:
        sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=url)
        queue_url = sqs.create_queue(QueueName="g.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        for i in range(5):
            sqs.send_message(QueueUrl=queue_url, MessageBody=str(i), MessageGroupId="run.1",
                             MessageDeduplicationId=f"m{i}")
        seen: list[list[str]] = []
        failed_once: set[str] = set()

        def handler(event):
            bodies = [r["body"] for r in event["Records"]]
            seen.append(bodies)
            assert all(r["attributes"]["MessageGroupId"] == "run.1" for r in event["Records"])
            failures = [{"itemIdentifier": r["messageId"]} for r in event["Records"]
                        if r["body"] == "3" and "3" not in failed_once]
            failed_once.update(r["body"] for r in event["Records"] if r["body"] == "3")
            return {"batchItemFailures": failures}

        source = SqsEventSource(sqs, queue_url, "arn:aws:sqs:us-east-1:123456789012:g.fifo", handler, batch_size=10).start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and sum(len(b) for b in seen) < 6:
            time.sleep(0.2)
        source.stop()
        delivered = [b for batch in seen for b in batch]
        assert sorted(delivered) == ["0", "1", "2", "3", "3", "4"]  # 3 failed once and came back
        assert source.failed_records == 1
        assert source.invocations == len(seen) <= 3
        assert sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"]["ApproximateNumberOfMessages"] == "0"
