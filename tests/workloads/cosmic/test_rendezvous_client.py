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


def _pair_both(port: int, name: bytes, timeout: float, second_after: float = 0.0) -> dict[int, socket.socket]:
    """Both sides of `name` in threads, the second starting `second_after` seconds later."""
    socks: dict[int, socket.socket] = {}
    errors: list[BaseException] = []

    def side(i: int) -> None:
        time.sleep(second_after * i)
        try:
            socks[i] = pair(name, "127.0.0.1", port, timeout, rank=i, peer=1 - i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=side, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 5)
    if errors:
        raise errors[0]
    return socks


def test_a_peer_slower_than_the_servers_pair_timeout_still_pairs(make_server) -> None:  # noqa: ANN001
    srv = make_server(pair_timeout_s=0.3)  # the server drops a lonely name after 0.3 s ...
    socks = _pair_both(srv.port, b"slow0_1", timeout=10, second_after=1.5)  # ... the peer comes after 1.5 s
    try:
        socks[0].sendall(b"hi")
        assert socks[1].recv(2) == b"hi"
    finally:
        for s in socks.values():
            s.close()
    assert srv.snapshot()["names_expired"] >= 2  # rank 0 registered its name again, several times


def test_a_client_the_server_turns_away_backs_off_and_gets_in_later(make_server) -> None:  # noqa: ANN001
    srv = make_server(max_connections=8, max_waiting=1)
    blocker = socket.create_connection(("127.0.0.1", srv.port))
    blocker.sendall(b"blocker")
    blocker.recv(8)  # the only waiting slot is taken
    threading.Timer(1.0, blocker.close).start()
    socks = _pair_both(srv.port, b"patient0_1", timeout=10)
    for s in socks.values():
        s.close()
    assert srv.snapshot()["rejected_waiting_full"] >= 1
