"""What the local ECS authorizes per request (localcloud/services/ecs_emulator.py: LocalEcs.permissions)."""

from __future__ import annotations

from localcloud.services.ecs_emulator import LocalEcs, TaskDefinitionSpec

CLUSTER = "arn:aws:ecs:us-east-2:123456789012:cluster/nodes"
NODE = TaskDefinitionSpec(family="node", arn="arn:aws:ecs:us-east-2:123456789012:task-definition/node:1",
                          container="c", command=[], environment={},
                          task_role_arn="arn:aws:iam::123456789012:role/task",
                          execution_role_arn="arn:aws:iam::123456789012:role/execution")


def test_run_task_needs_the_definition_in_the_cluster_and_passing_both_roles_to_ecs_tasks(tmp_path):
    ecs = LocalEcs([NODE], entrypoint=["true"], base_environment={}, log_dir=tmp_path, region="us-east-2")
    passed = {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    assert ecs.permissions("run_task", {"cluster": "nodes", "taskDefinition": "node"}) == [
        ("ecs:RunTask", NODE.arn, {"ecs:cluster": CLUSTER}),
        ("iam:PassRole", NODE.task_role_arn, passed), ("iam:PassRole", NODE.execution_role_arn, passed)]
    task = "arn:aws:ecs:us-east-2:123456789012:task/nodes/abc"
    assert ecs.permissions("stop_task", {"cluster": CLUSTER, "task": task}) == [
        ("ecs:StopTask", task, {"ecs:cluster": CLUSTER})]
    assert ecs.permissions("list_tasks", {"cluster": CLUSTER}) == [("ecs:ListTasks", "*", {"ecs:cluster": CLUSTER})]
