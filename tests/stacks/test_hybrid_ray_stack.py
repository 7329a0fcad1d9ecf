"""Fine-grained checks of HybridRayStack: two disjoint peered VPCs, Ray ports open between the sites only,
no way in from the internet, hardened nodes, boot scripts generated from the topology, outputs; and the
`hybrid_ray` configuration's errors."""

from __future__ import annotations

import ipaddress
import json

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from stacks.config import AppConfig, ConfigError
from stacks.hybrid_ray.config import DEFAULT_RAY_VERSION, SSH_TUNNEL_REFUSAL
from stacks.hybrid_ray.stack import HybridRayStack
from workloads.hybrid_ray.bootstrap import SHARE_MOUNT_POINT
from workloads.hybrid_ray.topology import HybridTopology, RayPorts

STACK = "HybridRayStack"
PORTS = RayPorts()
HPC_CIDR, CLOUD_CIDR = "10.50.0.0/16", "10.51.0.0/16"


@pytest.fixture(scope="module")
def template(synthesized) -> dict:
    return synthesized.templates[STACK].to_json()


def _build(hybrid_ray: dict) -> dict:
    """HybridRayStack alone, with cdk.json's context and a `hybrid_ray` section."""
    from tests.conftest import REPO_ROOT

    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    app = cdk.App(context={**context, "hybrid_ray": hybrid_ray})
    config = AppConfig.from_context(app.node.try_get_context)
    return Template.from_stack(HybridRayStack(app, STACK, config=config)).to_json()


@pytest.fixture(scope="module")
def variant() -> dict:
    """Shaping off, 3 HPC workers, 2 cloud nodes, other types and a named zone."""
    return _build({"shaping": False, "hpc_workers": 3, "cloud_nodes": 2, "cloud_instance_type": "c5.2xlarge",
                   "availability_zone": "us-east-2b"})


def _of_type(template: dict, rtype: str) -> dict[str, dict]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == rtype}


def _ingress(template: dict) -> list[dict]:
    rules = []
    for sg in _of_type(template, "AWS::EC2::SecurityGroup").values():
        rules += sg["Properties"].get("SecurityGroupIngress", [])
    return rules + [r["Properties"] for r in _of_type(template, "AWS::EC2::SecurityGroupIngress").values()]


def _vpc_cidrs(template: dict) -> dict[str, str]:
    return {k: r["Properties"]["CidrBlock"] for k, r in _of_type(template, "AWS::EC2::VPC").items()}


def _user_data(template: dict) -> dict[str, str]:
    """Each instance's boot script by its Name tag, with intrinsic functions rendered as <Ref>/<GetAtt>."""
    def render(value) -> str:
        if isinstance(value, str):
            return value
        if "Fn::Join" in value:
            sep, parts = value["Fn::Join"]
            return sep.join(render(p) for p in parts)
        if "Ref" in value:
            return f"<{value['Ref']}>"
        if "Fn::GetAtt" in value:
            return "<" + ".".join(value["Fn::GetAtt"]) + ">"
        raise AssertionError(f"unexpected intrinsic {value}")

    scripts = {}
    for r in _of_type(template, "AWS::EC2::Instance").values():
        name = next(t["Value"] for t in r["Properties"]["Tags"] if t["Key"] == "Name")
        scripts[name] = render(r["Properties"]["UserData"]["Fn::Base64"])
    return scripts


# --- network ------------------------------------------------------------------------------------------
def test_two_vpcs_with_disjoint_private_cidrs(template):
    cidrs = [ipaddress.ip_network(c) for c in _vpc_cidrs(template).values()]
    assert sorted(map(str, cidrs)) == [HPC_CIDR, CLOUD_CIDR]
    assert all(c.is_private for c in cidrs) and not cidrs[0].overlaps(cidrs[1])


def test_vpcs_are_peered_with_routes_both_ways(template):
    (peering_id, peering), = _of_type(template, "AWS::EC2::VPCPeeringConnection").items()
    vpc_ids = {v: k for k, v in _vpc_cidrs(template).items()}
    assert {peering["Properties"]["VpcId"]["Ref"], peering["Properties"]["PeerVpcId"]["Ref"]} == set(vpc_ids.values())
    routes = [r["Properties"] for r in _of_type(template, "AWS::EC2::Route").values()
              if "VpcPeeringConnectionId" in r["Properties"]]
    assert all(r["VpcPeeringConnectionId"] == {"Ref": peering_id} for r in routes)
    assert sorted(r["DestinationCidrBlock"] for r in routes) == [HPC_CIDR, CLOUD_CIDR]
    # each route sits in a node subnet's table of the *other* VPC
    tables = _of_type(template, "AWS::EC2::RouteTable")
    for r in routes:
        vpc = tables[r["RouteTableId"]["Ref"]]["Properties"]["VpcId"]["Ref"]
        assert vpc != vpc_ids[r["DestinationCidrBlock"]]


