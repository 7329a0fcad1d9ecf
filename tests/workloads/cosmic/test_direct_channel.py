"""The transfer engine on a socket pair: full-duplex large swaps, in-place receives, frame checks."""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest

from workloads.cosmic import framing
from workloads.cosmic.direct_channel import Combine, Link, Transfers
from workloads.cosmic.errors import CommunicatorTimeout, PeerDisconnected, ProtocolMismatch


@pytest.fixture
def links() -> tuple[Link, Link]:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    yield Link(a, peer=1), Link(b, peer=0)
    a.close()
    b.close()


def transfers(rank: int, op: str = "allreduce", timeout: float = 10.0) -> Transfers:
    return Transfers(rank, op, time.monotonic() + timeout, timeout)


def test_both_sides_swap_16_mb_at_once_without_deadlock(links: tuple[Link, Link]) -> None:
    data = [np.full(4 << 20, r, dtype=np.float32) for r in (0, 1)]
    got: list = [None, None]

    def side(rank: int) -> None:
        t = transfers(rank)
        t.send(links[rank], data[rank])
        t.recv(links[rank])
        got[rank] = t.run()[0]

    threads = [threading.Thread(target=side, args=(r,)) for r in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    np.testing.assert_array_equal(got[0], data[1])
    np.testing.assert_array_equal(got[1], data[0])
    assert links[0].sent == links[0].received == 1


def test_a_matching_array_is_received_in_place(links: tuple[Link, Link]) -> None:
    into = np.zeros(1000)
    sender = transfers(0)
    sender.send(links[0], np.arange(1000.0))
    sender.run()
    receiver = transfers(1)
    receiver.recv(links[1], into=into)
    assert receiver.run()[0] is into and into[999] == 999.0


def swap_and_combine(links: tuple[Link, Link], sent: np.ndarray, combine: Combine) -> np.ndarray:
    """Rank 0 sends `sent` while rank 1 reduces it into `combine.out` as it arrives."""
    got: list = [None]

    def receive() -> None:
        t = transfers(1)
        t.recv(links[1], combine=combine)
        got[0] = t.run()[0]

    thread = threading.Thread(target=receive)
    thread.start()
    sender = transfers(0)
    sender.send(links[0], sent)
    sender.run()
    thread.join(30)
    return got[0]


def test_an_array_is_reduced_block_by_block_as_it_arrives(links: tuple[Link, Link]) -> None:
    n = 3 * 1024 + 5  # blocks of 4 KB: several full blocks and a short last one
    sent = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    left = np.random.default_rng(1).standard_normal(n).astype(np.float32)
    keep = left.copy()
    out = np.empty_like(left)
    result = swap_and_combine(links, sent, Combine(np.add, left, out, np.empty(4096, dtype=np.uint8)))
    assert result is out
    np.testing.assert_array_equal(out, np.add(keep, sent))  # bit for bit: the same additions
    np.testing.assert_array_equal(left, keep)  # the left operand is only read
    in_place = left.copy()
    swap_and_combine(links, sent, Combine(np.maximum, in_place, in_place, np.empty(64, dtype=np.uint8)))
    np.testing.assert_array_equal(in_place, np.maximum(keep, sent))


def test_a_message_that_is_not_the_expected_array_is_combined_whole(links: tuple[Link, Link]) -> None:
    left, out = np.arange(6, dtype=np.float64), np.zeros(6)
    result = swap_and_combine(links, np.ones(6, dtype=np.int32), Combine(np.add, left, out, np.empty(64, np.uint8)))
    assert result is out
    np.testing.assert_array_equal(out, np.arange(6) + 1.0)


def test_frames_out_of_order_or_foreign_are_refused(links: tuple[Link, Link]) -> None:
    msg = framing.encode([1, 2], "allreduce", seq=5)  # the receiver expects frame 0
    links[0].sock.sendall(msg.head)
    receiver = transfers(1)
    receiver.recv(links[1])
    with pytest.raises(ProtocolMismatch, match="frame 5 from rank 0 out of order"):
        receiver.run()
    links[0].sock.sendall(b"GET / HTTP/1.1\r\n\r\n-------")
    receiver = transfers(1)
    receiver.recv(links[1])
    with pytest.raises(ProtocolMismatch, match="not a communicator frame"):
        receiver.run()


def test_peer_closing_mid_frame_and_silence(links: tuple[Link, Link]) -> None:
    receiver = transfers(1, "scan", timeout=0.2)
    receiver.recv(links[1])
    with pytest.raises(CommunicatorTimeout, match="rank 1: scan timed out after 0.2 s waiting for data from rank 0"):
        receiver.run()
    msg = framing.encode(np.ones(10), "scan", 0)
    links[0].sock.sendall(msg.head + bytes(msg.body[0][:7]))
    links[0].sock.close()
    receiver = transfers(1, "scan")
    receiver.recv(links[1])
    with pytest.raises(PeerDisconnected, match="rank 1: rank 0 disconnected during scan"):
        receiver.run()
