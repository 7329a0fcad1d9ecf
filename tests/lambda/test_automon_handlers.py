"""The AutoMon experiment's Lambda handlers against moto (S3, STS, SSM, ECS, EC2): planning and input
errors, starting and stopping the coordinator in its region (EC2 and Fargate), gathering real results
of a local run, stopping node tasks, the report."""

from __future__ import annotations

import json
import math

import boto3
import pytest
from moto import mock_aws
from moto.moto_api import state_manager

from adapters import automon_coordinator
from containers.automon.task import upload_results
from localcloud.lambdas import invoke, load_handler
from workloads.automon.config import RunConfig
from workloads.automon.constants import NODE_TYPES
from workloads.automon.coordinator import CoordinatorTimeouts
from workloads.automon.local import run_local
from workloads.automon.node import NodeTimeouts
from workloads.automon.plan import plan
from workloads.common.execution_input import MAX_MESSAGE_CHARS, InvalidInput

BUCKET = "hpcx-automon-results-123456789012-us-east-2"
NODES_REGION, COORDINATOR_REGION = "us-east-2", "us-west-2"
PARAMETER = "/hpcx/automon/coordinator"
ROLE_NAME = "hpcx-automon-coordinator-launcher"
NODE_COUNTS = {name: nt.num_nodes for name, nt in NODE_TYPES.items()}
ERROR_BOUNDS = {name: list(nt.error_bounds) for name, nt in NODE_TYPES.items()}


def _plan(raw, *, automon=True, datasets=False, execution="exec-1"):
    return plan(raw, execution=execution, bucket=BUCKET, results_prefix="results/", node_counts=NODE_COUNTS,
                error_bounds=ERROR_BOUNDS, automon_in_image=automon, datasets_in_image=datasets)


# --- validate input -----------------------------------------------------------------------------
def test_default_automon_plan_has_every_published_type_and_error_bound():
    run = _plan({"algorithm": "automon", "synthetic": True})
    assert run["run_id"] == "exec-1" and run["results_prefix"] == "results/exec-1/"
    assert len(run["items"]) == sum(len(b) for b in ERROR_BOUNDS.values()) == 32
    item = next(i for i in run["items"] if i["key"] == "kld/eps_0.005")
    assert item["num_nodes"] == 12 and item["node_indices"] == [str(i) for i in range(12)]
    assert item["results_prefix"] == "results/exec-1/kld/eps_0.005/"
    assert item["env"] == {"NODE_TYPE": "kld", "ALGORITHM": "automon", "ERROR_BOUND": "0.005", "NUM_NODES": "12",
                           "SYNTHETIC": "1", "RESULTS_PREFIX": "results/exec-1/kld/eps_0.005/"}
    tokens = [i["token"] for i in run["items"]]
    assert len(set(tokens)) == len(tokens)
    assert all(len(t) <= 128 and t.replace("-", "").replace("_", "").isalnum() for t in tokens)


def test_centralization_runs_once_per_node_type_without_an_error_bound():
    run = _plan({"algorithm": "centralization", "node_types": ["inner_product", "quadratic"]}, automon=False)
    assert [i["key"] for i in run["items"]] == ["inner_product/centralization", "quadratic/centralization"]
    assert all(i["error_bound"] is None and i["env"]["ERROR_BOUND"] == "" for i in run["items"])


def test_the_example_input_the_stack_prints_is_accepted_by_a_default_deployment():
    from stacks.automon.nodes_stack import EXAMPLE_INPUT

    run = _plan(EXAMPLE_INPUT, automon=False, datasets=False)
    assert [i["key"] for i in run["items"]] == [f"{t}/centralization" for t in EXAMPLE_INPUT["node_types"]]


def test_chosen_error_bounds_override_the_defaults():
    run = _plan({"algorithm": "automon", "node_types": ["inner_product"], "error_bounds": {"inner_product": [0.3]}})
    assert [i["key"] for i in run["items"]] == ["inner_product/eps_0.3"]


def test_a_long_execution_name_still_gives_a_valid_unique_token():
    run = _plan({"algorithm": "automon", "node_types": ["dnn"], "synthetic": True}, execution="x." * 40)
    assert all(len(i["token"]) <= 128 for i in run["items"])
    assert len({i["token"] for i in run["items"]}) == len(run["items"])


