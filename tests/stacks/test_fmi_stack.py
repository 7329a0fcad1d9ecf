"""FmiStack: what matters, asserted on the synthesized template (the app's own, with cdk.json's context)."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match

from localcloud.asl import state_machines
from stacks.config import AppConfig
from workloads.cosmic.constants import FD_RESERVE, HEALTH_PORT, RENDEZVOUS_PORT

STACK = "FmiStack"


@pytest.fixture(scope="module")
def template(synthesized):
    return synthesized.templates[STACK]


@pytest.fixture(scope="module")
def resources(template):
    return template.to_json()["Resources"]


@pytest.fixture(scope="module")
def config():
    return AppConfig().fmi  # cdk.json sets no fmi values


def _of_type(resources, rtype):
    return {k: v for k, v in resources.items() if v["Type"] == rtype}


def _ingress_rules(resources):
    """Every ingress rule, inline or standalone, as (group logical id, rule)."""
    rules = []
    for logical_id, sg in _of_type(resources, "AWS::EC2::SecurityGroup").items():
        rules += [(logical_id, r) for r in sg["Properties"].get("SecurityGroupIngress", [])]
    for rule in _of_type(resources, "AWS::EC2::SecurityGroupIngress").values():
        rules.append((rule["Properties"]["GroupId"]["Fn::GetAtt"][0], rule["Properties"]))
    return rules


def _nlb_group(resources):
    (nlb,) = _of_type(resources, "AWS::ElasticLoadBalancingV2::LoadBalancer").values()
    (group,) = nlb["Properties"]["SecurityGroups"]
    return group["Fn::GetAtt"][0]


def test_the_only_internet_ingress_is_the_rendezvous_port_on_the_load_balancer(resources):
    rules = _ingress_rules(resources)
    open_to_all = [(g, r) for g, r in rules if r.get("CidrIp") == "0.0.0.0/0" or r.get("CidrIpv6") == "::/0"]
    assert len(open_to_all) == 1
    group, rule = open_to_all[0]
    assert group == _nlb_group(resources)
    assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", RENDEZVOUS_PORT, RENDEZVOUS_PORT)
    assert not any(r.get("FromPort") == 22 or r.get("IpProtocol") == "-1" for _, r in rules)  # no SSH, no all-traffic


def test_the_task_admits_only_the_load_balancer_on_the_rendezvous_and_health_ports(resources):
    nlb_group = _nlb_group(resources)
    (service,) = _of_type(resources, "AWS::ECS::Service").values()
    (task_group,) = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"]
    task_rules = [r for g, r in _ingress_rules(resources) if g == task_group["Fn::GetAtt"][0]]
    assert sorted(r["FromPort"] for r in task_rules) == [HEALTH_PORT, RENDEZVOUS_PORT]
    assert all(r["SourceSecurityGroupId"] == {"Fn::GetAtt": [nlb_group, "GroupId"]} for r in task_rules)
    assert service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "DISABLED"


def test_nlb_is_internet_facing_and_preserves_the_clients_ip_and_port(template):
    template.has_resource_properties("AWS::ElasticLoadBalancingV2::LoadBalancer",
                                     {"Scheme": "internet-facing", "Type": "network"})
    template.has_resource_properties("AWS::ElasticLoadBalancingV2::Listener",
                                     {"Port": RENDEZVOUS_PORT, "Protocol": "TCP"})
    template.has_resource_properties("AWS::ElasticLoadBalancingV2::TargetGroup", {
        "Port": RENDEZVOUS_PORT, "Protocol": "TCP", "TargetType": "ip",
        "TargetGroupAttributes": Match.array_with([{"Key": "preserve_client_ip.enabled", "Value": "true"}]),
        "HealthCheckProtocol": "HTTP", "HealthCheckPort": str(HEALTH_PORT), "HealthCheckPath": "/health",
    })


def test_exactly_one_rendezvous_server_even_during_deployments(template):
    # two servers behind the NLB would split pairing names between them
    template.has_resource_properties("AWS::ECS::Service", {
        "DesiredCount": 1, "LaunchType": "FARGATE",
        "DeploymentConfiguration": Match.object_like({"MinimumHealthyPercent": 0, "MaximumPercent": 100}),
    })
    template.has_resource_properties("AWS::ECS::TaskDefinition", {"ContainerDefinitions": [Match.object_like({
        "Command": Match.array_with(["--port", str(RENDEZVOUS_PORT), "--health-port", str(HEALTH_PORT)]),
        "ReadonlyRootFilesystem": True,
        "LogConfiguration": Match.object_like({"LogDriver": "awslogs"}),
    })]})


def test_the_rendezvous_server_caps_fit_its_descriptors_and_a_world_behind_one_address(resources, config):
    (task,) = _of_type(resources, "AWS::ECS::TaskDefinition").values()
    (container,) = task["Properties"]["ContainerDefinitions"]
    args = container["Command"]
    max_connections = int(args[args.index("--max-connections") + 1])
    per_address = int(args[args.index("--max-per-address") + 1])
    assert max_connections == config.rendezvous_max_connections
    # every rank of two concurrent worlds may come from one shared Lambda egress address
    assert per_address >= 2 * config.max_world_size
    (nofile,) = [u for u in container["Ulimits"] if u["Name"] == "nofile"]
    assert nofile["SoftLimit"] == nofile["HardLimit"] >= max_connections + FD_RESERVE


def test_distributed_map_runs_every_rank_at_once_and_retries_only_throttling(resources, config):
    (definition,) = state_machines({"Resources": resources}).values()
    ranks = definition["States"]["RunRanks"]
    assert ranks["MaxConcurrency"] >= config.max_world_size
    assert ranks["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert ranks["ItemSelector"] == {"rank.$": "$$.Map.Item.Value", "job.$": "$.job"}
    assert ranks["ResultPath"] is None
    (rank_state,) = ranks["ItemProcessor"]["States"].values()
    assert [r["ErrorEquals"] for r in rank_state["Retry"]] == [["Lambda.TooManyRequestsException"]]
    assert "Catch" not in rank_state
    # the validator refuses what the Map could not run at once
    validate = next(f for f in _of_type(resources, "AWS::Lambda::Function").values()
                    if f["Properties"].get("ImageConfig", {}).get("Command") == ["cosmic_validate_input.handler.handler"])
    assert int(validate["Properties"]["Environment"]["Variables"]["MAX_WORLD_SIZE"]) == ranks["MaxConcurrency"]
    assert validate["Properties"]["Environment"]["Variables"]["RENDEZVOUS_HOST"] == {
        "Fn::GetAtt": [next(iter(_of_type(resources, "AWS::ElasticLoadBalancingV2::LoadBalancer"))), "DNSName"]}
    assert list(definition["States"]) == ["ValidateInput", "RunRanks", "Summarize", "InputRejected"]


def test_state_machine_logs_everything_and_is_traced(template, resources, config):
    template.has_resource_properties("AWS::StepFunctions::StateMachine", {
        "TracingConfiguration": {"Enabled": True},
        "LoggingConfiguration": Match.object_like({"Level": "ALL", "IncludeExecutionData": True}),
    })
    (definition,) = state_machines({"Resources": resources}).values()
    assert definition["TimeoutSeconds"] == config.execution_timeout_minutes * 60


def test_every_log_group_has_the_configured_retention(resources, config):
    groups = _of_type(resources, "AWS::Logs::LogGroup")
    assert len(groups) >= 6  # flow logs, rendezvous, state machine, three functions
    assert {g["Properties"].get("RetentionInDays") for g in groups.values()} == {config.log_retention_days}


def test_executor_is_an_image_function_outside_any_vpc_with_the_configured_size(resources, config):
    executor = next(f["Properties"] for f in _of_type(resources, "AWS::Lambda::Function").values()
                    if f["Properties"].get("ImageConfig", {}).get("Command") == ["cosmic_executor.handler.handler"])
    assert executor["PackageType"] == "Image" and "VpcConfig" not in executor
    assert executor["MemorySize"] == config.executor_memory_mib and executor["Timeout"] == config.executor_timeout_s
    assert executor["EphemeralStorage"] == {"Size": config.executor_ephemeral_storage_mib}
    assert executor["TracingConfig"] == {"Mode": "Active"}


def test_buckets_are_encrypted_private_and_tls_only(resources):
    buckets = _of_type(resources, "AWS::S3::Bucket")
    assert len(buckets) == 6  # code, data, results, each with its access-log bucket
    for bucket in buckets.values():
        props = bucket["Properties"]
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    policies = _of_type(resources, "AWS::S3::BucketPolicy").values()
    tls_only = [p for p in policies if any(
        s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        for s in p["Properties"]["PolicyDocument"]["Statement"])]
    assert len(tls_only) == len(buckets)


def test_roles_write_results_only_under_runs(resources):
    writes = []
    for policy in _of_type(resources, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if "s3:PutObject" in actions:
                writes.append(json.dumps(statement["Resource"]))
    assert len(writes) == 3 and all('"/runs/*"' in w for w in writes)  # validate, executor, summary


def test_outputs_tell_the_user_what_to_do_next(template):
    for output in ("RendezvousAddress", "CodeBucket", "DataBucket", "ResultsBucket", "StateMachineArn", "ExampleInput"):
        template.has_output(output, Match.any_value())
