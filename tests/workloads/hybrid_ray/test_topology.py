import pytest
from pydantic import ValidationError

from workloads.hybrid_ray.topology import HybridTopology, LinkSpec, NodeSpec, RayPorts, SiteSpec


def test_standard_topology_has_one_head_and_the_requested_nodes():
    topo = HybridTopology.standard(hpc_workers=2, cloud_nodes=3, wan_mbit=100)
    assert topo.head.name == "hpc-login"
    assert [n.name for n in topo.nodes] == [
        "hpc-login",
        "hpc-worker-0",
        "hpc-worker-1",
        "cloud-0",
        "cloud-1",
        "cloud-2",
    ]
    assert topo.link("cloud", "hpc") is topo.link("hpc", "cloud")
    assert topo.link("hpc", "cloud").bandwidth_mbit == 100
    assert topo.link("hpc", "s3").bandwidth_mbit == 100  # S3 from HPC rides the WAN unless told
    assert topo.link("cloud", "nowhere") is None


def _sites(hpc="10.0.0.0/16", cloud="10.1.0.0/16"):
    return [SiteSpec(name="hpc", cidr=hpc), SiteSpec(name="cloud", cidr=cloud)]


def _nodes():
    return [
        NodeSpec(name="login", site="hpc", role="login"),
        NodeSpec(name="c0", site="cloud", role="worker"),
    ]


def test_overlapping_cidrs_are_rejected():
    with pytest.raises(ValidationError, match="overlap"):
        HybridTopology(sites=_sites(cloud="10.0.128.0/17"), nodes=_nodes())


def test_public_cidr_is_rejected():
    # The original cloud VPC used 11.0.0.0/16, which is public address space.
    with pytest.raises(ValidationError, match="private"):
        SiteSpec(name="cloud", cidr="11.0.0.0/16")


def test_exactly_one_login_node():
    nodes = _nodes() + [NodeSpec(name="login2", site="hpc", role="login")]
    with pytest.raises(ValidationError, match="exactly one login"):
        HybridTopology(sites=_sites(), nodes=nodes)


def test_node_in_unknown_or_data_only_site_is_rejected():
    with pytest.raises(ValidationError, match="unknown site"):
        HybridTopology(sites=_sites(), nodes=_nodes() + [NodeSpec(name="x", site="mars", role="worker")])
    sites = _sites() + [SiteSpec(name="s3")]
    with pytest.raises(ValidationError, match="no CIDR"):
        HybridTopology(sites=sites, nodes=_nodes() + [NodeSpec(name="x", site="s3", role="worker")])


def test_links_must_name_known_sites_once():
    link = LinkSpec(sites=("hpc", "cloud"), bandwidth_mbit=10, rtt_ms=1)
    with pytest.raises(ValidationError, match="two links"):
        HybridTopology(
            sites=_sites(), nodes=_nodes(), links=[link, link.model_copy(update={"sites": ("cloud", "hpc")})]
        )
    with pytest.raises(ValidationError, match="unknown site"):
        HybridTopology(
            sites=_sites(), nodes=_nodes(), links=[LinkSpec(sites=("hpc", "x"), bandwidth_mbit=1, rtt_ms=1)]
        )


def test_link_values_are_checked():
    with pytest.raises(ValidationError):
        LinkSpec(sites=("a", "b"), bandwidth_mbit=0, rtt_ms=1)
    with pytest.raises(ValidationError):
        LinkSpec(sites=("a", "b"), bandwidth_mbit=1, rtt_ms=-1)


def test_ray_ports_are_distinct_and_outside_the_worker_range():
    assert RayPorts().gcs == 6379
    with pytest.raises(ValidationError, match="inside the worker port range"):
        RayPorts(gcs=30050)
    with pytest.raises(ValidationError, match="distinct"):
        RayPorts(node_manager=6379)
    assert 8265 not in RayPorts().cluster_ports()  # the dashboard stays on the head's loopback


def test_unknown_node_name_is_a_clear_error():
    with pytest.raises(KeyError, match="no node named"):
        HybridTopology.standard().node("cloud-9")
