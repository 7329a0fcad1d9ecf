"""Fine-grained checks of BatchStack: what matters for correctness, cost and security."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template

from localcloud.services.template import SynthesizedStack
from reproduce.outputs import COMPUTE_POOLS, REQUIRED_OUTPUTS, parse_compute_pools
from stacks.config import AppConfig
from stacks.lsrtm.jobs import RETRY_ON_STATUS_REASONS
from stacks.lsrtm.shared_filesystem import MOUNT_PATH


@pytest.fixture(scope="module")
def template(synthesized) -> Template:
    return synthesized.templates["BatchStack"]


@pytest.fixture(scope="module")
def config() -> AppConfig:
    return AppConfig.parse({})


def _user_data_of(template: Template, lt_logical_id: str) -> str:
    """The launch template's user data with intrinsic joins flattened to text."""
    lt = template.to_json()["Resources"][lt_logical_id]
    return _text(lt["Properties"]["LaunchTemplateData"]["UserData"])


def _text(value) -> str:
    if isinstance(value, str):
        return value
    if "Fn::Base64" in value:  # the MIME part's body, shown decoded
        return _text(value["Fn::Base64"])
    if "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(_text(p) for p in parts)
    return "<token>"


def test_every_compute_environment_pins_the_latest_version_of_its_own_no_ht_launch_template(template, config):
    resources = template.to_json()["Resources"]
    ces = template.find_resources("AWS::Batch::ComputeEnvironment")
    assert len(ces) == len(config.batch.compute_environments)
    cores_seen = set()
    for ce in ces.values():
        lt_spec = ce["Properties"]["ComputeResources"]["LaunchTemplate"]
        lt_id = lt_spec["LaunchTemplateId"]["Ref"]
        # a template change must reach the environment: the version follows the template
        assert lt_spec["Version"] == {"Fn::GetAtt": [lt_id, "LatestVersionNumber"]}
        assert resources[lt_id]["Type"] == "AWS::EC2::LaunchTemplate"
        lt_data = resources[lt_id]["Properties"]["LaunchTemplateData"]
        assert lt_data["MetadataOptions"]["HttpTokens"] == "required"  # IMDSv2
        assert lt_data["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
        user_data = _user_data_of(template, lt_id)
        assert "Content-Type: multipart/mixed" in user_data
        assert "Content-Type: text/x-shellscript" in user_data
        assert "THREADS_PER_CORE=1" in user_data  # hyper-threading off
        cores_seen.add(int(user_data.split("ONLINE_CPUS=")[1].split("\n")[0]))
    assert cores_seen == {8, 24, 48, 18}


def test_spot_environments_bid_50_percent_and_scale_to_zero(template):
    template.has_resource_properties(
        "AWS::Batch::ComputeEnvironment",
        {
            "ComputeResources": Match.object_like(
                {"Type": "SPOT", "BidPercentage": 50, "MinvCpus": 0, "InstanceTypes": ["m4.4xlarge"],
                 "AllocationStrategy": "SPOT_PRICE_CAPACITY_OPTIMIZED"}
            )
        },
    )


def test_multi_node_environments_are_on_demand_in_the_cluster_placement_group_in_one_subnet(template):
    pg = template.find_resources("AWS::EC2::PlacementGroup", {"Properties": {"Strategy": "cluster"}})
    assert len(pg) == 1
    pg_id = next(iter(pg))
    multi = [
        ce for ce in template.find_resources("AWS::Batch::ComputeEnvironment").values()
        if "PlacementGroup" in ce["Properties"]["ComputeResources"]
    ]
    assert sorted(ce["Properties"]["ComputeResources"]["InstanceTypes"][0] for ce in multi) == [
        "c5n.18xlarge", "r5.24xlarge"]
    for ce in multi:
        res = ce["Properties"]["ComputeResources"]
        assert res["Type"] == "EC2"
        assert res["PlacementGroup"] == {"Fn::GetAtt": [pg_id, "GroupName"]}
        assert len(res["Subnets"]) == 1


def test_queues_are_named_with_the_prefix(template, config):
    for ce in config.batch.compute_environments:
        template.has_resource_properties("AWS::Batch::JobQueue", {"JobQueueName": f"hpcx-{ce.key}", "Priority": 1000})


def test_gradient_job_retries_infrastructure_failures_and_exits_on_application_errors(template):
    expected = [{"Action": "RETRY", "OnStatusReason": r} for r in RETRY_ON_STATUS_REASONS]
    expected.append({"Action": "EXIT", "OnReason": "*"})
    template.has_resource_properties(
        "AWS::Batch::JobDefinition",
        {
            "Type": "container",
            "JobDefinitionName": "hpcx-gradient",
            "RetryStrategy": {"Attempts": 3, "EvaluateOnExit": expected},
            "Timeout": {"AttemptDurationSeconds": 3600},
            "ContainerProperties": Match.object_like(
                {"ResourceRequirements": Match.array_with([{"Type": "VCPU", "Value": "8"}])}
            ),
        },
    )


def test_mpi_job_is_multinode_with_an_open_node_range_and_efs_at_slash_efs(template):
    jd = template.find_resources("AWS::Batch::JobDefinition", {"Properties": {"Type": "multinode"}})
    assert len(jd) == 1
    props = next(iter(jd.values()))["Properties"]
    node_range = props["NodeProperties"]["NodeRangeProperties"][0]
    assert node_range["TargetNodes"] == "0:"
    container = node_range["Container"]
    (volume,) = container["Volumes"]
    efs = volume["EfsVolumeConfiguration"]
    assert efs["TransitEncryption"] == "ENABLED"
    assert efs["AuthorizationConfig"]["Iam"] == "ENABLED"
    assert container["MountPoints"] == [{"ContainerPath": MOUNT_PATH, "SourceVolume": volume["Name"], "ReadOnly": False}]
    assert props["RetryStrategy"]["EvaluateOnExit"][-1] == {"Action": "EXIT", "OnReason": "*"}


def test_efs_is_encrypted_and_reachable_only_from_workers(template):
    template.has_resource_properties("AWS::EFS::FileSystem", {"Encrypted": True})
    ingress = template.find_resources("AWS::EC2::SecurityGroupIngress", {"Properties": {"FromPort": 2049}})
    assert len(ingress) == 1
    assert "SourceSecurityGroupId" in next(iter(ingress.values()))["Properties"]


def test_s3_gateway_and_sqs_interface_endpoints_exist(template):
    template.has_resource_properties("AWS::EC2::VPCEndpoint", {"VpcEndpointType": "Gateway"})
    endpoints = template.find_resources("AWS::EC2::VPCEndpoint", {"Properties": {"VpcEndpointType": "Interface"}})
    names = [str(e["Properties"]["ServiceName"]) for e in endpoints.values()]
    assert len(names) == 1 and "sqs" in names[0]


def test_bucket_is_private_encrypted_and_tls_only(template):
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": Match.any_value(),
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True
            },
            "LoggingConfiguration": Match.any_value(),
        },
    )
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {"PolicyDocument": {"Statement": Match.array_with([Match.object_like(
            {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})])}},
    )


