"""Step Functions callbacks: tell the waiting execution that an iteration finished or failed.

A token can be answered only once; answering again (a redelivered message after a crash) gets
TaskTimedOut / InvalidToken / TaskDoesNotExist, which means the first answer arrived, so it is ignored.
"""

from __future__ import annotations

import json

import boto3
from botocore.exceptions import ClientError

ALREADY_ANSWERED = {"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"}


def _client(client):
    return client or boto3.client("stepfunctions")


def send_success(token: str, output: dict, client=None) -> bool:
    try:
        _client(client).send_task_success(taskToken=token, output=json.dumps(output))
        return True
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ALREADY_ANSWERED:
            return False
        raise


def send_failure(token: str, error: str, cause: str, client=None) -> bool:
    try:
        _client(client).send_task_failure(taskToken=token, error=error[:256], cause=cause[:32768])
        return True
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ALREADY_ANSWERED:
            return False
        raise
