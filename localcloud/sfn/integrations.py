"""What a Task's Resource runs locally: a registry the caller fills with Lambda handlers, the Batch
backend and any other service action, each behaving like the Step Functions integration it stands in for.

Resources understood:
  arn:aws:lambda:<region>:<account>:function:<name>[:qualifier]  -> the handler's return value
  arn:aws:states:::lambda:invoke[.waitForTaskToken]              -> {"Payload": ..., "StatusCode": 200, ...}
  arn:aws:states:::batch:submitJob[.sync]                         -> via register_batch
  arn:aws:states:::<service>:<action>[.sync|.waitForTaskToken]    -> via register_service
"""

from __future__ import annotations

import json
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from localcloud.sfn.batch import BatchBackend, BatchJobs
from localcloud.sfn.errors import StatesError
from localcloud.sfn.resources import (
    PLACEHOLDER_ACCOUNT,
    PLACEHOLDER_REGION,
    STATES_PREFIX,
    Resource,
    TaskContext,
    function_name,
    parse_resource,
    sdk_metadata,
)

ServiceCallable = Callable[[Any, TaskContext], Any]
LambdaHandler = Callable[[Any, Any], Any]
# (a Task's resource ARN, its parameters) -> None, or StatesError when the state machine's role may not call it
Authorizer = Callable[[str, Any], None]


class LambdaContext:
    """The Lambda context object handlers and Powertools read."""

    def __init__(self, name: str, timeout_s: float = 900.0, memory_mb: int = 1024) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{PLACEHOLDER_REGION}:{PLACEHOLDER_ACCOUNT}:function:{name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class _Function:
    handler: LambdaHandler
    timeout_s: float
    memory_mb: int


def _json_copy(value: Any, what: str) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as exc:
        raise StatesError("Runtime.MarshalError", json.dumps({
            "errorMessage": f"Unable to marshal {what}: {exc}", "errorType": "Runtime.MarshalError",
            "requestId": "", "stackTrace": []})) from None


def _invoke_payload(payload: Any) -> Any:
    """The event lambda:invoke hands the function. Recorded on AWS: a string Payload is sent as the raw
    request body, so a JSON string arrives parsed; a null Payload arrives as {}. A string that is not JSON
    is refused the way Lambda's Invoke API refuses such a body (error name: the integration's prefix)."""
    if payload is None:
        return {}
    if not isinstance(payload, str):
        return payload
    try:
        return json.loads(payload)
    except json.JSONDecodeError as exc:
        raise StatesError("Lambda.InvalidRequestContentException",
                          f"Could not parse request body into json: {exc}") from None


class Integrations:
    """The registry. Each register_* returns self, so registrations chain."""

    def __init__(self, authorize: Authorizer | None = None) -> None:
        self._functions: dict[str, _Function] = {}
        self._services: dict[str, ServiceCallable] = {}
        # what Step Functions checks with the state machine's role before it calls a service
        self.authorize: Authorizer = authorize or (lambda resource, parameters: None)

    # --- registration -------------------------------------------------------------------------------
    def register_lambda(self, function: str, handler: LambdaHandler, *, timeout_s: float = 900.0,
                        memory_mb: int = 1024) -> Integrations:
        """`function`: an ARN, or the function name (for CDK templates flattened by localcloud.asl that is the
        function's logical id). `handler(event, context)` is called like Lambda calls it."""
        self._functions[function_name(function)] = _Function(handler, timeout_s, memory_mb)
        return self

    def register_service(self, resource: str, call: ServiceCallable) -> Integrations:
        """`resource`: "sqs:sendMessage", "aws-sdk:s3:putObject" or the full arn:aws:states:::... form (any
        .sync/.waitForTaskToken suffix is ignored: the callable reads context.pattern). For .sync the
        callable returns when the work is done; for .waitForTaskToken its result is ignored."""
        arn = resource if resource.startswith(STATES_PREFIX) else STATES_PREFIX + resource
        self._services[parse_resource(arn).key] = call
        return self

    def register_batch(self, backend: BatchBackend, *, poll_interval_s: float = 0.25) -> Integrations:
        """batch:submitJob and batch:submitJob.sync against a backend such as LocalBatch."""
        return self.register_service("batch:submitJob", BatchJobs(backend, poll_interval_s))

    # --- lookup -------------------------------------------------------------------------------------
    def has_function(self, reference: str) -> bool:
        return function_name(reference) in self._functions

    def has_service(self, resource: Resource) -> bool:
        return resource.key in self._services

    def call(self, resource: Resource, parameters: Any, context: TaskContext) -> Any:
        self.authorize(resource.arn, parameters)
        if resource.is_bare_lambda:
            return self.invoke_function(resource.function, parameters)
        if resource.key == "lambda:invoke" and resource.key not in self._services:
            return self._lambda_invoke(parameters)
        call = self._services.get(resource.key)
        if call is None:
            raise StatesError("States.Runtime", f"no local integration registered for {resource.arn}")
        try:
            result = call(parameters, context)
        except StatesError:
            raise
        except Exception as exc:  # a service callable's own error: its type names the error
            raise StatesError(type(exc).__name__, str(exc)) from exc
        try:
            return json.loads(json.dumps(result))
        except (TypeError, ValueError) as exc:  # a bug in the local stand-in, not something to Catch
            raise StatesError("States.Runtime", f"the local integration for {resource.arn} returned a value "
                                                f"that is not JSON: {exc}") from None

    # --- Lambda -------------------------------------------------------------------------------------
    def invoke_function(self, reference: str, event: Any) -> Any:
        """Call a registered handler like Lambda: JSON in and out; an exception becomes the error AWS
        reports (Error = the exception type, Cause = {"errorMessage", "errorType", "requestId", "stackTrace"})."""
        name = function_name(reference)
        function = self._functions.get(name)
        if function is None:
            raise StatesError("Lambda.ResourceNotFoundException", f"Function not found: {reference}")
        lambda_context = LambdaContext(name, function.timeout_s, function.memory_mb)
        event = _json_copy(event, "the event")
        try:
            result = function.handler(event, lambda_context)
        except Exception as exc:  # the function's error, reported like the Python runtime does
            frames = traceback.extract_tb(exc.__traceback__)[1:]  # drop this frame
            raise StatesError(type(exc).__name__, json.dumps({
                "errorMessage": str(exc),
                "errorType": type(exc).__name__,
                "requestId": lambda_context.aws_request_id,
                "stackTrace": traceback.format_list(frames),
            })) from exc
        return _json_copy(result, "the response")

    def _lambda_invoke(self, parameters: Any) -> dict:
        if not isinstance(parameters, dict) or "FunctionName" not in parameters:
            raise StatesError("States.Runtime", "lambda:invoke needs Parameters.FunctionName")
        payload = _invoke_payload(parameters.get("Payload", {}))
        if parameters.get("InvocationType") == "Event":
            threading.Thread(target=self._invoke_quietly, args=(parameters["FunctionName"], payload),
                             daemon=True).start()
            return {"Payload": "", "StatusCode": 202, **sdk_metadata(202)}
        result = self.invoke_function(parameters["FunctionName"], payload)
        return {"ExecutedVersion": "$LATEST", "Payload": result, "StatusCode": 200, **sdk_metadata()}

    def _invoke_quietly(self, function: str, payload: Any) -> None:
        try:
            self.invoke_function(function, payload)
        except StatesError:
            pass  # an asynchronous invocation's failure does not reach the state machine


