"""TCPunch wire format: the pairing name (raw bytes) up, PeerConnectionData structs down.

`PeerConnectionData {struct in_addr ip; in_port_t port;}` is sent raw by the C++ server: 4 bytes of IPv4
address and 2 bytes of port, both in network byte order, then 2 bytes of struct padding (sizeof is 8 on
x86-64). The client reads exactly 8 bytes twice: first its own public endpoint, then its peer's.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from workloads.cosmic.constants import MAX_PAIRING_NAME_BYTES, PEER_DATA_BYTES

_PEER_DATA = struct.Struct("!4sH2x")
assert _PEER_DATA.size == PEER_DATA_BYTES


@dataclass(frozen=True, order=True)
class Endpoint:
    """An IPv4 address and TCP port as the rendezvous server saw them (public, after any NAT)."""

    ip: str
    port: int

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"

    def as_tuple(self) -> tuple[str, int]:
        return (self.ip, self.port)


def encode_endpoint(endpoint: Endpoint) -> bytes:
    """The 8-byte PeerConnectionData for `endpoint` (padding bytes are zero)."""
    address = ipaddress.IPv4Address(endpoint.ip)
    if not 0 <= endpoint.port <= 0xFFFF:
        raise ValueError(f"port out of range: {endpoint.port}")
    return _PEER_DATA.pack(address.packed, endpoint.port)


def decode_endpoint(data: bytes) -> Endpoint:
    """Parse one PeerConnectionData; the padding bytes are ignored as the C++ client ignores them."""
    if len(data) != PEER_DATA_BYTES:
        raise ValueError(f"PeerConnectionData is {PEER_DATA_BYTES} bytes, got {len(data)}")
    packed_ip, port = _PEER_DATA.unpack(data)
    return Endpoint(str(ipaddress.IPv4Address(packed_ip)), port)


def ipv4_of(host: str) -> str | None:
    """`host` as dotted IPv4 (IPv4-mapped IPv6 unwrapped), or None when it has no IPv4 form."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped
        return str(mapped) if mapped is not None else None
    return str(address)


def check_pairing_name(name: bytes) -> bytes:
    """Validate a name a client is about to send: 1 to 100 bytes (the server reads one recv of <= 100)."""
    if not isinstance(name, bytes | bytearray):
        raise TypeError(f"pairing name must be bytes, got {type(name).__name__}")
    if not 1 <= len(name) <= MAX_PAIRING_NAME_BYTES:
        raise ValueError(f"pairing name must be 1..{MAX_PAIRING_NAME_BYTES} bytes, got {len(name)}")
    return bytes(name)


def printable_name(name: bytes, limit: int = MAX_PAIRING_NAME_BYTES) -> str:
    """A log-safe rendering of an arbitrary (possibly binary) name."""
    return name[:limit].decode("latin-1").encode("unicode_escape").decode("ascii")
