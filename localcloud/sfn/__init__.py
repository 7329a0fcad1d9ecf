"""Local Step Functions runner: executes a JSONPath state machine definition (as synthesized by CDK into
cdk.out) on this machine, with Lambda, Batch and other integrations registered as Python callables.

    integrations = (Integrations()
                    .register_lambda("MyFunctionLogicalId", handler)      # handler(event, context)
                    .register_batch(local_batch)                          # batch:submitJob[.sync]
                    .register_service("sqs:sendMessage", send))           # send(parameters, task_context)
    machine = LocalStateMachine.from_cdk_out("cdk.out", "StateMachine", integrations, time_scale=0.01)
    with machine.callback_server() as server:       # boto3 send_task_* from handlers lands here
        os.environ.update(server.environment())     # AWS_ENDPOINT_URL_SFN
        result = machine.execute({"input": 1}, timeout=600)
    result.status, result.output, result.error, result.cause, result.events
"""

from localcloud.sfn.batch import BatchBackend
from localcloud.sfn.callback_server import CallbackServer
from localcloud.sfn.errors import DefinitionError, StatesError
from localcloud.sfn.history import HistoryEvent
from localcloud.sfn.integrations import Integrations, LambdaContext
from localcloud.sfn.resources import TaskContext
from localcloud.sfn.runner import (
    ABORTED,
    FAILED,
    SUCCEEDED,
    TIMED_OUT,
    Execution,
    ExecutionAlreadyExists,
    ExecutionResult,
    LocalStateMachine,
)
from localcloud.sfn.tokens import TaskTokenError, TaskTokens

__all__ = [
    "ABORTED", "FAILED", "SUCCEEDED", "TIMED_OUT", "BatchBackend", "CallbackServer", "DefinitionError", "Execution",
    "ExecutionAlreadyExists", "ExecutionResult", "HistoryEvent", "Integrations", "LambdaContext",
    "LocalStateMachine", "StatesError", "TaskContext", "TaskTokenError", "TaskTokens",
]
