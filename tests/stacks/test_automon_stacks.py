"""Fine-grained checks of AutoMonCoordinatorStack and AutoMonNodesStack: the coordinator port, sizes from
config, scoped roles, the experiment state machine's shape, and configuration errors."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from localcloud.asl import state_machines
from stacks.automon.config import AutoMonConfig
from stacks.config import AppConfig, ConfigError
from workloads.automon.constants import DEFAULT_PORT, NODE_TYPES

NODES, COORDINATOR = "AutoMonNodesStack", "AutoMonCoordinatorStack"


@pytest.fixture(scope="module")
def nodes(synthesized) -> dict:
    return synthesized.templates[NODES].to_json()


@pytest.fixture(scope="module")
def coordinator(synthesized) -> dict:
    return synthesized.templates[COORDINATOR].to_json()


@pytest.fixture(scope="module")
def fargate_stacks() -> dict[str, cdk.Stack]:
    """The app with a Fargate coordinator and configured node CIDRs (the other branches of both stacks)."""
    import app as app_module
    from tests.conftest import REPO_ROOT

    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    context["automon"] = {"coordinator": {"kind": "fargate", "cpu": 4096, "memory_mib": 16384},
                          "node_cidrs": ["203.0.113.0/28", "198.51.100.7/32"], "node_cpu": 2048,
                          "node_memory_mib": 8192, "max_concurrency": 3}
    return app_module.build(cdk.App(context=context))


@pytest.fixture(scope="module")
def fargate(fargate_stacks) -> dict[str, dict]:
    return {name: Template.from_stack(fargate_stacks[name]).to_json() for name in (NODES, COORDINATOR)}


def _of_type(template: dict, rtype: str) -> dict[str, dict]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == rtype}


def _ingress(template: dict) -> list[dict]:
    rules = []
    for sg in _of_type(template, "AWS::EC2::SecurityGroup").values():
        rules += sg["Properties"].get("SecurityGroupIngress", [])
    return rules + [r["Properties"] for r in _of_type(template, "AWS::EC2::SecurityGroupIngress").values()]


def _statements(template: dict) -> list[tuple[str, dict]]:
    return [(logical_id, s) for logical_id, p in _of_type(template, "AWS::IAM::Policy").items()
            for s in p["Properties"]["PolicyDocument"]["Statement"]]


def _actions(statement: dict) -> list[str]:
    a = statement["Action"]
    return [a] if isinstance(a, str) else a


# --- regions, names ---------------------------------------------------------------------------------
def test_stacks_have_explicit_regions_and_prefixed_names(synthesized):
    nodes, coordinator = synthesized.stacks[NODES], synthesized.stacks[COORDINATOR]
    assert (nodes.region, coordinator.region) == ("us-east-2", "us-west-2")
    assert (nodes.stack_name, coordinator.stack_name) == ("hpcx-automon-nodes", "hpcx-automon-coordinator")
    assert nodes in coordinator.dependencies  # the coordinator reads the nodes' addresses: nodes deploy first


# --- the coordinator port ----------------------------------------------------------------------------
def test_coordinator_port_is_open_only_to_the_nodes_nat_addresses(nodes, coordinator):
    rules = _ingress(coordinator)
    assert rules and all(r["IpProtocol"] == "tcp" and r["FromPort"] == r["ToPort"] == DEFAULT_PORT for r in rules)
    # each source is <a nodes-stack output>/32, and that output is the Elastic IP of a NAT gateway
    nat_eips = {n["Properties"]["AllocationId"]["Fn::GetAtt"][0] for n in _of_type(nodes, "AWS::EC2::NatGateway").values()}
    assert len(nat_eips) == len(rules) == 1
    for rule in rules:
        ip, suffix = rule["CidrIp"]["Fn::Join"][1]
        assert suffix == "/32"
        ref = ip["Fn::GetStackOutput"]
        assert (ref["StackName"], ref["Region"]) == ("hpcx-automon-nodes", "us-east-2")
        assert nodes["Outputs"][ref["OutputName"]]["Value"] == {"Ref": next(iter(nat_eips))}
    assert _of_type(nodes, "AWS::EC2::EIP").keys() == nat_eips


def test_configured_node_cidrs_replace_the_nat_addresses(fargate):
    rules = _ingress(fargate[COORDINATOR])
    assert sorted(r["CidrIp"] for r in rules) == ["198.51.100.7/32", "203.0.113.0/28"]
    assert all(r["FromPort"] == r["ToPort"] == DEFAULT_PORT for r in rules)


@pytest.mark.parametrize("stack", [NODES, COORDINATOR])
def test_nothing_is_open_to_the_internet_and_there_is_no_ssh(synthesized, stack):
    template = synthesized.templates[stack].to_json()
    for rule in _ingress(template):
        assert rule.get("CidrIp") != "0.0.0.0/0" and "CidrIpv6" not in rule
        assert rule.get("FromPort") != 22
    if stack == NODES:
        assert _ingress(template) == []  # nodes only connect out
    for lt in _of_type(template, "AWS::EC2::LaunchTemplate").values():
        assert "KeyName" not in lt["Properties"]["LaunchTemplateData"]


@pytest.mark.parametrize("stack", [NODES, COORDINATOR])
def test_the_fargate_variant_has_no_unacknowledged_nag_findings(fargate_stacks, fargate, stack):
    import cdk_nag

    report = cdk_nag.AwsSolutionsChecks(verbose=False).validate_scope(fargate_stacks[stack])
    assert sorted({v.rule_name for v in report.violations}) == []


# --- sizes from config -----------------------------------------------------------------------------
def test_ec2_coordinator_launch_template(coordinator):
    (lt,) = _of_type(coordinator, "AWS::EC2::LaunchTemplate").values()
    data = lt["Properties"]["LaunchTemplateData"]
    assert data["InstanceType"] == AppConfig.parse({}).automon.coordinator.instance_type == "c5.4xlarge"
    assert data["MetadataOptions"]["HttpTokens"] == "required"  # IMDSv2
    assert data["MetadataOptions"]["InstanceMetadataTags"] == "enabled"  # run settings arrive as tags
    assert data["InstanceInitiatedShutdownBehavior"] == "terminate"  # the boot script powers off at the end
    assert data["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
    assert "Fn::Base64" in data["UserData"]
    # Session Manager instead of SSH
    roles = _of_type(coordinator, "AWS::IAM::Role")
    instance_role = next(r for r in roles.values() if r["Properties"].get("RoleName") == "hpcx-automon-coordinator-instance")
    assert any("AmazonSSMManagedInstanceCore" in json.dumps(p) for p in instance_role["Properties"]["ManagedPolicyArns"])


def test_node_task_definition_is_one_vcpu_four_gb_by_default(nodes):
    (task,) = _of_type(nodes, "AWS::ECS::TaskDefinition").values()
    assert (task["Properties"]["Cpu"], task["Properties"]["Memory"]) == ("1024", "4096")
    assert task["Properties"]["RequiresCompatibilities"] == ["FARGATE"]
    (container,) = task["Properties"]["ContainerDefinitions"]
    assert container["Command"] == ["node"]


def test_fargate_coordinator_gets_the_configured_size_and_nodes_theirs(fargate):
    (coordinator_task,) = _of_type(fargate[COORDINATOR], "AWS::ECS::TaskDefinition").values()
    assert (coordinator_task["Properties"]["Cpu"], coordinator_task["Properties"]["Memory"]) == ("4096", "16384")
    (container,) = coordinator_task["Properties"]["ContainerDefinitions"]
    assert container["Command"] == ["coordinator"]
    assert container["PortMappings"] == [{"ContainerPort": DEFAULT_PORT, "Protocol": "tcp"}]
    assert _of_type(fargate[COORDINATOR], "AWS::EC2::LaunchTemplate") == {}
    (node_task,) = _of_type(fargate[NODES], "AWS::ECS::TaskDefinition").values()
    assert (node_task["Properties"]["Cpu"], node_task["Properties"]["Memory"]) == ("2048", "8192")


def test_one_image_definition_serves_both_regions(synthesized):
    from pathlib import Path

    images = {}
    for stack in (NODES, COORDINATOR):
        manifest = json.loads((Path(synthesized.outdir) / f"{stack}.assets.json").read_text())
        (image,) = [i for i in manifest["dockerImages"].values() if "containers/automon" in json.dumps(i)]
        images[stack] = image
    assert images[NODES]["source"] == images[COORDINATOR]["source"]
    assert images[NODES]["source"]["dockerFile"] == "containers/automon/Dockerfile"
    regions = {d["region"] for i in images.values() for d in i["destinations"].values()}
    assert regions == {"us-east-2", "us-west-2"}


# --- least privilege -------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", [NODES, COORDINATOR])
def test_no_statement_grants_every_action(synthesized, stack):
    for logical_id, statement in _statements(synthesized.templates[stack].to_json()):
        for action in _actions(statement):
            assert action != "*" and not action.endswith(":*"), (logical_id, action)


def test_results_writes_are_limited_to_the_results_prefix(nodes, coordinator):
    writers = []
    for template in (nodes, coordinator):
        for logical_id, statement in _statements(template):
            if "s3:PutObject" in _actions(statement):
                writers.append(logical_id)
                text = json.dumps(statement["Resource"])
                assert "/results/*" in text, (logical_id, text)
    # node task role, coordinator instance role, validate/gather/report Lambdas
    assert len(writers) == 5


def test_the_launcher_role_trusts_only_the_experiments_coordinator_function(nodes, coordinator):
    (role,) = [r for r in _of_type(coordinator, "AWS::IAM::Role").values()
               if r["Properties"].get("RoleName") == "hpcx-automon-coordinator-launcher"]
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    ref = statement["Principal"]["AWS"]["Fn::GetStackOutput"]
    target = nodes["Outputs"][ref["OutputName"]]["Value"]["Fn::GetAtt"]
    function = next(f for f in _of_type(nodes, "AWS::Lambda::Function").values()
                    if f["Properties"].get("FunctionName") == "hpcx-automon-coordinator")
    assert function["Properties"]["Role"] == {"Fn::GetAtt": target}


def test_the_launcher_may_start_instances_only_from_its_template_and_with_the_token_tag(coordinator):
    policy = [s for _, s in _statements(coordinator) if "ec2:RunInstances" in _actions(s)]
    instance = [s for s in policy if "instance/*" in json.dumps(s["Resource"])]
    (statement,) = instance
    assert "ec2:LaunchTemplate" in json.dumps(statement["Condition"])
    assert statement["Condition"]["Null"] == {"aws:RequestTag/automon-token": "false"}
    (terminate,) = [s for _, s in _statements(coordinator) if "ec2:TerminateInstances" in _actions(s)]
    assert terminate["Condition"]["Null"] == {"ec2:ResourceTag/automon-token": "false"}


# --- the experiment state machine --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def asl(nodes) -> dict:
    (definition,) = state_machines(nodes).values()
    return definition


def test_the_machine_validates_first_and_fails_cleanly_on_bad_input(asl):
    assert asl["StartAt"] == "ValidateInput"
    validate = asl["States"]["ValidateInput"]
    assert validate["Catch"][0]["Next"] == "InputRejected" and asl["States"]["InputRejected"]["Type"] == "Fail"
    assert validate["Next"] == "RunExperiments"


def test_experiments_run_as_a_bounded_map_and_nodes_all_at_once(asl, fargate):
    experiments = asl["States"]["RunExperiments"]
    assert experiments["Type"] == "Map" and experiments["ItemsPath"] == "$.items"
    assert experiments["MaxConcurrency"] == AppConfig.parse({}).automon.max_concurrency == 8
    (other,) = state_machines(fargate[NODES]).values()
    assert other["States"]["RunExperiments"]["MaxConcurrency"] == 3
    item = experiments["ItemProcessor"]["States"]
    run_nodes = item["RunNodes"]
    assert run_nodes["ItemsPath"] == "$.item.node_indices" and run_nodes.get("MaxConcurrency", 0) == 0
    run_node = run_nodes["ItemProcessor"]["States"]["RunNode"]
    assert run_node["Resource"] == "arn:aws:states:::ecs:runTask.sync"
    env = {e["Name"]: e["Value.$"] for e in run_node["Parameters"]["Overrides"]["ContainerOverrides"][0]["Environment"]}
    assert env["HOST"] == "$.host" and env["NODE_IDX"] == "$.node_idx"


def _paths(states: dict, start: str) -> list[list[str]]:
    """Every path from start to an end of the item processor, following Next and Catch edges."""
    state = states[start]
    nexts = [state["Next"]] if "Next" in state else []
    nexts += [c["Next"] for c in state.get("Catch", [])]
    if not nexts:
        return [[start]]
    return [[start, *rest] for n in dict.fromkeys(nexts) for rest in _paths(states, n)]


def test_every_item_path_stops_the_coordinator_and_the_nodes(asl):
    item = asl["States"]["RunExperiments"]["ItemProcessor"]
    states = item["States"]
    for step in ("StartCoordinator", "RunNodes", "GatherResults"):
        (catch,) = states[step]["Catch"]
        assert catch["ErrorEquals"] == ["States.ALL"] and catch["Next"] == "MarkFailed"
    assert states["MarkFailed"]["Next"] == "StopCoordinator"
    paths = _paths(states, item["StartAt"])
    assert len(paths) >= 4
    for path in paths:
        assert "StopCoordinator" in path, path
        # the clean-up itself may fail (recorded as CLEANUP_FAILED), but never skips stopping the coordinator
        assert "StopNodeTasks" in path or path[-1] == "CleanUpFailed", path
    assert states["GatherResults"]["Retry"][-1]["ErrorEquals"] == ["ResultsIncomplete"]


def test_the_execution_fails_when_any_item_failed(asl):
    choice = asl["States"]["AllSucceeded"]
    assert choice["Choices"][0]["Variable"] == "$.report.failed" and choice["Choices"][0]["Next"] == "ExperimentsFailed"
    assert asl["States"]["WriteReport"]["Next"] == "AllSucceeded"


def test_state_machine_logs_everything_and_traces(nodes):
    (machine,) = _of_type(nodes, "AWS::StepFunctions::StateMachine").values()
    props = machine["Properties"]
    assert props["LoggingConfiguration"]["Level"] == "ALL" and props["TracingConfiguration"]["Enabled"] is True
    assert props["StateMachineName"] == "hpcx-AutoMon-Experiment"


def test_validation_lambda_gets_the_configured_node_types(nodes):
    fn = next(f for f in _of_type(nodes, "AWS::Lambda::Function").values()
              if f["Properties"].get("FunctionName") == "hpcx-automon-validate-input")
    env = fn["Properties"]["Environment"]["Variables"]
    assert json.loads(env["NODE_COUNTS"]) == {n: t.num_nodes for n, t in NODE_TYPES.items()}
    assert json.loads(env["ERROR_BOUNDS"]) == {n: list(t.error_bounds) for n, t in NODE_TYPES.items()}
    assert env["AUTOMON_IN_IMAGE"] == "0"  # no automon_pip_spec by default


# --- configuration ------------------------------------------------------------------------------------------
def test_defaults_are_the_published_experiment():
    cfg = AutoMonConfig()
    assert (cfg.coordinator_region, cfg.nodes_region) == ("us-west-2", "us-east-2")
    assert cfg.coordinator.kind == "ec2" and cfg.coordinator.instance_type == "c5.4xlarge"
    assert (cfg.node_cpu, cfg.node_memory_mib) == (1024, 4096)
    assert cfg.node_counts == {"inner_product": 10, "quadratic": 10, "kld": 12, "dnn": 9}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"coordinator": {"kind": "fargate", "memory_mib": 4096}}, "4096 CPU units take 8192-30720 MiB"),
        ({"coordinator": {"kind": "fargate", "cpu": 3000}}, "Fargate CPU must be one of"),
        ({"coordinator": {"instance_type": "c9.huge"}}, "unknown instance type 'c9.huge'"),
        ({"node_memory_mib": 1024}, "node: 1024 CPU units take 2048-8192 MiB"),
        ({"node_cidrs": ["0.0.0.0/0"]}, "never to the internet"),
        ({"node_cidrs": ["10.0.0.1/8"]}, "not an IPv4 network"),
        ({"nodes_availability_zones": ["us-west-2a"]}, "are not zones of us-east-2"),
        ({"nat_gateways": 2, "az_count": 1}, "exceeds the nodes' zone count"),
        ({"coordinator_region": "mars-1"}, "not an AWS region name"),
        ({"error_bounds": {"kld": [0.5]}, "node_counts": {"kld": 12}}, "no tuned neighbourhood size"),
        ({"node_counts": {"cosine": 3}, "error_bounds": {"cosine": [0.1]}}, "unknown node types ['cosine']"),
        ({"node_counts": {"kld": 12}}, "must name the same node types"),
        ({"automon_pip_spec": "automon; rm -rf /"}, "without quotes or shell characters"),
        ({"log_retention_days": 10}, "not a CloudWatch Logs value"),
        ({"max_concurrency": 41}, "max_concurrency"),
    ],
)
def test_impossible_automon_settings_are_refused_with_a_clear_message(raw, message):
    with pytest.raises(ConfigError) as err:
        AppConfig.parse({"automon": raw})
    assert message in str(err.value)