def test_nodes_have_no_public_address_and_sit_in_private_subnets(template):
    private = {k for k, s in _of_type(template, "AWS::EC2::Subnet").items()
               if not s["Properties"].get("MapPublicIpOnLaunch", False)}
    instances = _of_type(template, "AWS::EC2::Instance")
    assert len(instances) == 3
    for inst in instances.values():
        (eni,) = inst["Properties"]["NetworkInterfaces"]
        assert eni["SubnetId"]["Ref"] in private and eni["AssociatePublicIpAddress"] is False
        assert "KeyName" not in inst["Properties"]  # no key pairs: Session Manager only


# --- security groups ----------------------------------------------------------------------------------
def test_ray_ports_open_only_from_own_group_or_the_other_vpc(template):
    groups = _of_type(template, "AWS::EC2::SecurityGroup")
    ray_groups = {k for k in groups if "RaySecurity" in k}
    assert len(ray_groups) == 2
    expected_ports = {(p, p) for p in PORTS.cluster_ports()} | {(PORTS.min_worker, PORTS.max_worker)}
    for gid in ray_groups:
        inline = groups[gid]["Properties"]["SecurityGroupIngress"]
        own_cidr = HPC_CIDR if "Hpc" in gid else CLOUD_CIDR
        other_cidr = CLOUD_CIDR if own_cidr == HPC_CIDR else HPC_CIDR
        assert {r["CidrIp"] for r in inline} == {other_cidr}
        assert {(r["FromPort"], r["ToPort"]) for r in inline} == expected_ports
        own = [r["Properties"] for r in _of_type(template, "AWS::EC2::SecurityGroupIngress").values()
               if r["Properties"]["GroupId"] == {"Fn::GetAtt": [gid, "GroupId"]}]
        assert all(r["SourceSecurityGroupId"] == {"Fn::GetAtt": [gid, "GroupId"]} for r in own)
        assert {(r["FromPort"], r["ToPort"]) for r in own} == expected_ports
    assert PORTS.dashboard not in {r.get("FromPort") for r in _ingress(template)}  # tunnel only


def test_nothing_is_open_to_the_internet_and_no_ssh_anywhere(template, variant):
    for t in (template, variant):
        for rule in _ingress(t):
            assert rule.get("CidrIp") not in ("0.0.0.0/0", None) or "SourceSecurityGroupId" in rule
            assert "CidrIpv6" not in rule
            assert not rule["FromPort"] <= 22 <= rule["ToPort"]
            if "CidrIp" in rule:
                assert ipaddress.ip_network(rule["CidrIp"]).is_private


def test_the_share_admits_nfs_from_hpc_nodes_only(template):
    (mt,) = _of_type(template, "AWS::EFS::MountTarget").values()
    (efs_sg,) = mt["Properties"]["SecurityGroups"]
    rules = [r["Properties"] for r in _of_type(template, "AWS::EC2::SecurityGroupIngress").values()
             if r["Properties"]["GroupId"] == efs_sg]
    assert [(r["FromPort"], r["SourceSecurityGroupId"]["Fn::GetAtt"][0]) for r in rules] == [
        (2049, next(k for k in _of_type(template, "AWS::EC2::SecurityGroup") if k.startswith("HpcRaySecurity")))
    ]
    (fs,) = _of_type(template, "AWS::EFS::FileSystem").values()
    assert fs["Properties"]["Encrypted"] is True


# --- nodes --------------------------------------------------------------------------------------------
def test_nodes_require_imdsv2_and_encrypted_volumes(template):
    templates = _of_type(template, "AWS::EC2::LaunchTemplate")
    assert len(templates) == 3
    for lt in templates.values():
        assert lt["Properties"]["LaunchTemplateData"]["MetadataOptions"]["HttpTokens"] == "required"
    for inst in _of_type(template, "AWS::EC2::Instance").values():
        (device,) = inst["Properties"]["BlockDeviceMappings"]
        assert device["Ebs"]["Encrypted"] is True and device["Ebs"]["VolumeType"] == "gp3"
        assert inst["Properties"]["Monitoring"] is True


