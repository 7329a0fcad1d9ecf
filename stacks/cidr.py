"""The one check of a VPC range every stack's config uses."""

from __future__ import annotations

import ipaddress


def check_private_cidr(v: str) -> str:
    """A private (RFC 1918) IPv4 range between /16 (the VPC maximum) and /24 (room for the subnets)."""
    try:
        net = ipaddress.IPv4Network(v, strict=True)
    except ValueError as exc:
        raise ValueError(f"{v!r} is not an IPv4 network in CIDR form ({exc})") from None
    if not net.is_private:
        raise ValueError(f"{v!r} is not a private (RFC 1918) range")
    if not 16 <= net.prefixlen <= 24:
        raise ValueError(f"{v!r}: the prefix length must be between /16 and /24")
    return v
