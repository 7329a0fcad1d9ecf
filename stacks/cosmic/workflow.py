"""The cosmicai state machine and its Lambdas.

  ValidateInput -> RunRanks (Distributed Map over [0..W-1], MaxConcurrency = max_world_size) -> Summarize

- ValidateInput checks the input (schema, world_size <= the limit, objects exist, rendezvous reachable)
  and returns the run: a shared `job` and the list of ranks. Bad input fails here, before any rank runs.
- RunRanks: every rank must run at the same time (FMI collectives wait for all), so the Map's concurrency
  is the largest world size the deployment accepts, and ValidateInput refuses anything larger. A
  Distributed Map (not inline, which runs at most 40 iterations at once), with STANDARD children
  (EXPRESS children stop at 5 minutes; an executor may run 15). Its items are rank numbers; the
  ItemSelector adds the job, so the state payload stays small at thousands of ranks.
- Retries: a rank is retried only when Lambda throttled it (the function never ran, so nothing paired
  yet). Any other failure of a rank fails the Map: re-running one rank while its peers already moved on
  would only wait for them until the timeout.
- Summarize lists runs/<execution>/ranks/ page by page and writes summary.json.
JSONPath throughout (the local runner executes it).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.constructs.state_machine_parts import logged_state_machine, validated_input
from stacks.constructs.workflow_functions import WorkflowFunction
from stacks.cosmic.config import FmiConfig
from stacks.cosmic.executor import CosmicExecutor
from stacks.nag import acknowledge, arn_in_finding
from workloads.cosmic.job import RESULTS_ROOT

THROTTLED = ["Lambda.TooManyRequestsException"]
# throttled ranks come back within ~1 minute (1+2+4+8+16+32 s at most, jittered): well inside the time a
# running rank waits for its peers (op_timeout_s)
THROTTLE_RETRY = {"interval": Duration.seconds(1), "max_attempts": 6, "backoff_rate": 2.0,
                  "jitter_strategy": sfn.JitterType.FULL}


class CosmicWorkflow(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: Callable[..., str],
        config: FmiConfig,
        code_bucket: s3.IBucket,
        data_bucket: s3.IBucket,
        results_bucket: s3.IBucket,
        rendezvous_host: str,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.validate = WorkflowFunction(
            self, "ValidateInput", handler_folder="cosmic_validate_input",
            function_name=name("cosmicai-validate-input"),
            description="cosmicai: validate the execution input, check inputs and rendezvous, plan the ranks",
            log_retention=log_retention, timeout=Duration.seconds(30),
            environment={
                "RENDEZVOUS_HOST": rendezvous_host,
                "RENDEZVOUS_PORT": str(config.rendezvous_port),
                "MAX_WORLD_SIZE": str(config.max_world_size),
                "OP_TIMEOUT_S": str(config.op_timeout_s),
                "DATA_BUCKET": data_bucket.bucket_name,
                "CODE_BUCKET": code_bucket.bucket_name,
                "RESULTS_BUCKET": results_bucket.bucket_name,
            },
        )
        self.executor = CosmicExecutor(
            self, "Executor", function_name=name("cosmicai-executor"), memory_mib=config.executor_memory_mib,
            timeout=Duration.seconds(config.executor_timeout_s),
            ephemeral_storage_mib=config.executor_ephemeral_storage_mib, log_retention=log_retention,
        )
        self.summary = WorkflowFunction(
            self, "Summarize", handler_folder="cosmic_summary", function_name=name("cosmicai-summary"),
            description="cosmicai: check every rank's record and write the execution's summary",
            log_retention=log_retention, timeout=Duration.minutes(5), memory_mib=1024,
        )
        self._grant(code_bucket, data_bucket, results_bucket)
        self.state_machine = self._state_machine(name("cosmicai"), config, log_retention)
        self._acknowledge(code_bucket, data_bucket, results_bucket)

    # --- permissions ----------------------------------------------------------------------------
    def _grant(self, code: s3.IBucket, data: s3.IBucket, results: s3.IBucket) -> None:
        runs = results.arn_for_objects(f"{RESULTS_ROOT}*")
        read_inputs = iam.PolicyStatement(actions=["s3:GetObject"],
                                          resources=[code.arn_for_objects("*"), data.arn_for_objects("*")])
        # validate: HEAD the inputs (needs GetObject), write plan.json
        self.validate.role.add_to_policy(read_inputs)
        self.validate.role.add_to_policy(iam.PolicyStatement(actions=["s3:PutObject"], resources=[runs]))
        # executor: read inputs, write its rank's record (and rank 0 the combined record)
        self.executor.role.add_to_policy(read_inputs)
        self.executor.role.add_to_policy(iam.PolicyStatement(actions=["s3:PutObject"], resources=[runs]))
        # summary: list and read the records, write summary.json
        self.summary.role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject", "s3:PutObject"], resources=[runs]))
        self.summary.role.add_to_policy(iam.PolicyStatement(
            actions=["s3:ListBucket"], resources=[results.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{RESULTS_ROOT}*"]}},
        ))

    def _acknowledge(self, code: s3.IBucket, data: s3.IBucket, results: s3.IBucket) -> None:
        runs = f"AwsSolutions-IAM5[Resource::{arn_in_finding(results)}/{RESULTS_ROOT}*]"
        runs_reason = ("each execution writes under runs/<execution>/ with keys made per run; object access is "
                       "limited to that prefix of the results bucket")
        inputs_reason = ("inputs are named per execution (data_key, weights_key, script_key), so reads cover the "
                         "objects of the code and data buckets; read-only, no listing")
        for role in (self.validate.role, self.executor.role, self.summary.role):
            policy = role.node.find_child("DefaultPolicy")
            acknowledge(policy, runs, runs_reason)
        for role in (self.validate.role, self.executor.role):
            policy = role.node.find_child("DefaultPolicy")
            for bucket in (code, data):
                acknowledge(policy, f"AwsSolutions-IAM5[Resource::{arn_in_finding(bucket)}/*]", inputs_reason)
        machine_policy = self.state_machine.role.node.find_child("DefaultPolicy")
        for fn in (self.validate.function, self.executor.function, self.summary.function):
            acknowledge(machine_policy, f"AwsSolutions-IAM5[Resource::{arn_in_finding(fn)}:*]",
                        "CDK's LambdaInvoke grants the function and its versions/aliases (ARN:*); still this one function")
        acknowledge(machine_policy, "AwsSolutions-IAM5[Resource::*]",
                    "X-Ray tracing and CloudWatch Logs delivery have no narrower resource Step Functions can name")
        # the Distributed Map's own policy: start this machine, describe/stop/redrive its child executions,
        # whose names Step Functions makes at run time (so the ARNs end in '*')
        machine_id = Stack.of(self).get_logical_id(self.state_machine.node.default_child)
        name_of_machine = json.dumps({"Fn::Select": [6, {"Fn::Split": [":", {"Ref": machine_id}]}]},
                                     separators=(",", ":"))
        map_policy = self.state_machine.node.find_child("DistributedMapPolicy")
        for suffix in (":*", "/*:*"):
            acknowledge(
                map_policy,
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
                f"{name_of_machine}{suffix}]",
                "the Distributed Map manages the child executions of this one state machine; Step Functions names "
                "them at run time, so their ARNs can only be given with a wildcard",
            )

    # --- the state machine ----------------------------------------------------------------------
    def _state_machine(self, machine_name: str, config: FmiConfig, log_retention: logs.RetentionDays) -> sfn.StateMachine:
        scope = Construct(self, "Cosmicai")
        validate = validated_input(scope, self.validate.function)

        rank = tasks.LambdaInvoke(
            scope, "RunRank", lambda_function=self.executor.function, payload_response_only=True,
            retry_on_service_exceptions=False,  # a rank that ran may have paired: re-running it cannot help
        )
        rank.add_retry(errors=THROTTLED, **THROTTLE_RETRY)
        ranks = sfn.DistributedMap(
            scope, "RunRanks",
            items_path="$.ranks",
            item_selector={"rank.$": "$$.Map.Item.Value", "job.$": "$.job"},
            max_concurrency=config.max_world_size,
            map_execution_type=sfn.StateMachineType.STANDARD,
            result_path=sfn.JsonPath.DISCARD,  # records go to S3; W outputs could exceed the payload limit
        )
        ranks.item_processor(rank)

        summarize = tasks.LambdaInvoke(
            scope, "Summarize", lambda_function=self.summary.function, payload_response_only=True,
        )

        return logged_state_machine(
            scope, machine_name, validate.next(ranks).next(summarize),
            log_retention=log_retention,
            timeout=Duration.minutes(config.execution_timeout_minutes),
            comment="cosmicai: AstroMAE inference on N Lambda ranks that talk through a TCPunch rendezvous server",
        )
