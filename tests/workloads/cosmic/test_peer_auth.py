"""A squatter at the rendezvous: someone who registers a run's pairing name first, without its secret.

The squatter is a complete TCPunch client (ours), so it gets rank 0's endpoint, connects to it, and
sends the hello rank 1 would send, except for the signature it cannot make.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from tests.workloads.cosmic.test_communicator_errors import in_threads
from workloads.cosmic import direct_channel, framing
from workloads.cosmic.communicator import Communicator
from workloads.cosmic.errors import PeerAuthenticationFailed
from workloads.cosmic.peer_auth import hello_key, hello_mac, new_secret, valid_mac
from workloads.cosmic.rendezvous_client import pair
from workloads.cosmic.rendezvous_server import ServerThread
from workloads.cosmic.tcpunch_protocol import Endpoint

COMM = "authrun-"
SECRET = new_secret()


def rank(server: ServerThread, r: int, secret: str = SECRET, timeout: float = 10) -> Communicator:
    return Communicator(r, 2, COMM, "127.0.0.1", server.port, timeout_s=timeout, secret=secret)


def wait_for_waiting_name(server: ServerThread) -> None:
    deadline = time.monotonic() + 5
    while server.snapshot()["waiting_names"] == 0:
        assert time.monotonic() < deadline, "the squatter never registered"
        time.sleep(0.01)


class Squatter(threading.Thread):
    """Registers `COMM0_1` first, connects to whoever pairs with it, claims to be rank 1, records what it gets."""

    def __init__(self, server: ServerThread) -> None:
        super().__init__(daemon=True)
        self.server, self.received = server, b""

    def run(self) -> None:
        sock = pair(f"{COMM}0_1".encode(), "127.0.0.1", self.server.port, 5)
        forged = {"comm": COMM, "rank": 1, "world_size": 2, "mac": "00" * 32}
        sock.sendall(framing.encode(forged, "hello", 0).head)
        sock.settimeout(5)
        try:
            while chunk := sock.recv(65536):
                self.received += chunk
        except OSError:
            pass
        sock.close()


def test_a_squatter_that_registered_first_is_dropped_and_the_ranks_still_pair(server: ServerThread) -> None:
    squatter = Squatter(server)
    squatter.start()
    wait_for_waiting_name(server)

    def rank0() -> None:
        with rank(server, 0) as c:
            c.send({"payload": "for rank 1 only"}, 1)

    def rank1() -> object:
        time.sleep(0.3)  # rank 0 meets the squatter first
        with rank(server, 1) as c:
            return c.recv(0)

    results = in_threads([rank0, rank1])
    squatter.join(10)
    assert results == [None, {"payload": "for rank 1 only"}]
    rank0_hello = framing.encode({"comm": COMM, "rank": 0, "world_size": 2, "mac": "0" * 64}, "hello", 0).head
    assert b"for rank 1 only" not in squatter.received and len(squatter.received) <= len(rank0_hello)
    assert server.snapshot()["pairs_completed"] == 2  # rank 0 met the squatter, then rank 1


def test_a_squatter_that_never_connects_back_is_given_up(server: ServerThread, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(direct_channel, "HANDSHAKE_S", 0.5)  # how long a met peer has to connect and say hello
    lurker = socket.create_connection(("127.0.0.1", server.port))
    lurker.sendall(f"{COMM}0_1".encode())  # learns rank 0's endpoint, never punches
    wait_for_waiting_name(server)

    def rank1() -> object:
        time.sleep(0.3)
        with rank(server, 1) as c:
            return c.recv(0)

    def rank0() -> None:
        with rank(server, 0) as c:
            c.send("hello rank 1", 1)

    try:
        assert in_threads([rank0, rank1]) == [None, "hello rank 1"]
    finally:
        lurker.close()


def test_ranks_given_different_secrets_fail_clearly(server: ServerThread) -> None:
    def rank0() -> None:
        with rank(server, 0, timeout=1.5) as c:
            c.send("x", 1)

    def rank1() -> None:
        with rank(server, 1, secret=new_secret(), timeout=1.5) as c:
            c.recv(0)

    results = in_threads([rank0, rank1])
    for r, result in enumerate(results):
        assert isinstance(result, PeerAuthenticationFailed), result
        assert f"rank {r}:" in str(result) and "different secrets" in str(result)


def test_the_hello_signature_binds_the_key_the_ranks_and_this_pairings_endpoints() -> None:
    key = hello_key(SECRET)
    a, b, c = Endpoint("203.0.113.1", 40001), Endpoint("198.51.100.7", 50002), Endpoint("198.51.100.7", 50003)
    fields = {"comm": COMM, "world_size": 2, "sender": 1, "receiver": 0, "sender_endpoint": a, "receiver_endpoint": b}
    mac = hello_mac(key, **fields)
    assert valid_mac(key, mac, **fields)
    assert not valid_mac(hello_key(new_secret()), mac, **fields)
    assert not valid_mac(key, mac, **{**fields, "receiver_endpoint": c})  # replayed into another pairing
    assert not valid_mac(key, mac, **{**fields, "sender": 0, "receiver": 1})  # reflected back to its sender
    assert not valid_mac(key, None, **fields)
    with pytest.raises(ValueError, match="secret"):
        hello_key("not hex")