@pytest.mark.parametrize(
    ("raw", "kwargs", "message"),
    [
        ([1], {}, "must be a JSON object"),
        ({}, {}, "algorithm: Field required"),
        ({"algorithm": "gossip"}, {}, "algorithm"),
        ({"algorithm": "automon", "colour": "red"}, {}, "colour: Extra inputs are not permitted"),
        ({"algorithm": "automon", "node_types": ["cosine"]}, {}, "node types ['cosine'] are not deployed"),
        ({"algorithm": "automon", "node_types": []}, {}, "node_types is empty"),
        ({"algorithm": "automon", "node_types": ["inner_product"]}, {"automon": False}, "automon_pip_spec"),
        ({"algorithm": "centralization", "error_bounds": {"inner_product": [0.1]}}, {}, "automon' only"),
        ({"algorithm": "automon", "node_types": ["kld"], "error_bounds": {"kld": [0.5]}, "synthetic": True}, {},
         "no tuned neighbourhood size for error bound 0.5"),
        ({"algorithm": "automon", "node_types": ["inner_product"], "error_bounds": {"kld": [0.01]}}, {},
         "names node types that are not run"),
        ({"algorithm": "centralization", "node_types": ["kld"]}, {}, "fetch_datasets=true"),
        # two items would share one results prefix and stop token
        ({"algorithm": "automon", "node_types": ["inner_product"], "error_bounds": {"inner_product": [0.1, 0.1]},
          "synthetic": True}, {}, "error_bounds.'inner_product' repeats [0.1]"),
        ({"algorithm": "automon", "node_types": ["inner_product"],
          "error_bounds": {"inner_product": [math.inf]}}, {}, "error_bounds.inner_product.0"),
        # the message names the field without echoing the input back
        ({"algorithm": "automon", "node_types": ["q" * 100] * 3000}, {}, "node_types has duplicates: ['qqq"),
        ({"algorithm": "automon", "node_types": ["inner_product"], "synthetic": True,
          "error_bounds": {"inner_product": [0.001 * i for i in range(1, 3000)]}}, {}, "at most 200"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(raw, kwargs, message):
    with pytest.raises(InvalidInput) as err:
        _plan(raw, **kwargs)
    assert message in str(err.value) and len(str(err.value)) <= MAX_MESSAGE_CHARS


def test_every_planned_item_is_a_valid_run_configuration():
    for item in _plan({"algorithm": "automon", "synthetic": True})["items"]:
        RunConfig.for_type(item["node_type"], algorithm="automon", num_nodes=item["num_nodes"],
                           error_bound=item["error_bound"], synthetic=True)


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", NODES_REGION)
    with mock_aws():
        s3 = boto3.client("s3", region_name=NODES_REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": NODES_REGION})
        yield s3


def test_the_handler_writes_the_plan_and_nothing_else(aws, monkeypatch):
    for k, v in {"RESULTS_BUCKET": BUCKET, "RESULTS_PREFIX": "results/", "NODE_COUNTS": json.dumps(NODE_COUNTS),
                 "ERROR_BOUNDS": json.dumps(ERROR_BOUNDS), "AUTOMON_IN_IMAGE": "0", "DATASETS_IN_IMAGE": "0"}.items():
        monkeypatch.setenv(k, v)
    run = invoke("automon_validate_input", {"input": {"algorithm": "centralization", "node_types": ["quadratic"]},
                                            "execution": "e2"})
    keys = [o["Key"] for o in aws.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == ["results/e2/plan.json"]
    assert json.loads(aws.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read()) == run


# --- coordinator start / stop ---------------------------------------------------------------------
def _coordinator_region(kind: str) -> dict:
    """The coordinator stack's side, as moto resources: launcher role, details parameter, and the
    launch template (EC2) or cluster + task definition (Fargate)."""
    iam = boto3.client("iam", region_name=COORDINATOR_REGION)
    role_arn = iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    ec2 = boto3.client("ec2", region_name=COORDINATOR_REGION)
    subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"][:2]]
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    sg = ec2.create_security_group(GroupName="coordinator", Description="c", VpcId=vpc)["GroupId"]
    details = {"kind": kind, "region": COORDINATOR_REGION, "subnets": subnets, "security_group": sg,
               "container": "automon", "port": 6400, "token_tag": "automon-token",
               "setting_tag_prefix": "automon-env-"}
    if kind == "ec2":
        details["launch_template_id"] = ec2.create_launch_template(
            LaunchTemplateName="hpcx-automon-coordinator",
            LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "c5.4xlarge"},
        )["LaunchTemplate"]["LaunchTemplateId"]
    else:
        ecs = boto3.client("ecs", region_name=COORDINATOR_REGION)
        details["cluster"] = ecs.create_cluster(clusterName="hpcx-automon-coordinator")["cluster"]["clusterArn"]
        details["task_definition"] = ecs.register_task_definition(
            family="hpcx-automon-coordinator", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
            cpu="4096", memory="16384", containerDefinitions=[{"name": "automon", "image": "img", "memory": 16384}],
        )["taskDefinition"]["taskDefinitionArn"]
    boto3.client("ssm", region_name=COORDINATOR_REGION).put_parameter(
        Name=PARAMETER, Value=json.dumps(details), Type="String")
    return details | {"role_arn": role_arn}


@pytest.fixture
def coordinator_env(aws, monkeypatch):
    # moto's instances start 'pending': poll every second instead of the handler's 6
    monkeypatch.setattr(automon_coordinator, "WAIT", {"Delay": 1, "MaxAttempts": 5})

    def setup(kind: str) -> dict:
        details = _coordinator_region(kind)
        monkeypatch.setenv("LAUNCHER_ROLE_ARN", details["role_arn"])
        monkeypatch.setenv("COORDINATOR_REGION", COORDINATOR_REGION)
        monkeypatch.setenv("COORDINATOR_PARAMETER", PARAMETER)
        return details
    return setup


def _item(key="inner_product/eps_0.1") -> dict:
    return next(i for i in _plan({"algorithm": "automon", "node_types": ["inner_product"]})["items"] if i["key"] == key)


def test_ec2_coordinator_starts_once_with_its_settings_as_tags_and_is_terminated(coordinator_env):
    coordinator_env("ec2")
    item = _item()
    started = invoke("automon_coordinator", {"action": "start", "run_id": "exec-1", "item": item})
    assert started["kind"] == "ec2" and started["region"] == COORDINATOR_REGION
    ec2 = boto3.client("ec2", region_name=COORDINATOR_REGION)
    (instance,) = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert started["host"] == instance["PublicIpAddress"] and started["id"] == instance["InstanceId"]
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    assert tags["automon-token"] == item["token"]
    assert tags["automon-env-NODE_TYPE"] == "inner_product" and tags["automon-env-ERROR_BOUND"] == "0.1"
    assert tags["automon-env-RESULTS_PREFIX"] == item["results_prefix"]

    again = invoke("automon_coordinator", {"action": "start", "run_id": "exec-1", "item": item})  # a retry
    assert again == started
    assert len([i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]) == 1

    assert invoke("automon_coordinator", {"action": "stop", "run_id": "exec-1", "item": item}) == {
        "stopped": [started["id"]]}
    state = ec2.describe_instances(InstanceIds=[started["id"]])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state in ("shutting-down", "terminated")
    # stopping again, or an item that never started, is a no-op
    assert invoke("automon_coordinator", {"action": "stop", "run_id": "exec-1", "item": item}) == {"stopped": []}
    other = _item("inner_product/eps_0.2")
    assert invoke("automon_coordinator", {"action": "stop", "run_id": "exec-1", "item": other}) == {"stopped": []}


@pytest.fixture
def tasks_stay_running():
    # moto moves a task towards STOPPED on every DescribeTasks; hold it RUNNING like a live coordinator
    state_manager.set_transition(model_name="ecs::task", transition={"progression": "manual", "times": 10_000})
    yield
    state_manager.unset_transition("ecs::task")


def test_fargate_coordinator_gets_a_public_address_and_is_stopped(coordinator_env, tasks_stay_running, monkeypatch):
    details = coordinator_env("fargate")
    handler_globals = load_handler("automon_coordinator").__globals__
    real_session = handler_globals["launcher_session"]

    def session_with_public_ips(*args):
        # moto gives awsvpc tasks a network interface but no public address; AWS does with assignPublicIp
        session = real_session(*args)
        session.events.register("after-call.ec2.DescribeNetworkInterfaces", _add_public_ip)
        return session

    monkeypatch.setitem(handler_globals, "launcher_session", session_with_public_ips)
    item = _item()
    started = invoke("automon_coordinator", {"action": "start", "run_id": "exec-1", "item": item})
    assert started["host"] == "198.51.100.7" and started["kind"] == "fargate"
    ecs = boto3.client("ecs", region_name=COORDINATOR_REGION)
    (task,) = ecs.describe_tasks(cluster=details["cluster"], tasks=[started["id"]])["tasks"]
    assert task["startedBy"] == item["token"]
    env = {e["name"]: e["value"] for e in task["overrides"]["containerOverrides"][0]["environment"]}
    assert env == item["env"]
    assert invoke("automon_coordinator", {"action": "start", "run_id": "exec-1", "item": item}) == started
    stopped = invoke("automon_coordinator", {"action": "stop", "run_id": "exec-1", "item": item})
    assert stopped == {"stopped": [started["id"]]}
    assert ecs.list_tasks(cluster=details["cluster"], startedBy=item["token"], desiredStatus="RUNNING")["taskArns"] == []


def _add_public_ip(parsed, **kwargs):
    for eni in parsed.get("NetworkInterfaces", []):
        eni["Association"] = {"PublicIp": "198.51.100.7"}


def test_a_coordinator_without_a_public_address_fails_the_start(coordinator_env, tasks_stay_running):
    coordinator_env("fargate")  # moto: no public address on the task's interface
    with pytest.raises(automon_coordinator.CoordinatorNotStarted, match="no public IPv4 address"):
        invoke("automon_coordinator", {"action": "start", "run_id": "exec-1", "item": _item()})


# --- gather results ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def local_results(tmp_path_factory):
    """Real results files: a centralization run of 4 nodes over ZeroMQ on 127.0.0.1."""
    out = tmp_path_factory.mktemp("automon-run")
    cfg = RunConfig.for_type("inner_product", num_nodes=4, iterations=25, window=5, send_interval_s=0.0)
    run_local(cfg, results_dir=out, coordinator_timeouts=CoordinatorTimeouts(barrier_s=20, idle_s=20, drain_s=0.3,
                                                                              poll_s=0.05),
              node_timeouts=NodeTimeouts(start_s=20, bye_s=20, send_s=10), join_timeout_s=30)
    return out


def _gather_item() -> dict:
    item = _plan({"algorithm": "centralization", "node_types": ["inner_product"]}, automon=False)["items"][0]
    return item | {"num_nodes": 4, "node_indices": ["0", "1", "2", "3"]}


def test_gather_summarizes_the_uploaded_results(aws, local_results):
    item = _gather_item()
    keys = upload_results(local_results, BUCKET, item["results_prefix"], client=aws)
    assert f"{item['results_prefix']}coordinator.json" in keys
    summary = invoke("automon_gather_results", {"run_id": "exec-1", "bucket": BUCKET, "item": item})
    coordinator = json.loads((local_results / "coordinator.json").read_text())
    assert summary == {
        "key": item["key"], "status": "completed",
        "messages": {"received": coordinator["traffic"]["received"]["messages"],
                     "sent": coordinator["traffic"]["sent"]["messages"]},
        "bytes": {"received": coordinator["traffic"]["received"]["bytes"],
                  "sent": coordinator["traffic"]["sent"]["bytes"]},
    }
    # 4 nodes x (ready + done + bye_ack + 21 updates) received, start + bye to each sent
    assert summary["messages"] == {"received": 4 * (3 + 21), "sent": 4 * 2}
    stored = json.loads(aws.get_object(Bucket=BUCKET, Key=f"{item['results_prefix']}summary.json")["Body"].read())
    assert stored["statuses"] == {"coordinator": "completed", **{f"node_{i}": "completed" for i in range(4)}}


def test_gather_waits_for_missing_files_and_fails_a_run_that_ended_early(aws, local_results):
    item = _gather_item()
    handler_globals = load_handler("automon_gather_results").__globals__
    upload_results(local_results, BUCKET, item["results_prefix"], client=aws)
    aws.delete_object(Bucket=BUCKET, Key=f"{item['results_prefix']}node_2.json")
    with pytest.raises(handler_globals["ResultsIncomplete"], match="node_2.json"):
        invoke("automon_gather_results", {"run_id": "exec-1", "bucket": BUCKET, "item": item})

    node = json.loads((local_results / "node_2.json").read_text()) | {"status": "coordinator_lost"}
    aws.put_object(Bucket=BUCKET, Key=f"{item['results_prefix']}node_2.json", Body=json.dumps(node).encode())
    with pytest.raises(handler_globals["RunEndedEarly"], match="coordinator_lost"):
        invoke("automon_gather_results", {"run_id": "exec-1", "bucket": BUCKET, "item": item})
    stored = json.loads(aws.get_object(Bucket=BUCKET, Key=f"{item['results_prefix']}summary.json")["Body"].read())
    assert stored["status"] == "ended_early"


def test_gather_fails_an_algorithm_error_with_its_cause(aws, local_results):
    item = _gather_item()
    upload_results(local_results, BUCKET, item["results_prefix"], client=aws)
    error = "the automon coordinator failed on a VIOLATION frame from node 1: AttributeError: np.alltrue"
    coordinator = json.loads((local_results / "coordinator.json").read_text())
    coordinator |= {"status": "algorithm_error", "error": error}
    aws.put_object(Bucket=BUCKET, Key=f"{item['results_prefix']}coordinator.json",
                   Body=json.dumps(coordinator).encode())
    ended_early = load_handler("automon_gather_results").__globals__["RunEndedEarly"]
    with pytest.raises(ended_early, match="algorithm_error.*coordinator: the automon coordinator failed .*alltrue"):
        invoke("automon_gather_results", {"run_id": "exec-1", "bucket": BUCKET, "item": item})
    stored = json.loads(aws.get_object(Bucket=BUCKET, Key=f"{item['results_prefix']}summary.json")["Body"].read())
    assert stored["status"] == "ended_early" and stored["errors"] == {"coordinator": error}


# --- node clean-up and report -------------------------------------------------------------------
def test_clean_up_stops_only_the_items_node_tasks(aws, monkeypatch, tasks_stay_running):
    ecs = boto3.client("ecs", region_name=NODES_REGION)
    cluster = ecs.create_cluster(clusterName="hpcx-automon-nodes")["cluster"]["clusterArn"]
    ecs.register_task_definition(family="hpcx-automon-node", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
                                 cpu="1024", memory="4096",
                                 containerDefinitions=[{"name": "automon", "image": "img", "memory": 4096}])
    subnet = boto3.client("ec2", region_name=NODES_REGION).describe_subnets()["Subnets"][0]["SubnetId"]
    ours, theirs = _item("inner_product/eps_0.1"), _item("inner_product/eps_0.2")

    def run(item, idx):
        env = [{"name": "RESULTS_PREFIX", "value": item["results_prefix"]}, {"name": "NODE_IDX", "value": idx}]
        return ecs.run_task(cluster=cluster, taskDefinition="hpcx-automon-node", launchType="FARGATE",
                            networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": []}},
                            overrides={"containerOverrides": [{"name": "automon", "environment": env}]},
                            )["tasks"][0]["taskArn"]

    mine = [run(ours, "0"), run(ours, "1")]
    other = run(theirs, "0")
    monkeypatch.setenv("NODES_CLUSTER", cluster)
    monkeypatch.setenv("NODE_FAMILY", "hpcx-automon-node")
    assert sorted(invoke("automon_clean_up", {"item": ours})["stopped"]) == sorted(mine)
    assert ecs.list_tasks(cluster=cluster, desiredStatus="RUNNING")["taskArns"] == [other]
    assert invoke("automon_clean_up", {"item": ours}) == {"stopped": []}


def test_report_counts_failed_items_and_is_written(aws):
    outcomes = [
        {"key": "inner_product/eps_0.1", "outcome": {"status": "SUCCEEDED", "summary": {"status": "completed"}}},
        {"key": "inner_product/eps_0.2", "outcome": {"status": "FAILED", "error": {"Error": "RunEndedEarly"}}},
        {"key": "quadratic/eps_0.1", "outcome": {"status": "CLEANUP_FAILED"}, "error": {"Error": "ClientError"}},
    ]
    result = invoke("automon_report", {"run_id": "exec-1", "bucket": BUCKET, "results_prefix": "results/exec-1/",
                                       "outcomes": outcomes})
    cause = result.pop("cause")
    assert result == {"run_id": "exec-1", "report_key": "results/exec-1/report.json", "succeeded": 1, "failed": 2}
    assert cause.splitlines() == [
        "2 of 3 experiment(s) failed; details in results/exec-1/report.json",
        "inner_product/eps_0.2 FAILED: RunEndedEarly",
        "quadratic/eps_0.1 CLEANUP_FAILED: ClientError",
    ]
    doc = json.loads(aws.get_object(Bucket=BUCKET, Key="results/exec-1/report.json")["Body"].read())
    assert [i["status"] for i in doc["items"]] == ["SUCCEEDED", "FAILED", "CLEANUP_FAILED"]
    assert doc["items"][2]["error"] == {"Error": "ClientError"}
