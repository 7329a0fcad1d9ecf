"""What every workflow's state machine starts and is built with, written once.

- `validated_input`: a Lambda checks the execution input and returns the run state; anything it raises
  ends the execution at InputRejected with the handler's error and message, before anything runs.
- `logged_state_machine`: JSONPath definition, execution logs (ALL, with data) in a log group that has a
  retention, and X-Ray tracing.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct


def validated_input(scope: Construct, function: lambda_.IFunction, facts: dict | None = None) -> tasks.LambdaInvoke:
    """ValidateInput: {"input": <execution input>, "execution": <name>, **facts} in, the run state out (as $).

    `facts`: what this state machine adds for a validator that serves several (LSRTM: which queue runs it)."""
    validate = tasks.LambdaInvoke(
        scope, "ValidateInput", lambda_function=function,
        payload=sfn.TaskInput.from_object({"input.$": "$", "execution.$": "$$.Execution.Name", **(facts or {})}),
        payload_response_only=True, result_path="$.run", output_path="$.run",
    )
    rejected = sfn.Fail(scope, "InputRejected", error_path="$.error.Error", cause_path="$.error.Cause")
    validate.add_catch(rejected, errors=["States.ALL"], result_path="$.error")
    return validate


def logged_state_machine(
    scope: Construct, machine_name: str, definition: sfn.IChainable, *, log_retention: logs.RetentionDays,
    comment: str, timeout: Duration | None = None,
) -> sfn.StateMachine:
    log_group = logs.LogGroup(
        scope, "ExecutionLogs", log_group_name=f"/aws/vendedlogs/states/{machine_name}",
        retention=log_retention, removal_policy=RemovalPolicy.DESTROY,
    )
    return sfn.StateMachine(
        scope, "StateMachine",
        state_machine_name=machine_name,
        definition_body=sfn.DefinitionBody.from_chainable(definition),
        logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
        tracing_enabled=True,
        timeout=timeout,
        comment=comment,
    )