def test_sizes_and_counts_come_from_config(template, variant):
    def by_name(t):
        return {next(tag["Value"] for tag in i["Properties"]["Tags"] if tag["Key"] == "Name"): i["Properties"]
                for i in _of_type(t, "AWS::EC2::Instance").values()}

    default = by_name(template)
    assert {n: p["InstanceType"] for n, p in default.items()} == {
        "hpcx-hybrid-ray-hpc-login": "m5.xlarge", "hpcx-hybrid-ray-hpc-worker-0": "r5.4xlarge",
        "hpcx-hybrid-ray-cloud-0": "r5.4xlarge",
    }
    volumes = {n: p["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] for n, p in default.items()}
    assert volumes["hpcx-hybrid-ray-hpc-login"] == 30 and volumes["hpcx-hybrid-ray-cloud-0"] == 150
    other = by_name(variant)
    assert len(other) == 1 + 3 + 2
    assert {p["InstanceType"] for n, p in other.items() if "cloud" in n} == {"c5.2xlarge"}


def test_boot_scripts_mount_the_share_on_hpc_nodes_and_label_every_node(template):
    scripts = _user_data(template)
    login = scripts["hpcx-hybrid-ray-hpc-login"]
    worker = scripts["hpcx-hybrid-ray-hpc-worker-0"]
    cloud = scripts["hpcx-hybrid-ray-cloud-0"]
    for script in (login, worker):
        assert "efs _netdev,noresvport,tls,iam,accesspoint=<ShareFileSystemScratch" in script
        assert f"mountpoint -q {SHARE_MOUNT_POINT}" in script and "amazon-efs-utils" in script
    assert "efs" not in cloud.replace("--no-cache-dir", "")  # the cloud has no mount of the HPC share
    assert "--labels=site=hpc,role=login,node=hpc-login" in login and "--head" in login
    assert "--labels=site=hpc,role=worker,node=hpc-worker-0" in worker
    assert "--labels=site=cloud,role=worker,node=cloud-0" in cloud
    assert f"'ray[default]=={DEFAULT_RAY_VERSION}'" in cloud
    # workers join the head at its private address, resolved at deploy time
    assert "--address=<HpcLoginInstance" in cloud and ".PrivateIp>:6379" in cloud
    # netem on by default, shaping traffic to the other VPC at the configured WAN rate
    assert f"match ip dst {HPC_CIDR}" in cloud and f"match ip dst {CLOUD_CIDR}" in worker
    assert "htb rate 220mbit" in cloud


def test_netem_is_off_by_switch(variant):
    scripts = _user_data(variant)
    assert len(scripts) == 6
    assert all("tc qdisc" not in s and "netem" not in s for s in scripts.values())


def test_outputs_tell_the_user_what_to_do_next(template):
    outputs = template["Outputs"]
    tunnel = json.dumps(outputs["DashboardTunnel"]["Value"])
    assert "AWS-StartPortForwardingSession" in tunnel and "8265" in tunnel
    nodes = json.dumps(outputs["Nodes"]["Value"])
    for name in ("hpc-login hpc/login", "hpc-worker-0 hpc/worker", "cloud-0 cloud/worker"):
        assert name in nodes
    assert "LoginShell" in outputs and "HeadAddress" in outputs
    assert outputs["WanShaping"]["Value"] == "220 Mbit/s, RTT 0.3 ms"


# --- configuration --------------------------------------------------------------------------------------
def test_defaults_build_the_runtime_topology():
    topo = AppConfig.parse({}).hybrid_ray.topology()
    assert isinstance(topo, HybridTopology) and topo.shaping
    assert [n.name for n in topo.nodes] == ["hpc-login", "hpc-worker-0", "cloud-0"]
    assert topo.site("hpc").cidr == HPC_CIDR and topo.site("cloud").cidr == CLOUD_CIDR
    assert topo.link("hpc", "cloud").bandwidth_mbit == 220.0
    assert topo.ray_version == DEFAULT_RAY_VERSION == HybridTopology.model_fields["ray_version"].default


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"hpc_vpc_cidr": "10.50.0.0/16", "cloud_vpc_cidr": "10.50.128.0/17"}, "overlap"),
        ({"cloud_vpc_cidr": "11.0.0.0/16"}, "private (RFC 1918)"),  # the original's public-space CIDR
        ({"hpc_vpc_cidr": "10.50.0.0/8"}, "not an IPv4 network"),
        ({"connectivity": "ssh_tunnel"}, "ssh_tunnel' is not offered"),
        ({"connectivity": "vpn"}, "connectivity"),
        ({"cloud_nodes": 0}, "cloud_nodes"),
        ({"hpc_worker_instance_type": "r9.huge"}, "unknown instance type 'r9.huge'"),
        ({"ray_version": "latest"}, "pinned stock Ray"),
        ({"wan_mbit": 0}, "wan_mbit"),
        ({"availability_zone": "us-east-2"}, "not an availability zone"),
        ({"log_retention_days": 10}, "not a CloudWatch Logs value"),
    ],
)
def test_impossible_settings_are_refused_with_a_clear_message(raw, message):
    with pytest.raises(ConfigError) as err:
        AppConfig.parse({"hybrid_ray": raw})
    assert message in str(err.value)


def test_the_ssh_tunnel_refusal_explains_itself():
    assert "peering" in SSH_TUNNEL_REFUSAL and "public" in SSH_TUNNEL_REFUSAL


def test_dotted_context_keys_override_single_settings():
    get = {"hybrid_ray.cloud_nodes": "3", "hybrid_ray.shaping": "false"}.get
    cfg = AppConfig.from_context(get).hybrid_ray
    assert cfg.cloud_nodes == 3 and cfg.shaping is False