def test_no_ingress_from_the_internet(template):
    for sg in template.find_resources("AWS::EC2::SecurityGroup").values():
        for rule in sg["Properties"].get("SecurityGroupIngress", []):
            assert rule.get("CidrIp") != "0.0.0.0/0"
    for rule in template.find_resources("AWS::EC2::SecurityGroupIngress").values():
        assert rule["Properties"].get("CidrIp") != "0.0.0.0/0"


def test_log_groups_have_retention(template):
    for group in template.find_resources("AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] == 30


@pytest.fixture(scope="module")
def no_nat_stack():
    import aws_cdk as cdk

    from stacks.lsrtm.stack import BatchStack

    cfg = AppConfig.parse({"prefix": "lab2", "batch": {"nat_gateways": 0, "existing_bucket_name": "my-seismic-data"}})
    return BatchStack(cdk.App(), "NoNat", config=cfg)


@pytest.fixture(scope="module")
def no_nat_template(no_nat_stack) -> Template:
    return Template.from_stack(no_nat_stack)


def test_without_nat_the_endpoints_batch_on_ec2_needs_are_added(no_nat_template):
    no_nat_template.resource_count_is("AWS::EC2::NatGateway", 0)
    endpoints = no_nat_template.find_resources("AWS::EC2::VPCEndpoint", {"Properties": {"VpcEndpointType": "Interface"}})
    services = " ".join(str(e["Properties"]["ServiceName"]) for e in endpoints.values())
    for service in ("ecs-agent", "ecs-telemetry", ".ecs", "ecr.api", "ecr.dkr", ".logs", ".sqs"):
        assert service in services, service


def test_an_existing_bucket_is_used_instead_of_creating_one(no_nat_template):
    no_nat_template.resource_count_is("AWS::S3::Bucket", 0)
    no_nat_template.has_resource_properties("AWS::Batch::JobQueue", {"JobQueueName": "lab2-m4-spot-8"})


def test_the_no_nat_existing_bucket_variant_has_no_unacknowledged_nag_findings(no_nat_stack):
    import cdk_nag

    report = cdk_nag.AwsSolutionsChecks(verbose=False).validate_scope(no_nat_stack)
    assert [v.rule_name for v in report.violations] == []


CFN_OUTPUT_VALUE_LIMIT = 4096  # characters, CloudFormation's limit on an output's value


def _queue_names_resolved(value, resources: dict):
    """The output's value as CloudFormation will render it: each queue's name in place of its token."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(_queue_names_resolved(p, resources) for p in parts)
    logical_id = json.dumps(value).split('"Fn::GetAtt": ["')[1].split('"')[0]
    return resources[logical_id]["Properties"]["JobQueueName"]


def test_compute_pools_output_tells_the_launchers_every_pool(template, config):
    outputs = template.to_json()["Outputs"]
    assert set(REQUIRED_OUTPUTS) | {COMPUTE_POOLS} <= set(outputs)  # what reproduce/ reads
    value = _queue_names_resolved(outputs[COMPUTE_POOLS]["Value"], template.to_json()["Resources"])
    pools = parse_compute_pools(value)

    assert list(pools) == [ce.key for ce in config.batch.compute_environments]
    assert pools["r5-spot-24"] == {"queue": config.name("r5-spot-24"), "instance_types": ["r5.24xlarge"],
                                   "online_cpus": 24, "usable_memory_mib": 747110, "max_nodes": 21,
                                   "threads_per_core": 1, "spot": True, "multi_node": False,
                                   "vcpus": 96, "cores_per_socket": 24}
    assert pools["c5n-mnp-18"]["multi_node"] and not pools["c5n-mnp-18"]["spot"]
    assert {k: p["online_cpus"] for k, p in pools.items()} == {
        "m4-spot-8": 8, "r5-spot-24": 24, "r5-spot-48": 48, "r5-mnp-24": 24, "c5n-mnp-18": 18}
    assert len(value) < CFN_OUTPUT_VALUE_LIMIT
    # the longest prefix allowed (20 characters) adds 16 per queue name: still far below the limit
    assert len(value) + 16 * len(pools) < CFN_OUTPUT_VALUE_LIMIT


def test_the_lsrtm_validator_knows_what_each_state_machines_queue_can_run(template, config):
    """The validator rejects job overrides above the queue's limits, read from the same config as the
    ComputePools output; each state machine tells it which queue (array or multi-node) it submits to."""
    functions = template.find_resources("AWS::Lambda::Function", {"Properties": {
        "FunctionName": config.name("lsrtm-validate-input")}})
    (function,) = functions.values()
    limits = json.loads(function["Properties"]["Environment"]["Variables"]["JOB_LIMITS"])
    assert limits == config.batch.job_limits()
    assert limits["multi_node"] == {"compute_environment": "r5-mnp-24", "job_memory_mib": 180000, "online_cpus": 24,
                                    "usable_memory_mib": 747110, "max_nodes": 20}
    definitions = SynthesizedStack("BatchStack", template.to_json()).state_machines_by_name()
    assert set(definitions) == {config.name("LSRTM-SGD"), config.name("LSRTM-SGD-MultiNode")}
    for name, definition in definitions.items():
        payload = definition["States"]["ValidateInput"]["Parameters"]  # payload_response_only: the payload itself
        assert payload["multi_node"] is name.endswith("MultiNode")
