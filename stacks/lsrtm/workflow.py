"""The LSRTM-SGD workflow: queue, Lambdas, failure rule and the two state machines.

  ValidateInput -> MoreIterations? -> ComputeGradient (waits on a task token) -> ExactStep? -> NextIteration -> ...
                                   -> CleanUp -> Done     (exact rule: ExactStep? -> MeasureCurvature -> NextIteration)
  Batch workers write partial gradients and send a message each to a FIFO queue; the reducer sums
  them exactly once and, when the sum is complete, updates the image and answers the token. With the
  exact step rule the sum completes without an update: MeasureCurvature (the same submit Lambda, mode
  "curvature") runs one Born modelling of the sum per shot, the reducer sums the line-search terms the
  same way, takes the step that minimises the batch misfit along the sum and answers that token. A job
  that fails for good is reported by an EventBridge rule, which answers the token with a failure.
  Any failure after validation goes through CleanUpAfterFailure (terminates jobs) to Failed; an
  execution stopped from the console or timed out, which no Catch sees, is cleaned up by a second rule.

  Nothing is lost silently: events EventBridge or Lambda could not deliver land in a dead-letter
  queue, and both dead-letter queues alarm on their first message (subscribe to the Alarms topic).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from aws_cdk import Duration, Stack
from aws_cdk import aws_batch as batch
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
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
# EventBridge retries a target it cannot reach (throttling, a deployment) for up to this long, then
# moves the event to the dead-letter queue; Lambda retries a failed asynchronous invocation twice.
EVENT_RETRY_ATTEMPTS = 20
EVENT_MAX_AGE = Duration.hours(4)
# executions ending in these states leave their Batch jobs running unless someone terminates them;
# FAILED is normally cleaned up by the state machine, but not when CleanUpAfterFailure itself failed
UNFINISHED_EXECUTION = ["ABORTED", "TIMED_OUT", "FAILED"]


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
        queues = [gradient_queue, mpi_queue]
        self._functions(name, bucket, messages, log_retention, gradient_queue, gradient_job_definition_arn,
                        mpi_queue, mpi_job_definition_arn, job_limits)
        self._job_failed_rule(name, queues)
        self._grant(bucket, queues, [gradient_job_definition_arn, mpi_job_definition_arn], messages)
        self._state_machines(name, iteration_timeout, log_retention)
        self._execution_ended_rule(bucket)
        self._alarms(name, messages)
        self._acknowledge_scoped_wildcards(bucket)

    def _functions(self, name: Callable[..., str], bucket: s3.IBucket, messages: GradientMessages,
                   log_retention: logs.RetentionDays, gradient_queue: batch.IJobQueue, gradient_job_definition_arn: str,
                   mpi_queue: batch.IJobQueue, mpi_job_definition_arn: str, job_limits: dict[str, dict]) -> None:
        """The five handlers (lambda/lsrtm_*), and the reducer's SQS event source."""
        common = {"log_retention": log_retention}
        env = {"DATA_BUCKET": bucket.bucket_name}
        self.validate = WorkflowFunction(
            self, "ValidateInput", handler_folder="lsrtm_validate_input", function_name=name("lsrtm-validate-input"),
            description="LSRTM-SGD: validate the execution input",
            environment={**env, "JOB_LIMITS": json.dumps(job_limits, separators=(",", ":"))}, **common,
        )
        self.submit = WorkflowFunction(
            self, "SubmitGradientJob", handler_folder="lsrtm_submit_gradient_job",
            function_name=name("lsrtm-submit-gradient-job"),
            description="LSRTM-SGD: store the task token, submit the gradient (or curvature) job(s)",
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
            self, "ReduceGradients", handler_folder="lsrtm_reduce_gradients", function_name=name("lsrtm-reduce-gradients"),
            description="LSRTM-SGD: sum partial gradients and line-search terms exactly once, update the image",
            timeout=REDUCER_TIMEOUT, memory_mib=2048,
            environment={**env, "DEAD_LETTER_QUEUE_URL": messages.dead_letters.queue_url,
                         "MAX_RECEIVE_COUNT": str(MAX_RECEIVES)},
            **common,
        )
        self.job_failed = WorkflowFunction(
            self, "GradientJobFailed", handler_folder="lsrtm_gradient_job_failed",
            function_name=name("lsrtm-gradient-job-failed"),
            description="LSRTM-SGD: fail the iteration when a gradient job fails for good", environment=env, **common,
        )
        self.clean_up = WorkflowFunction(
            self, "CleanUp", handler_folder="lsrtm_clean_up", function_name=name("lsrtm-clean-up"),
            description="LSRTM-SGD: terminate leftover jobs, delete intermediates, write the report",
            environment=env, **common,
        )
        self.reduce.function.add_event_source(
            event_sources.SqsEventSource(
                self.gradient_queue, batch_size=REDUCER_BATCH_SIZE, report_batch_item_failures=True
            )
        )

    def _job_failed_rule(self, name: Callable[..., str], queues: list[batch.IJobQueue]) -> None:
        """A gradient job that failed for good fails its iteration at once (and undeliverable events are kept)."""
        self.event_dead_letters = sqs.Queue(
            self, "EventDeadLetters", queue_name=name("lsrtm-events-dlq"),
            encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True, retention_period=Duration.days(14),
        )
        acknowledge(self.event_dead_letters, "AwsSolutions-SQS3",
                    "this is the dead-letter queue of the EventBridge targets and asynchronous invocations")
        self.job_failed_rule = events.Rule(
            self,
            "GradientJobFailedRule",
            description="A gradient job failed for good: fail the waiting iteration",
            event_pattern=events.EventPattern(
                source=["aws.batch"],
                detail_type=["Batch Job State Change"],
                detail={"status": ["FAILED"], "jobQueue": [q.job_queue_arn for q in queues]},
            ),
            targets=[self._event_target(self.job_failed.function)],
        )

    def _state_machines(self, name: Callable[..., str], iteration_timeout: Duration,
                        log_retention: logs.RetentionDays) -> None:
        self.state_machine = self._state_machine("Single", name("LSRTM-SGD"), False, iteration_timeout, log_retention)
        self.multi_node_state_machine = self._state_machine(
            "MultiNode", name("LSRTM-SGD-MultiNode"), True, iteration_timeout, log_retention
        )
        for machine in (self.state_machine, self.multi_node_state_machine):
            machine.grant_task_response(self.reduce.function)
            machine.grant_task_response(self.job_failed.function)
            self._acknowledge_state_machine_role(machine)

    def _execution_ended_rule(self, bucket: s3.IBucket) -> None:
        """An execution that did not succeed still gets its jobs terminated and its report written."""
        self.execution_ended_rule = events.Rule(
            self,
            "ExecutionEndedRule",
            description="An execution was stopped, timed out or failed: terminate its Batch jobs, clean up",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={
                    "status": UNFINISHED_EXECUTION,
                    "stateMachineArn": [m.state_machine_arn for m in (self.state_machine, self.multi_node_state_machine)],
                },
            ),
            # the clean-up's own event, from the execution's name (= run id, the tag on its jobs)
            targets=[self._event_target(self.clean_up.function, events.RuleTargetInput.from_object({
                "run": {"run_id": events.EventField.from_path("$.detail.name"), "bucket": bucket.bucket_name},
                "status": events.EventField.from_path("$.detail.status"),
                "error": {"Error": events.EventField.from_path("$.detail.error"),
                          "Cause": events.EventField.from_path("$.detail.cause")},
                "execution_ended": True,
            }))],
        )

    def _event_target(self, function, event: events.RuleTargetInput | None = None) -> targets.LambdaFunction:
        """A rule's Lambda target that loses no event: undeliverable events and invocations that fail
        every retry go to the events dead-letter queue, which alarms."""
        function.configure_async_invoke(
            retry_attempts=2, on_failure=destinations.SqsDestination(self.event_dead_letters)
        )
        return targets.LambdaFunction(
            function, event=event, retry_attempts=EVENT_RETRY_ATTEMPTS, max_event_age=EVENT_MAX_AGE,
            dead_letter_queue=self.event_dead_letters,
        )

    def _alarms(self, name: Callable[..., str], messages: GradientMessages) -> None:
        """One message in either dead-letter queue means a shot or an event a person must look at."""
        self.alarm_topic = sns.Topic(self, "Alarms", topic_name=name("lsrtm-alarms"), enforce_ssl=True)
        acknowledge(
            self.alarm_topic, "AwsSolutions-SNS2",
            "CloudWatch alarms cannot publish to a topic encrypted with the AWS managed SNS key; the "
            "notifications carry only alarm names and states, no data",
        )
        self.alarms = []
        for construct_id, queue, what in (
            ("GradientDeadLettersAlarm", messages.dead_letters,
             "a partial-gradient or curvature message could not be summed (set aside as invalid, or failed 5 "
             "deliveries)"),
            ("EventDeadLettersAlarm", self.event_dead_letters,
             "a failed-job or execution-ended event was not handled: an iteration may wait or jobs may run on"),
        ):
            alarm = cloudwatch.Alarm(
                self, construct_id,
                alarm_name=name(construct_id.removesuffix("Alarm").lower()),
                alarm_description=f"LSRTM-SGD: {what}; read the messages in {queue.node.id}",
                metric=queue.metric_approximate_number_of_messages_visible(
                    period=Duration.minutes(1), statistic="Maximum"),
                threshold=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,  # an idle queue sends no data
            )
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.alarm_topic))
            self.alarms.append(alarm)

    def _grant(self, bucket: s3.IBucket, queues: list[batch.IJobQueue], job_definition_arns: list[str],
               messages: GradientMessages) -> None:
        """Least privilege: each function reads the run objects it needs and writes only the kinds of
        object it makes (the key patterns of workloads/lsrtm/layout.py), never inputs or other kinds."""

        def objects(actions: list[str], *patterns: str) -> iam.PolicyStatement:
            return iam.PolicyStatement(actions=actions, resources=[bucket.arn_for_objects(p) for p in patterns])

        runs = f"{layout.RUNS_PREFIX}*"
        # GetObject on a missing key answers 403 instead of 404 without ListBucket; every function tells
        # "not there yet" from an error (a first manifest, accumulator or result), so each may list runs/
        list_runs = iam.PolicyStatement(
            actions=["s3:ListBucket"],
            resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [runs]}},
        )
        # validate: inputs anywhere in the bucket (HeadObject needs GetObject; a missing key answers 404
        # rather than 403 only with ListBucket), writes the run's parameters
        self.validate.role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[bucket.arn_for_objects("*")]))
        self.validate.role.add_to_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn]))
        self.validate.role.add_to_policy(objects(["s3:PutObject"], layout.PARAMETERS_PATTERN))
        self.submit.role.add_to_policy(objects(["s3:GetObject"], layout.PARAMETERS_PATTERN, layout.MANIFEST_PATTERN))
        self.submit.role.add_to_policy(objects(["s3:PutObject"], layout.MANIFEST_PATTERN))
        self.submit.role.add_to_policy(list_runs)
        self.submit.role.add_to_policy(
            iam.PolicyStatement(
                actions=["batch:SubmitJob", "batch:TagResource"],
                resources=[*(q.job_queue_arn for q in queues), *job_definition_arns],
            )
        )
        self.reduce.role.add_to_policy(objects(["s3:GetObject"], runs))
        self.reduce.role.add_to_policy(
            objects(["s3:PutObject"], layout.ACCUMULATOR_PATTERN, layout.CURVATURE_PATTERN, layout.IMAGE_PATTERN,
                    layout.RESULT_PATTERN)
        )
        self.reduce.role.add_to_policy(list_runs)
        messages.dead_letters.grant_send_messages(self.reduce.role)  # invalid messages are set aside there
        self.job_failed.role.add_to_policy(objects(["s3:GetObject"], layout.MANIFEST_PATTERN))
        self.job_failed.role.add_to_policy(list_runs)
        self.clean_up.role.add_to_policy(objects(["s3:GetObject"], runs))
        self.clean_up.role.add_to_policy(objects(["s3:PutObject"], layout.REPORT_PATTERN))
        self.clean_up.role.add_to_policy(
            objects(["s3:DeleteObject"], layout.PARTIAL_PATTERN, layout.ACCUMULATOR_PATTERN)
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
        patterns = {
            self.validate: [layout.PARAMETERS_PATTERN],
            self.submit: [layout.PARAMETERS_PATTERN, layout.MANIFEST_PATTERN],
            self.reduce: [f"{layout.RUNS_PREFIX}*", layout.ACCUMULATOR_PATTERN, layout.CURVATURE_PATTERN,
                          layout.IMAGE_PATTERN, layout.RESULT_PATTERN],
            self.job_failed: [layout.MANIFEST_PATTERN],
            self.clean_up: [f"{layout.RUNS_PREFIX}*", layout.REPORT_PATTERN, layout.PARTIAL_PATTERN,
                            layout.ACCUMULATOR_PATTERN],
        }
        for fn, fn_patterns in patterns.items():
            for pattern in fn_patterns:
                acknowledge(
                    fn.role.node.find_child("DefaultPolicy"),
                    f"AwsSolutions-IAM5[Resource::{bucket_arn}/{pattern}]",
                    "a run's objects live under runs/<execution>/ with keys made per iteration and shot "
                    "(workloads/lsrtm/layout.py); each function reaches only the kinds of object it uses",
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
                "step_rule.$": "$.step_rule",
            },
        )
        # the exact rule's second stage: the reducer answers when the line-search terms of every shot are
        # summed and the image written; same Lambda, same timeout and clean-up path as ComputeGradient
        measure = tasks.LambdaInvoke(
            scope, "MeasureCurvature",
            lambda_function=self.submit.function,
            integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            payload=sfn.TaskInput.from_object(
                {"token": sfn.JsonPath.task_token, "run.$": "$", "multi_node": multi_node, "mode": "curvature"}
            ),
            result_path="$.last",
            task_timeout=sfn.Timeout.duration(iteration_timeout),
        )
        measure.add_retry(errors=RETRYABLE_LAMBDA_ERRORS, interval=Duration.seconds(5), max_attempts=3, backoff_rate=2)
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
        measure.add_catch(clean_up_after_failure, errors=["States.ALL"], result_path="$.error")
        clean_up.add_catch(failed, errors=["States.ALL"], result_path="$.error")

        exact = sfn.Choice(scope, "ExactStep")
        exact.when(sfn.Condition.string_equals("$.step_rule", "exact"), measure.next(next_iteration))
        exact.otherwise(next_iteration)
        more = sfn.Choice(scope, "MoreIterations")
        next_iteration.next(more)
        more.when(sfn.Condition.number_less_than_json_path("$.iteration", "$.iterations"), compute.next(exact))
        more.otherwise(clean_up.next(sfn.Succeed(scope, "Done", output_path="$.report")))

        return logged_state_machine(
            scope, machine_name, validate.next(more), log_retention=log_retention,
            comment="LS-RTM with SGD: Batch gradients, exactly-once reduction, image update per iteration",
        )

