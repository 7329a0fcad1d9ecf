import subprocess

import pytest
from ray._private.label_utils import parse_node_labels_string

from tests.workloads.hybrid_ray.golden import assert_matches_golden
from workloads.hybrid_ray.bootstrap import (
    EfsShare,
    dashboard_tunnel_command,
    labels_argument,
    node_bootstrap_script,
    ray_start_command,
)
from workloads.hybrid_ray.cluster_labels import node_labels
from workloads.hybrid_ray.topology import HybridTopology

HEAD_IP = "10.10.1.10"
SHARE = EfsShare("fs-0123456789abcdef0", "fsap-0123456789abcdef0")
NODES = ["hpc-login", "hpc-worker-0", "cloud-0"]


def _topology(**kwargs) -> HybridTopology:
    return HybridTopology.standard(wan_mbit=100, wan_rtt_ms=20, **kwargs)


@pytest.mark.parametrize("node", NODES)
def test_bootstrap_script_matches_golden(node):
    assert_matches_golden(f"bootstrap_{node}.sh", node_bootstrap_script(_topology(), node, HEAD_IP))


@pytest.mark.parametrize("node", NODES)
def test_bootstrap_script_is_valid_bash(node):
    script = node_bootstrap_script(_topology(), node, HEAD_IP)
    result = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True, check=False)
    assert result.returncode == 0, result.stderr


def test_labels_argument_parses_with_rays_own_parser():
    assert parse_node_labels_string(labels_argument("cloud", "worker", "cloud-0")) == node_labels(
        "cloud", "worker", "cloud-0"
    )


def test_head_and_worker_start_lines():
    topo = _topology()
    head = ray_start_command(topo, "hpc-login", HEAD_IP)
    worker = ray_start_command(topo, "cloud-0", HEAD_IP)
    assert "--head" in head and "--dashboard-host=127.0.0.1" in head and "--num-cpus=2" in head
    assert "--address" not in head
    assert f"--address={HEAD_IP}:6379" in worker and "--head" not in worker
    assert "--labels=site=cloud,role=worker,node=cloud-0" in worker
    assert "--resources='{\"transfer_slot\": 1}'" in worker
    for port in topo.ports.cluster_ports():
        if port != topo.ports.gcs:
            assert str(port) in worker


def test_pinned_ray_and_shaping_switch():
    on = node_bootstrap_script(_topology(), "cloud-0", HEAD_IP)
    off = node_bootstrap_script(_topology(shaping=False), "cloud-0", HEAD_IP)
    assert "'ray[default]==2.60.0'" in on
    assert "tc qdisc add" in on and "tc " not in off
    assert "/dev/tcp/10.10.1.10/6379" in on  # workers wait for the head before joining
    assert "/dev/tcp/" not in node_bootstrap_script(_topology(), "hpc-login", HEAD_IP)


def test_dashboard_tunnel_uses_session_manager():
    cmd = dashboard_tunnel_command("i-0123", _topology())
    assert cmd.startswith(
        "aws ssm start-session --target i-0123 --document-name AWS-StartPortForwardingSession"
    )
    assert '"portNumber":["8265"]' in cmd


def test_hpc_node_with_the_share_matches_golden_and_is_valid_bash():
    script = node_bootstrap_script(_topology(), "hpc-worker-0", HEAD_IP, share=SHARE)
    assert_matches_golden("bootstrap_hpc-worker-0_share.sh", script)
    result = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True, check=False)
    assert result.returncode == 0, result.stderr


def test_the_share_is_mounted_before_ray_starts_and_the_boot_fails_without_it():
    lines = node_bootstrap_script(_topology(), "hpc-worker-0", HEAD_IP, share=SHARE).splitlines()
    fstab = next(i for i, line in enumerate(lines) if "/etc/fstab" in line)
    start = next(i for i, line in enumerate(lines) if "ray start" in line)
    assert fstab < start and "amazon-efs-utils" in lines[4]
    assert "fs-0123456789abcdef0:/ /home/ec2-user/share efs _netdev,noresvport,tls,iam,accesspoint=fsap-" in lines[fstab]
    # the last mount line is a bare check, so `set -e` stops the boot when the share never answers
    checks = [line for line in lines[:start] if "mountpoint -q" in line]
    assert checks[-1] == "mountpoint -q /home/ec2-user/share"
    assert "efs" not in node_bootstrap_script(_topology(), "hpc-worker-0", HEAD_IP)
