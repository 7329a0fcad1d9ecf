"""The Python TCPunch client: pairing through the server, hole punching on loopback, clear failures."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from workloads.cosmic.errors import CommunicatorTimeout, RendezvousError
from workloads.cosmic.rendezvous_client import pair, resolve_ipv4
from workloads.cosmic.rendezvous_server import ServerThread


def test_two_threads_get_one_connection_to_each_other(server: ServerThread) -> None:
    socks: dict[int, socket.socket] = {}

    def side(i: int) -> None:
        socks[i] = pair(b"duo0_1", "localhost", server.port, 5, rank=i, peer=1 - i)

    threads = [threading.Thread(target=side, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    a, b = socks[0], socks[1]
    try:
        assert a.getsockname() == b.getpeername() and b.getsockname() == a.getpeername()
        assert a.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        a.sendall(b"ping")
        assert b.recv(4) == b"ping"
        b.sendall(b"pong")
        assert a.recv(4) == b"pong"
    finally:
        a.close()
        b.close()


def test_missing_peer_times_out_naming_it(server: ServerThread) -> None:
    start = time.monotonic()
    with pytest.raises(CommunicatorTimeout, match=r"rank 2: allreduce timed out after 0.3 s .* rank 5"):
        pair(b"nobody2_5", "127.0.0.1", server.port, 0.3, rank=2, peer=5, op="allreduce")
    assert time.monotonic() - start < 2
    assert server.snapshot()["waiting_names"] in (0, 1)  # our socket is closed; the server notices


def test_peer_that_never_connects_back_times_out(server: ServerThread) -> None:
    """The server hands out an endpoint nobody listens on: the punch gives up at the deadline."""
    fake = socket.create_connection(("127.0.0.1", server.port))
    fake.sendall(b"ghost0_1")
    fake.recv(8)

    def vanish() -> None:
        fake.recv(8)  # the real client's endpoint arrives; then the fake goes away
        fake.close()

    t = threading.Thread(target=vanish)
    t.start()
    with pytest.raises(CommunicatorTimeout, match="hole punching"):
        pair(b"ghost0_1", "127.0.0.1", server.port, 0.5, rank=0, peer=1)
    t.join(5)


def test_unreachable_server_is_a_rendezvous_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(RendezvousError, match="cannot reach rendezvous server"):
        pair(b"x", "127.0.0.1", port, 2)
    with pytest.raises(RendezvousError, match="cannot resolve"):
        resolve_ipv4("no-such-host.invalid")


def test_server_that_hangs_up_early_is_a_rendezvous_error() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)

        def rude() -> None:
            conn, _ = listener.accept()
            conn.recv(100)
            conn.sendall(b"\x7f\x00\x00\x01")  # half a PeerConnectionData, then gone
            conn.close()

        t = threading.Thread(target=rude)
        t.start()
        with pytest.raises(RendezvousError, match="closed the connection"):
            pair(b"x", "127.0.0.1", listener.getsockname()[1], 2)
        t.join(5)


def test_names_are_checked_before_connecting() -> None:
    with pytest.raises(ValueError):
        pair(b"x" * 101, "127.0.0.1", 1, 1)
