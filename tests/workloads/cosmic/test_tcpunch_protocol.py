"""PeerConnectionData bytes and name rules of the TCPunch protocol."""

from __future__ import annotations

import pytest

from workloads.cosmic.tcpunch_protocol import (
    Endpoint,
    check_pairing_name,
    decode_endpoint,
    encode_endpoint,
    ipv4_of,
    printable_name,
)


def test_endpoint_is_the_8_byte_c_struct_in_network_order() -> None:
    # struct {in_addr ip; in_port_t port;}: 4 address bytes, big-endian port, 2 bytes of padding
    assert encode_endpoint(Endpoint("10.1.2.3", 10000)) == b"\x0a\x01\x02\x03\x27\x10\x00\x00"
    assert encode_endpoint(Endpoint("255.255.255.255", 65535)) == b"\xff\xff\xff\xff\xff\xff\x00\x00"


def test_decode_ignores_padding_and_round_trips() -> None:
    assert decode_endpoint(b"\xc0\xa8\x00\x01\x00\x50\xde\xad") == Endpoint("192.168.0.1", 80)
    for ep in (Endpoint("127.0.0.1", 1), Endpoint("8.8.4.4", 54321)):
        assert decode_endpoint(encode_endpoint(ep)) == ep


@pytest.mark.parametrize("size", [0, 6, 7, 9, 16])
def test_decode_rejects_other_sizes(size: int) -> None:
    with pytest.raises(ValueError, match="8 bytes"):
        decode_endpoint(bytes(size))


def test_encode_rejects_what_the_struct_cannot_hold() -> None:
    with pytest.raises(ValueError):
        encode_endpoint(Endpoint("::1", 10))
    with pytest.raises(ValueError):
        encode_endpoint(Endpoint("1.2.3.4", 70000))


def test_ipv4_of_unwraps_mapped_addresses_and_refuses_ipv6() -> None:
    assert ipv4_of("1.2.3.4") == "1.2.3.4"
    assert ipv4_of("::ffff:10.0.0.7") == "10.0.0.7"
    assert ipv4_of("2001:db8::1") is None
    assert ipv4_of("not an address") is None


def test_name_limits_are_1_to_100_bytes() -> None:
    assert check_pairing_name(b"x" * 100) == b"x" * 100
    assert check_pairing_name(bytearray(b"\x00\xff")) == b"\x00\xff"
    for bad in (b"", b"x" * 101):
        with pytest.raises(ValueError):
            check_pairing_name(bad)
    with pytest.raises(TypeError):
        check_pairing_name("text")  # type: ignore[arg-type]


def test_printable_name_escapes_binary() -> None:
    assert printable_name(b"job1_2") == "job1_2"
    assert printable_name(b"a\x00\xff\n\\") == "a\\x00\\xff\\n\\\\"
