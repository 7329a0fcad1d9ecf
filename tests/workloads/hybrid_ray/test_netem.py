import pytest

from tests.workloads.hybrid_ray.golden import assert_matches_golden
from workloads.hybrid_ray.netem import shaping_commands, teardown_commands
from workloads.hybrid_ray.topology import HybridTopology, LinkSpec, NodeSpec, SiteSpec


def _topology(**kwargs) -> HybridTopology:
    return HybridTopology.standard(wan_mbit=100, wan_rtt_ms=20, **kwargs)


@pytest.mark.parametrize("node", ["hpc-login", "hpc-worker-0", "cloud-0"])
def test_shaping_commands_match_golden(node):
    assert_matches_golden(f"netem_{node}.sh", "\n".join(shaping_commands(_topology(), node)) + "\n")


def test_each_node_shapes_traffic_to_the_other_site_only():
    topo = _topology()
    hpc = shaping_commands(topo, "hpc-worker-0")
    cloud = shaping_commands(topo, "cloud-0")
    assert any("match ip dst 10.20.0.0/16" in c for c in hpc)
    assert not any("match ip dst 10.10.0.0/16" in c for c in hpc)  # never its own site
    assert any("match ip dst 10.10.0.0/16" in c for c in cloud)
    # Each direction carries half the round trip.
    assert any("netem delay 10ms" in c for c in cloud)
    assert any("htb rate 100mbit ceil 100mbit" in c for c in cloud)
    assert not any("s3" in c for c in hpc if not c.startswith("#"))  # data-only sites are not shaped


def test_shaping_off_generates_nothing():
    assert shaping_commands(_topology(shaping=False), "cloud-0") == []


def test_a_node_with_two_remote_sites_gets_two_classes():
    # The original put every shaped link in one prio band: a second link per node failed.
    topo = HybridTopology(
        sites=[
            SiteSpec(name="hpc", cidr="10.10.0.0/16"),
            SiteSpec(name="cloud", cidr="10.20.0.0/16"),
            SiteSpec(name="cloud2", cidr="10.30.0.0/16"),
        ],
        nodes=[
            NodeSpec(name="hpc-login", site="hpc", role="login"),
            NodeSpec(name="cloud-0", site="cloud", role="worker"),
        ],
        links=[
            LinkSpec(sites=("hpc", "cloud"), bandwidth_mbit=30, rtt_ms=10, jitter_ms=2, loss_percent=0.1),
            LinkSpec(sites=("cloud", "cloud2"), bandwidth_mbit=500, rtt_ms=4),
        ],
    )
    cmds = shaping_commands(topo, "cloud-0")
    classes = [c for c in cmds if c.startswith("tc class add") and "htb rate 10gbit" not in c]
    assert len(classes) == 2
    assert "classid 1:10 " in classes[0] and "30mbit" in classes[0]
    assert "classid 1:11 " in classes[1] and "500mbit" in classes[1]
    assert any("netem delay 5ms 1ms distribution normal loss 0.1%" in c for c in cmds)
    assert any("match ip dst 10.30.0.0/16 flowid 1:11" in c for c in cmds)
    # The login node has a link to cloud only; cloud2 is unconstrained from there.
    assert sum("match ip dst" in c for c in shaping_commands(topo, "hpc-login")) == 1


def test_teardown_is_safe_without_shaping():
    assert teardown_commands(_topology()) == ["tc qdisc del dev ens5 root 2>/dev/null || true"]
