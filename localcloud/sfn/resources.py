"""Task resources: which integration an ARN names, and what the integration learns about its task."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field

from localcloud.sfn.errors import DefinitionError

PLACEHOLDER_REGION = "us-east-1"
PLACEHOLDER_ACCOUNT = "123456789012"
STATES_PREFIX = "arn:aws:states:::"
PATTERNS = {".waitForTaskToken": "waitForTaskToken", ".sync:2": "sync", ".sync": "sync"}


@dataclass(frozen=True)
class Resource:
    arn: str
    service: str  # "lambda", "batch", "sqs", "aws-sdk:s3", ...
    action: str  # "invoke", "submitJob", ...; for a bare Lambda ARN "function"
    pattern: str = ""  # "", "sync" or "waitForTaskToken"
    function: str | None = None  # a bare Lambda ARN: the function name

    @property
    def is_bare_lambda(self) -> bool:
        return self.function is not None

    @property
    def key(self) -> str:
        return f"{self.service}:{self.action}"


def parse_resource(arn: str) -> Resource:
    if arn.startswith("arn:aws:lambda:"):
        return Resource(arn, "lambda", "function", function=function_name(arn))
    if not arn.startswith(STATES_PREFIX):
        raise DefinitionError(f"resource {arn!r} is not supported locally (activities and other ARNs need AWS)")
    rest, pattern = arn[len(STATES_PREFIX):], ""
    for suffix, name in PATTERNS.items():
        if rest.endswith(suffix):
            rest, pattern = rest[: -len(suffix)], name
            break
    service, _, action = rest.rpartition(":")
    if not service or not action:
        raise DefinitionError(f"cannot read service and action from resource {arn!r}")
    return Resource(arn, service, action, pattern)


def function_name(reference: str) -> str:
    """The function name in a Lambda ARN, partial ARN (account:function:name) or name, without qualifier."""
    parts = reference.split(":")
    if "function" in parts:
        return parts[parts.index("function") + 1]
    return parts[0]


@dataclass
class TaskContext:
    """What a service callable learns about the task calling it."""

    execution_arn: str
    execution_name: str
    state_name: str
    resource: str
    pattern: str  # "", "sync" or "waitForTaskToken"
    task_token: str | None
    retry_count: int
    context_object: dict
    # set when the task was abandoned (timeout, execution stopped, a sibling failed): stop working
    cancelled: threading.Event = field(default_factory=threading.Event)


def sdk_metadata(status: int = 200) -> dict:
    request_id = str(uuid.uuid4())
    return {
        "SdkHttpMetadata": {"HttpHeaders": {"Content-Type": "application/json", "x-amzn-RequestId": request_id},
                            "HttpStatusCode": status},
        "SdkResponseMetadata": {"RequestId": request_id},
    }
