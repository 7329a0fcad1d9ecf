"""``tc`` commands that emulate the WAN between sites on each node's egress.

One HTB class per remote site (rate = the link's bandwidth) with a netem child (delay = RTT/2, since each
direction is delayed once, plus jitter/2 and loss), selected by a u32 filter on the remote site's CIDR.
Everything else goes to an unshaped default class. This replaces the original's single ``prio`` band with
iptables marks, which could hold one shaped link per node; here a node gets one class per remote site.
Intra-site links are never shaped, nor links to data-only sites (no CIDR). ``loss_percent`` applies to
each direction.
"""

from __future__ import annotations

from workloads.hybrid_ray.topology import HybridTopology

_DEFAULT_CLASS = 1
_FIRST_SHAPED_CLASS = 10
_UNSHAPED_RATE = "10gbit"
# 128 KiB bursts: the original found netem needed a bigger bucket (1024 kbit) and bigger socket buffers.
_BURST = "128kb"
_SOCKET_BUFFER_BYTES = 25_000_000
_NETEM_LIMIT_PACKETS = 10_000


def _num(x: float) -> str:
    return f"{x:g}"


def shaping_commands(topology: HybridTopology, node_name: str) -> list[str]:
    """Shell commands (run as root) that shape ``node_name``'s egress; empty when shaping is off."""
    node = topology.node(node_name)
    if not topology.shaping:
        return []
    dev = topology.interface
    cmds = [
        f"# emulated WAN from {node.name} (site {node.site}) on {dev}, generated from the topology",
        f"sysctl -w net.core.rmem_max={_SOCKET_BUFFER_BYTES}",
        f"sysctl -w net.core.wmem_max={_SOCKET_BUFFER_BYTES}",
        *teardown_commands(topology),
        f"tc qdisc add dev {dev} root handle 1: htb default {_DEFAULT_CLASS}",
        f"tc class add dev {dev} parent 1: classid 1:{_DEFAULT_CLASS} htb rate {_UNSHAPED_RATE}",
    ]
    minor = _FIRST_SHAPED_CLASS
    for site in topology.sites:
        if site.name == node.site or site.cidr is None:
            continue
        link = topology.link(node.site, site.name)
        if link is None:
            continue
        rate = f"{_num(link.bandwidth_mbit)}mbit"
        netem = f"netem delay {_num(link.rtt_ms / 2)}ms"
        if link.jitter_ms:
            netem += f" {_num(link.jitter_ms / 2)}ms distribution normal"
        if link.loss_percent:
            netem += f" loss {_num(link.loss_percent)}%"
        cmds += [
            f"# to site {site.name} ({site.cidr}): {rate}, RTT {_num(link.rtt_ms)} ms",
            f"tc class add dev {dev} parent 1: classid 1:{minor} htb rate {rate} ceil {rate} "
            f"burst {_BURST} cburst {_BURST}",
            f"tc qdisc add dev {dev} parent 1:{minor} handle {minor}: {netem} limit {_NETEM_LIMIT_PACKETS}",
            f"tc filter add dev {dev} parent 1: protocol ip prio 1 u32 match ip dst {site.cidr} flowid 1:{minor}",
        ]
        minor += 1
    return cmds


def teardown_commands(topology: HybridTopology) -> list[str]:
    """Remove any shaping (safe to run when there is none)."""
    return [f"tc qdisc del dev {topology.interface} root 2>/dev/null || true"]
