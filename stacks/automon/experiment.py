"""The AutoMon experiment: Lambdas and the state machine that runs (node type, error bound) experiments.

  ValidateInput -> RunExperiments (Map over items, bounded concurrency) -> WriteReport -> AllSucceeded?
  per item:  StartCoordinator (other region, waits until RUNNING, returns its public address)
          -> RunNodes (Map over node indices, all at once: ecs:runTask.sync per node, HOST=<address>)
          -> GatherResults (retried while the coordinator's upload is still missing) -> MarkSucceeded
          -> StopCoordinator -> StopNodeTasks -> ItemOutcome
  any error of the first three -> MarkFailed -> StopCoordinator -> StopNodeTasks -> ItemOutcome, so an
  item's failure is cleaned up and recorded, and the other items go on. The execution fails at the end
  when any item failed. JSONPath throughout (the local runner executes it).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from aws_cdk import Duration, Stack
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.automon.arns import nag_arn
from stacks.automon.config import AutoMonConfig
from stacks.constructs.state_machine_parts import logged_state_machine, validated_input
from stacks.constructs.workflow_functions import WorkflowFunction
from stacks.nag import acknowledge, arn_in_finding

RETRYABLE_LAMBDA_ERRORS = ["ClientError", "EndpointConnectionError", "ConnectTimeoutError"]
# GatherResults raises this while an upload is missing; the coordinator uploads right after the last node
RESULTS_INCOMPLETE = "ResultsIncomplete"
GATHER_INTERVAL = Duration.seconds(20)
GATHER_ATTEMPTS = 15  # ~5 minutes for the coordinator to finish and upload (EC2 included)
COORDINATOR_TIMEOUT = Duration.minutes(10)  # the start Lambda waits for RUNNING with a waiter
NODE_ENV_NAMES = ("NODE_TYPE", "ALGORITHM", "ERROR_BOUND", "NUM_NODES", "SYNTHETIC", "RESULTS_PREFIX")


class AutoMonExperiment(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: Callable[..., str],
        config: AutoMonConfig,
        bucket: s3.IBucket,
        results_prefix: str,
        log_retention: logs.RetentionDays,
        cluster: ecs.ICluster,
        cluster_name: str,
        node_task_definition: ecs.FargateTaskDefinition,
        node_container: ecs.ContainerDefinition,
        node_security_group,
        node_subnets,
        launcher_role_arn: str,
        coordinator_parameter: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self._functions(name, config, bucket, results_prefix, log_retention, cluster, node_task_definition,
                        launcher_role_arn, coordinator_parameter)
        self._node_tasks_arn = "arn:{partition}:ecs:{region}:{account}:task/" + cluster_name + "/*"
        self._grant(bucket, results_prefix, launcher_role_arn, cluster)

        self.state_machine = self._state_machine(
            name("AutoMon-Experiment"), log_retention, cluster, node_task_definition, node_container,
            node_security_group, node_subnets,
        )
        self._acknowledge(bucket, results_prefix)

    def _functions(self, name: Callable[..., str], config: AutoMonConfig, bucket: s3.IBucket, results_prefix: str,
                   log_retention: logs.RetentionDays, cluster: ecs.ICluster,
                   node_task_definition: ecs.FargateTaskDefinition, launcher_role_arn: str,
                   coordinator_parameter: str) -> None:
        """The five handlers (lambda/automon_*), each with only the settings it reads."""
        common = {"log_retention": log_retention}
        env = {"RESULTS_BUCKET": bucket.bucket_name, "RESULTS_PREFIX": results_prefix}
        self.validate = WorkflowFunction(
            self, "ValidateInput", handler_folder="automon_validate_input",
            function_name=name("automon-validate-input"),
            description="AutoMon: validate the execution input, plan the (node type, error bound) items",
            environment={
                **env,
                "NODE_COUNTS": json.dumps(config.node_counts, separators=(",", ":")),
                "ERROR_BOUNDS": json.dumps(config.error_bounds, separators=(",", ":")),
                "AUTOMON_IN_IMAGE": "1" if config.automon_pip_spec else "0",
                "DATASETS_IN_IMAGE": "1" if config.fetch_datasets else "0",
            },
            **common,
        )
        self.coordinator = WorkflowFunction(
            self, "Coordinator", handler_folder="automon_coordinator", function_name=name("automon-coordinator"),
            description="AutoMon: start (and wait for) or stop the coordinator in its region",
            timeout=COORDINATOR_TIMEOUT,
            environment={
                "LAUNCHER_ROLE_ARN": launcher_role_arn,
                "COORDINATOR_REGION": config.coordinator_region,
                "COORDINATOR_PARAMETER": coordinator_parameter,
            },
            **common,
        )
        self.gather = WorkflowFunction(
            self, "GatherResults", handler_folder="automon_gather_results",
            function_name=name("automon-gather-results"),
            description="AutoMon: check every participant's results, write the item's summary", environment=env,
            **common,
        )
        self.clean_up = WorkflowFunction(
            self, "StopNodeTasks", handler_folder="automon_clean_up", function_name=name("automon-clean-up"),
            description="AutoMon: stop node tasks an item left running",
            environment={"NODES_CLUSTER": cluster.cluster_arn, "NODE_FAMILY": node_task_definition.family},
            **common,
        )
        self.report = WorkflowFunction(
            self, "WriteReport", handler_folder="automon_report", function_name=name("automon-report"),
            description="AutoMon: write the execution's report", environment=env, **common,
        )

    # --- permissions ----------------------------------------------------------------------------
    def _grant(self, bucket, results_prefix, launcher_role_arn, cluster) -> None:
        results = bucket.arn_for_objects(f"{results_prefix}*")
        list_results = iam.PolicyStatement(
            actions=["s3:ListBucket"], resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{results_prefix}*"]}},
        )
        self.validate.role.add_to_policy(iam.PolicyStatement(actions=["s3:PutObject"], resources=[results]))
        self.gather.role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject", "s3:PutObject"], resources=[results]))
        self.gather.role.add_to_policy(list_results)
        self.report.role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject", "s3:PutObject"], resources=[results]))
        self.report.role.add_to_policy(list_results)
        # the coordinator's own permissions live on the launcher role in its region
        self.coordinator.role.add_to_policy(iam.PolicyStatement(actions=["sts:AssumeRole"], resources=[launcher_role_arn]))
        stack = Stack.of(self)
        on_cluster = {"ArnEquals": {"ecs:cluster": cluster.cluster_arn}}
        self.clean_up.role.add_to_policy(iam.PolicyStatement(actions=["ecs:ListTasks"], resources=["*"], conditions=on_cluster))
        self.clean_up.role.add_to_policy(iam.PolicyStatement(
            actions=["ecs:DescribeTasks", "ecs:StopTask"],
            resources=[self._node_tasks_arn.format(partition=stack.partition, region=stack.region, account=stack.account)],
            conditions=on_cluster,
        ))

    def _acknowledge(self, bucket: s3.IBucket, results_prefix: str) -> None:
        bucket_arn = arn_in_finding(bucket)
        for fn in (self.validate, self.gather, self.report):
            acknowledge(
                fn.role.node.find_child("DefaultPolicy"),
                f"AwsSolutions-IAM5[Resource::{bucket_arn}/{results_prefix}*]",
                "an execution's files live under results/<execution>/<node type>/eps_<e>/ with keys made per run; "
                "access is limited to that prefix of the one results bucket",
            )
        policy = self.clean_up.role.node.find_child("DefaultPolicy")
        acknowledge(policy, "AwsSolutions-IAM5[Resource::*]",
                    "ecs:ListTasks has no resource-level permissions; the ecs:cluster condition limits it to the nodes' "
                    "cluster (X-Ray tracing needs '*' as well)")
        acknowledge(policy, "AwsSolutions-IAM5[Resource::" + nag_arn(Stack.of(self), self._node_tasks_arn) + "]",
                    "node task ids are made by runTask.sync; describe/stop are limited to tasks of the nodes' cluster")
        machine_policy = self.state_machine.role.node.find_child("DefaultPolicy")
        for fn in (self.validate, self.coordinator, self.gather, self.clean_up, self.report):
            acknowledge(
                machine_policy,
                f"AwsSolutions-IAM5[Resource::{arn_in_finding(fn.function)}:*]",
                "CDK's LambdaInvoke grants the function and its versions/aliases (ARN:*); still this one function",
            )
        acknowledge(
            machine_policy, "AwsSolutions-IAM5[Resource::*]",
            "X-Ray tracing, CloudWatch Logs delivery and ecs:StopTask/DescribeTasks of runTask.sync have no "
            "narrower resource Step Functions can name; Step Functions documents '*' for them",
        )

    # --- the state machine ----------------------------------------------------------------------
    def _invoke(self, scope: Construct, state_id: str, fn: WorkflowFunction, payload: dict, result_path: str,
                **kwargs) -> tasks.LambdaInvoke:
        step = tasks.LambdaInvoke(
            scope, state_id, lambda_function=fn.function, payload=sfn.TaskInput.from_object(payload),
            payload_response_only=True, result_path=result_path, **kwargs,
        )
        step.add_retry(errors=RETRYABLE_LAMBDA_ERRORS, interval=Duration.seconds(5), max_attempts=3, backoff_rate=2)
        return step

    def _state_machine(
        self, machine_name: str, log_retention: logs.RetentionDays, cluster: ecs.ICluster,
        node_task_definition: ecs.FargateTaskDefinition, node_container: ecs.ContainerDefinition,
        node_security_group, node_subnets,
    ) -> sfn.StateMachine:
        """Validate, run every (node type, error bound) item in a Map, write the report, fail if any failed."""
        scope = Construct(self, "Experiment")
        validate = validated_input(scope, self.validate.function)
        item_chain = self._item_chain(scope, cluster, node_task_definition, node_container, node_security_group,
                                      node_subnets)

        experiments = sfn.Map(
            scope, "RunExperiments",
            items_path="$.items",
            item_selector={"item.$": "$$.Map.Item.Value", "run_id.$": "$.run_id", "bucket.$": "$.bucket"},
            max_concurrency=self.config.max_concurrency,
            result_path="$.outcomes",
        )
        experiments.item_processor(item_chain)
        report = self._invoke(
            scope, "WriteReport", self.report,
            {"run_id.$": "$.run_id", "bucket.$": "$.bucket", "results_prefix.$": "$.results_prefix",
             "outcomes.$": "$.outcomes"},
            "$.report",
        )
        failed = sfn.Fail(scope, "ExperimentsFailed", error="AutoMon.ExperimentsFailed", cause_path="$.report.cause")
        done = sfn.Succeed(scope, "Done", output_path="$.report")
        all_ok = sfn.Choice(scope, "AllSucceeded").when(
            sfn.Condition.number_greater_than("$.report.failed", 0), failed
        ).otherwise(done)

        return logged_state_machine(
            scope, machine_name, validate.next(experiments).next(report).next(all_ok),
            log_retention=log_retention,
            comment="AutoMon: for each (node type, error bound), a coordinator in its region and N Fargate nodes",
        )

    def _item_chain(self, scope: Construct, cluster: ecs.ICluster, node_task_definition: ecs.FargateTaskDefinition,
                    node_container: ecs.ContainerDefinition, node_security_group, node_subnets) -> sfn.IChainable:
        """One item: start its coordinator, run its nodes, gather the results; whatever happened, stop the
        coordinator and the node tasks, and report the item's outcome."""
        start = self._invoke(
            scope, "StartCoordinator", self.coordinator,
            {"action": "start", "run_id.$": "$.run_id", "item.$": "$.item"}, "$.coordinator",
        )
        run_nodes = self._run_nodes(scope, cluster, node_task_definition, node_container, node_security_group,
                                    node_subnets)
        gather = self._invoke(
            scope, "GatherResults", self.gather,
            {"run_id.$": "$.run_id", "bucket.$": "$.bucket", "item.$": "$.item"}, "$.summary",
        )
        gather.add_retry(errors=[RESULTS_INCOMPLETE], interval=GATHER_INTERVAL, max_attempts=GATHER_ATTEMPTS,
                         backoff_rate=1)
        mark_ok = sfn.Pass(scope, "MarkSucceeded", parameters={"status": "SUCCEEDED", "summary.$": "$.summary"},
                           result_path="$.outcome")
        mark_failed = sfn.Pass(scope, "MarkFailed", parameters={"status": "FAILED", "error.$": "$.error"},
                               result_path="$.outcome")
        stop_coordinator = self._invoke(
            scope, "StopCoordinator", self.coordinator,
            {"action": "stop", "run_id.$": "$.run_id", "item.$": "$.item"}, sfn.JsonPath.DISCARD,
        )
        stop_nodes = self._invoke(
            scope, "StopNodeTasks", self.clean_up, {"item.$": "$.item"}, sfn.JsonPath.DISCARD,
        )
        outcome = sfn.Pass(scope, "ItemOutcome", parameters={"key.$": "$.item.key", "outcome.$": "$.outcome"})
        clean_up_failed = sfn.Pass(
            scope, "CleanUpFailed",
            parameters={"key.$": "$.item.key", "outcome": {"status": "CLEANUP_FAILED"}, "error.$": "$.cleanup_error"},
        )
        for step in (start, run_nodes, gather):
            step.add_catch(mark_failed, errors=["States.ALL"], result_path="$.error")
        for step in (stop_coordinator, stop_nodes):
            step.add_catch(clean_up_failed, errors=["States.ALL"], result_path="$.cleanup_error")
        mark_failed.next(stop_coordinator)
        return start.next(run_nodes).next(gather).next(mark_ok).next(stop_coordinator).next(stop_nodes).next(outcome)

    def _run_nodes(self, scope: Construct, cluster: ecs.ICluster, node_task_definition: ecs.FargateTaskDefinition,
                   node_container: ecs.ContainerDefinition, node_security_group, node_subnets) -> sfn.Map:
        """Every node of the item at once, each an ECS task told its index, its coordinator and the item's
        settings; the coordinator's barrier waits for all of them."""
        run_node = tasks.EcsRunTask(
            scope, "RunNode",
            cluster=cluster,
            task_definition=node_task_definition,
            launch_target=tasks.EcsFargateLaunchTarget(platform_version=ecs.FargatePlatformVersion.LATEST),
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            subnets=node_subnets,
            security_groups=[node_security_group],
            assign_public_ip=False,
            container_overrides=[tasks.ContainerOverride(
                container_definition=node_container,
                environment=[
                    tasks.TaskEnvironmentVariable(name="NODE_IDX", value=sfn.JsonPath.string_at("$.node_idx")),
                    tasks.TaskEnvironmentVariable(name="HOST", value=sfn.JsonPath.string_at("$.host")),
                    *(tasks.TaskEnvironmentVariable(name=n, value=sfn.JsonPath.string_at(f"$.env.{n}"))
                      for n in NODE_ENV_NAMES),
                ],
            )],
            task_timeout=sfn.Timeout.duration(Duration.hours(self.config.run_timeout_hours)),
            result_selector={"task_arn.$": "$.TaskArn"},
        )
        run_nodes = sfn.Map(
            scope, "RunNodes",
            items_path="$.item.node_indices",
            item_selector={
                "node_idx.$": "$$.Map.Item.Value",
                "host.$": "$.coordinator.host",
                "env.$": "$.item.env",
            },
            max_concurrency=0,  # every node at once: the coordinator's barrier waits for all N
            result_path=sfn.JsonPath.DISCARD,
        )
        run_nodes.item_processor(run_node)
        return run_nodes
