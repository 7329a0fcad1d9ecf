"""The LSRTM-SGD workflow: queue, Lambdas, failure rule and the two state machines.

  ValidateInput -> MoreIterations? -> ComputeGradient (waits on a task token) -> NextIteration -> ...
                                   -> CleanUp -> Done
  Batch workers write partial gradients and send a message each to a FIFO queue; the reducer sums
  them exactly once and, when the sum is complete, updates the image and answers the token. A job
  that fails for good is reported by an EventBridge rule, which answers the token with a failure.
  Any failure after validation goes through CleanUpAfterFailure (terminates jobs) to Failed.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from aws_cdk import Duration, Stack
from aws_cdk import aws_batch as batch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.constructs.state_machine_parts import logged_state_machine, validated_input
from stacks.constructs.workflow_functions import WorkflowFunction
from stacks.nag import acknowledge, arn_in_finding
from workloads.lsrtm import layout

REDUCER_TIMEOUT = Duration.minutes(5)
REDUCER_BATCH_SIZE = 10
MAX_RECEIVES = 5  # a group failing this often moves to the dead-letter queue instead of blocking forever
RETRYABLE_LAMBDA_ERRORS = ["ClientError", "EndpointConnectionError", "ConnectTimeoutError"]


class GradientMessages(Construct):
    """The FIFO queue workers report finished partial gradients to, with its dead-letter queue.

    FIFO: one message group per (run, iteration) means one reducer at a time per sum; the
    deduplication id (run, iteration, shot) drops a retried worker's second message within 5 minutes
    (later duplicates are caught by the reducer's shot set).
    """

    def __init__(self, scope: Construct, construct_id: str, *, name: Callable[..., str]) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters = sqs.Queue(
            self, "DeadLetters", fifo=True, queue_name=name("gradients-dlq") + ".fifo",
            encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True, retention_period=Duration.days(14),
        )
        acknowledge(self.dead_letters, "AwsSolutions-SQS3", "this is the dead-letter queue of the gradient queue")
        self.queue = sqs.Queue(
            self,
            "Queue",
            fifo=True,
            queue_name=name("gradients") + ".fifo",
            content_based_deduplication=False,
            visibility_timeout=Duration.seconds(REDUCER_TIMEOUT.to_seconds() * 6),  # AWS: at least 6x the function
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letters, max_receive_count=MAX_RECEIVES),
        )


class LsrtmWorkflow(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: Callable[..., str],
        bucket: s3.IBucket,
        messages: GradientMessages,
        log_retention: logs.RetentionDays,
        gradient_queue: batch.IJobQueue,
        gradient_job_definition_arn: str,
        mpi_queue: batch.IJobQueue,
        mpi_job_definition_arn: str,
        iteration_timeout: Duration,
        job_limits: dict[str, dict],
    ) -> None:
        """`job_limits`: stacks.config.BatchConfig.job_limits(), what the queues' instances can give a job;
        the validator rejects job overrides above them."""
        super().__init__(scope, construct_id)
        self.gradient_queue = messages.queue

        common = {"log_retention": log_retention}
        env = {"DATA_BUCKET": bucket.bucket_name}
        self.validate = WorkflowFunction(
            self, "ValidateInput", handler_folder="validate_input", function_name=name("lsrtm-validate-input"),
            description="LSRTM-SGD: validate the execution input",
            environment={**env, "JOB_LIMITS": json.dumps(job_limits, separators=(",", ":"))}, **common,
        )
        self.submit = WorkflowFunction(
            self, "SubmitGradientJob", handler_folder="submit_gradient_job",
            function_name=name("lsrtm-submit-gradient-job"),
            description="LSRTM-SGD: store the task token, submit the gradient job(s)",
            environment={
                **env,
                "JOB_QUEUE": gradient_queue.job_queue_arn,
                "JOB_DEFINITION": gradient_job_definition_arn,
                "MPI_JOB_QUEUE": mpi_queue.job_queue_arn,
                "MPI_JOB_DEFINITION": mpi_job_definition_arn,
            },
            **common,
        )
        self.reduce = WorkflowFunction(
            self, "ReduceGradients", handler_folder="reduce_gradients", function_name=name("lsrtm-reduce-gradients"),
            description="LSRTM-SGD: sum partial gradients exactly once, update the image",
            timeout=REDUCER_TIMEOUT, memory_mib=2048, environment=env, **common,
        )
        self.job_failed = WorkflowFunction(
            self, "GradientJobFailed", handler_folder="gradient_job_failed",
            function_name=name("lsrtm-gradient-job-failed"),
            description="LSRTM-SGD: fail the iteration when a gradient job fails for good", environment=env, **common,
        )
        self.clean_up = WorkflowFunction(
            self, "CleanUp", handler_folder="clean_up", function_name=name("lsrtm-clean-up"),
            description="LSRTM-SGD: terminate leftover jobs, delete intermediates, write the report",
            environment=env, **common,
        )
        self.reduce.function.add_event_source(
            event_sources.SqsEventSource(
                self.gradient_queue, batch_size=REDUCER_BATCH_SIZE, report_batch_item_failures=True
            )
        )
        events.Rule(
            self,
            "GradientJobFailedRule",
            description="A gradient job failed for good: fail the waiting iteration",
            event_pattern=events.EventPattern(
                source=["aws.batch"],
                detail_type=["Batch Job State Change"],
                detail={"status": ["FAILED"], "jobQueue": [gradient_queue.job_queue_arn, mpi_queue.job_queue_arn]},
            ),
            targets=[targets.LambdaFunction(self.job_failed.function, retry_attempts=3)],
        )

        self._grant(bucket, [gradient_queue, mpi_queue], [gradient_job_definition_arn, mpi_job_definition_arn])
        self.state_machine = self._state_machine("Single", name("LSRTM-SGD"), False, iteration_timeout, log_retention)
        self.multi_node_state_machine = self._state_machine(
            "MultiNode", name("LSRTM-SGD-MultiNode"), True, iteration_timeout, log_retention
        )
        for machine in (self.state_machine, self.multi_node_state_machine):
            machine.grant_task_response(self.reduce.function)
            machine.grant_task_response(self.job_failed.function)
            self._acknowledge_state_machine_role(machine)
        self._acknowledge_scoped_wildcards(bucket)

    def _grant(self, bucket: s3.IBucket, queues: list[batch.IJobQueue], job_definition_arns: list[str]) -> None:
        """Least privilege: each function reaches only the part of the bucket and the APIs it uses."""
        runs = bucket.arn_for_objects(f"{layout.RUNS_PREFIX}*")
        list_runs = iam.PolicyStatement(
            actions=["s3:ListBucket"],
            resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{layout.RUNS_PREFIX}*"]}},
        )
        # validate: inputs anywhere in the bucket (HeadObject needs GetObject; a missing key answers 404
        # rather than 403 only with ListBucket), writes the run's parameters
        self.validate.role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[bucket.arn_for_objects("*")]))
        self.validate.role.add_to_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn]))
        self.validate.role.add_to_policy(iam.PolicyStatement(actions=["s3:PutObject"], resources=[runs]))
        self.submit.role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject", "s3:PutObject"], resources=[runs]))
        self.submit.role.add_to_policy(
            iam.PolicyStatement(
                actions=["batch:SubmitJob", "batch:TagResource"],
                resources=[*(q.job_queue_arn for q in queues), *job_definition_arns],
            )
        )
        self.reduce.role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject", "s3:PutObject"], resources=[runs]))
        self.reduce.role.add_to_policy(list_runs)
        self.job_failed.role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[runs]))
        self.clean_up.role.add_to_policy(
            iam.PolicyStatement(actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], resources=[runs])
        )
        self.clean_up.role.add_to_policy(list_runs)
        self.clean_up.role.add_to_policy(
            iam.PolicyStatement(
                actions=["batch:TerminateJob"],
                resources=[Stack.of(self).format_arn(service="batch", resource="job", resource_name="*")],
                # only jobs this workflow submitted carry the run_id tag
                conditions={"Null": {"aws:ResourceTag/run_id": "false"}},
            )
        )

    def _acknowledge_scoped_wildcards(self, bucket: s3.IBucket) -> None:
        bucket_arn = arn_in_finding(bucket)
        for fn in (self.validate, self.submit, self.reduce, self.job_failed, self.clean_up):
            acknowledge(
                fn.role.node.find_child("DefaultPolicy"),
                f"AwsSolutions-IAM5[Resource::{bucket_arn}/{layout.RUNS_PREFIX}*]",
                "a run's objects live under runs/<execution>/ with keys made per iteration and shot; "
                "access is limited to that prefix of the one data bucket",
            )
        acknowledge(
            self.validate.role.node.find_child("DefaultPolicy"),
            f"AwsSolutions-IAM5[Resource::{bucket_arn}/*]",
            "validation reads (heads) the model and shot keys the user names in the execution input, "
            "which can be anywhere in the data bucket; read-only",
        )
        acknowledge(
            self.clean_up.role.node.find_child("DefaultPolicy"),
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:batch:<AWS::Region>:<AWS::AccountId>:job/*]",
            "job ids are made at submission; TerminateJob is further limited to jobs tagged with a run_id",
        )

    def _acknowledge_state_machine_role(self, machine: sfn.StateMachine) -> None:
        policy = machine.role.node.find_child("DefaultPolicy")
        for fn in (self.validate, self.submit, self.clean_up):
            acknowledge(
                policy,
                f"AwsSolutions-IAM5[Resource::{arn_in_finding(fn.function)}:*]",
                "CDK's LambdaInvoke grants the function and its versions/aliases (ARN:*); still this one function",
            )
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray tracing and CloudWatch Logs delivery (logs:CreateLogDelivery etc.) have no resource-level "
            "permissions; Step Functions documents '*' for them",
        )

    def _state_machine(
        self, scope_id: str, machine_name: str, multi_node: bool, iteration_timeout: Duration,
        log_retention: logs.RetentionDays,
    ) -> sfn.StateMachine:
        scope = Construct(self, scope_id)
        # the validator serves both machines; it checks job overrides against the queue this one submits to
        validate = validated_input(scope, self.validate.function, {"multi_node": multi_node})

        compute = tasks.LambdaInvoke(
            scope, "ComputeGradient",
            lambda_function=self.submit.function,
            integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            payload=sfn.TaskInput.from_object(
                {"token": sfn.JsonPath.task_token, "run.$": "$", "multi_node": multi_node}
            ),
            result_path="$.last",
            task_timeout=sfn.Timeout.duration(iteration_timeout),
        )
        # submitting is idempotent, so errors of the Lambda call itself are safe to retry
        compute.add_retry(errors=RETRYABLE_LAMBDA_ERRORS, interval=Duration.seconds(5), max_attempts=3, backoff_rate=2)
        next_iteration = sfn.Pass(
            scope, "NextIteration",
            parameters={
                "run_id.$": "$.run_id",
                "bucket.$": "$.bucket",
                "iterations.$": "$.iterations",
                "iteration.$": "$.last.iteration",
                "misfit.$": "$.last.misfit",
                "image_key.$": "$.last.image_key",
            },
        )
        clean_up = tasks.LambdaInvoke(
            scope, "CleanUp",
            lambda_function=self.clean_up.function,
            payload=sfn.TaskInput.from_object({"run.$": "$", "status": "SUCCEEDED"}),
            payload_response_only=True,
            result_path="$.report",
        )
        clean_up.add_retry(errors=RETRYABLE_LAMBDA_ERRORS, max_attempts=3)
        clean_up_after_failure = tasks.LambdaInvoke(
            scope, "CleanUpAfterFailure",
            lambda_function=self.clean_up.function,
            payload=sfn.TaskInput.from_object({"run.$": "$", "status": "FAILED", "error.$": "$.error"}),
            payload_response_only=True,
            result_path="$.report",
        )
        clean_up_after_failure.add_retry(errors=RETRYABLE_LAMBDA_ERRORS, max_attempts=3)
        failed = sfn.Fail(scope, "Failed", error_path="$.error.Error", cause_path="$.error.Cause")
        clean_up_after_failure.next(failed)
        compute.add_catch(clean_up_after_failure, errors=["States.ALL"], result_path="$.error")
        clean_up.add_catch(failed, errors=["States.ALL"], result_path="$.error")

        more = sfn.Choice(scope, "MoreIterations")
        more.when(sfn.Condition.number_less_than_json_path("$.iteration", "$.iterations"), compute.next(next_iteration).next(more))
        more.otherwise(clean_up.next(sfn.Succeed(scope, "Done", output_path="$.report")))

        return logged_state_machine(
            scope, machine_name, validate.next(more), log_retention=log_retention,
            comment="LS-RTM with SGD: Batch gradients, exactly-once reduction, image update per iteration",
        )

