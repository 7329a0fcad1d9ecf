"""The private-range check the stacks' VPCs and the hybrid Ray topology's sites share."""

from __future__ import annotations

import ipaddress


def private_network(cidr: str) -> ipaddress.IPv4Network:
    """`cidr` as an IPv4 network, host bits zero; ValueError unless it is a private (RFC 1918) range."""
    try:
        net = ipaddress.IPv4Network(cidr, strict=True)
    except ValueError as exc:
        raise ValueError(f"{cidr!r} is not an IPv4 network in CIDR form ({exc})") from None
    if not net.is_private:
        raise ValueError(f"{cidr!r} is not a private (RFC 1918) range")
    return net
