"""The SQS -> Lambda event source mapping: poll, batch, invoke, delete what succeeded, and redeliver
what the handler reported as failed (ReportBatchItemFailures)."""

from __future__ import annotations

import threading
from collections.abc import Callable


def sqs_record(message: dict, queue_arn: str) -> dict:
    """One received message in the shape Lambda gives an SQS-triggered function."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {
            name: {"stringValue": a.get("StringValue"), "dataType": a.get("DataType")}
            for name, a in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": "us-east-1",
    }


class SqsEventSource:
    def __init__(
        self,
        sqs_client,
        queue_url: str,
        queue_arn: str,
        handler: Callable[[dict], dict | None],
        *,
        batch_size: int = 10,
        retry_after_s: int = 1,
    ) -> None:
        self.sqs = sqs_client
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.handler = handler
        self.batch_size = batch_size
        self.retry_after_s = retry_after_s
        self.invocations = 0
        self.failed_records = 0
        self.errors: list[str] = []
        # called once if polling itself fails (e.g. the function's role may not receive): the source stops,
        # as Lambda disables a mapping it cannot poll
        self.on_error: Callable[[str], None] = lambda message: None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name=f"esm-{queue_arn.rsplit(':', 1)[-1]}")

    def start(self) -> SqsEventSource:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                response = self.sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=self.batch_size,
                    WaitTimeSeconds=1,
                    VisibilityTimeout=30,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                )
            except Exception as exc:  # noqa: BLE001 - whatever stops polling is reported, then the source stops
                self.errors.append(str(exc))
                self.on_error(f"the event source mapping of {self.queue_arn} stopped polling: {exc}")
                return
            messages = response.get("Messages", [])
            if messages:
                self._deliver(messages)

    def _deliver(self, messages: list[dict]) -> None:
        self.invocations += 1
        event = {"Records": [sqs_record(m, self.queue_arn) for m in messages]}
        try:
            result = self.handler(event) or {}
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        except Exception as exc:  # the whole batch returns to the queue, as with a real function error
            self.errors.append(repr(exc))
            failed = {m["MessageId"] for m in messages}
        self.failed_records += len(failed)
        for m in messages:
            if m["MessageId"] in failed:
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=self.retry_after_s
                )
            else:
                try:
                    self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
                except Exception as exc:  # noqa: BLE001 - a refused delete: the message comes back, reported
                    self.errors.append(str(exc))
                    self.on_error(f"the event source mapping of {self.queue_arn} could not delete a message: {exc}")
