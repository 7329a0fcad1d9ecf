"""Collective algorithms over point-to-point messages (FMI's Direct channel choices, MPICH's structure).

- bcast, gather, scatter, reduce: binomial trees rooted anywhere (relative ranks).
- reduce of a function that is not both commutative and associative: gather, then a left-to-right fold.
- allreduce: recursive doubling; with a non-power-of-two size the first 2*rem ranks fold pairwise first
  and get the result back last. Large arrays under a built-in op use Rabenseifner's algorithm instead
  (recursive-halving reduce-scatter + recursive-doubling allgather): half the bytes of plain doubling.
  Over the Direct channel each block of the partner's half is added as it arrives (still in cache; no
  buffer of the message's size), and with a power-of-two world the input is read, never copied.
- scan: recursive doubling (order kept, so associativity is enough); a linear chain otherwise.
- barrier: an allreduce of one small integer, as FMI does.
Every algorithm keeps lower ranks on the left of the operator, so results match a sequential fold.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from workloads.cosmic.errors import ProtocolMismatch
from workloads.cosmic.reduce_ops import SUM, ReduceOp, private_copy

RABENSEIFNER_MIN_BYTES = 64 << 10  # below this, recursive doubling's fewer messages win


class PointToPoint(Protocol):
    rank: int
    size: int

    def send(self, dst: int, obj: Any) -> None: ...

    def recv(self, src: int, into: np.ndarray | None = None) -> Any: ...

    def sendrecv(self, peer: int, obj: Any, into: np.ndarray | None = None) -> Any: ...


def bcast(p: PointToPoint, obj: Any, root: int) -> Any:
    rel = (p.rank - root) % p.size
    mask = 1
    while mask < p.size:
        if rel & mask:
            obj = p.recv((p.rank - mask) % p.size)
            break
        mask <<= 1
    mask >>= 1
    while mask > 0:
        if rel + mask < p.size:
            p.send((p.rank + mask) % p.size, obj)
        mask >>= 1
    return obj


def gather(p: PointToPoint, obj: Any, root: int) -> list[Any] | None:
    rel = (p.rank - root) % p.size
    items: list[list[Any]] = [[p.rank, obj]]
    mask = 1
    while mask < p.size:
        if rel & mask:
            p.send((p.rank - mask) % p.size, items)
            return None
        if rel + mask < p.size:
            items.extend(p.recv((p.rank + mask) % p.size))
        mask <<= 1
    by_rank = {r: o for r, o in items}
    if sorted(by_rank) != list(range(p.size)):
        raise ProtocolMismatch(f"gather at rank {p.rank} collected ranks {sorted(by_rank)}")
    return [by_rank[r] for r in range(p.size)]


def scatter(p: PointToPoint, items: list[Any] | None, root: int) -> Any:
    """`items` (root only) holds one entry per rank; every rank returns its own entry."""
    rel = (p.rank - root) % p.size
    held: list[Any] = []
    if rel == 0:
        assert items is not None and len(items) == p.size
        held = [items[(r + root) % p.size] for r in range(p.size)]  # relative order
    mask = 1
    while mask < p.size:
        if rel & mask:
            held = p.recv((p.rank - mask) % p.size)
            if not isinstance(held, list) or len(held) != min(mask, p.size - rel):
                raise ProtocolMismatch(f"scatter at rank {p.rank}: got a malformed block")
            break
        mask <<= 1
    mask >>= 1
    while mask > 0:
        if rel + mask < p.size:
            p.send((p.rank + mask) % p.size, held[mask : min(2 * mask, p.size - rel)])
        mask >>= 1
    return held[0]


def reduce(p: PointToPoint, obj: Any, op: ReduceOp, root: int) -> Any:
    if not (op.commutative and op.associative):
        items = gather(p, obj, root)
        return None if items is None else fold(items, op)
    rel = (p.rank - root) % p.size
    acc = private_copy(obj)
    mask = 1
    while mask < p.size:
        if rel & mask:
            p.send((p.rank - mask) % p.size, acc)
            return None
        if rel + mask < p.size:
            acc = op.accumulate(acc, p.recv((p.rank + mask) % p.size), acc_is_left=True)
        mask <<= 1
    return acc


def fold(items: list[Any], op: ReduceOp) -> Any:
    acc = items[0]
    for item in items[1:]:
        acc = op.apply(acc, item)
    return acc


def allreduce(p: PointToPoint, obj: Any, op: ReduceOp) -> Any:
    if p.size == 1:
        return private_copy(obj)
    if not op.associative:
        return bcast(p, reduce(p, obj, op, 0), 0)
    pof2 = 1 << (p.size.bit_length() - 1)
    rem = p.size - pof2
    if rem == 0 and _rabenseifner_fits(obj, op, pof2):
        out = np.empty_like(obj)  # no private copy: the first step reads `obj` and writes here
        _rabenseifner(p, obj, out, op, p.rank, pof2, rem)
        return out
    acc = private_copy(obj)
    # Fold the first 2*rem ranks pairwise so that a power of two takes part (MPICH's scheme).
    if p.rank < 2 * rem:
        if p.rank % 2 == 0:
            p.send(p.rank + 1, acc)
            newrank = -1
        else:
            acc = op.accumulate(acc, p.recv(p.rank - 1), acc_is_left=False)
            newrank = p.rank // 2
    else:
        newrank = p.rank - rem
    if newrank >= 0:
        if _rabenseifner_fits(acc, op, pof2):
            _rabenseifner(p, acc, acc, op, newrank, pof2, rem)
        else:
            acc = _recursive_doubling(p, acc, op, newrank, pof2, rem)
    if p.rank < 2 * rem:
        if p.rank % 2:
            p.send(p.rank - 1, acc)
        else:
            acc = p.recv(p.rank + 1)
    return acc


def _real_rank(newrank: int, rem: int) -> int:
    return newrank * 2 + 1 if newrank < rem else newrank + rem


def _recursive_doubling(p: PointToPoint, acc: Any, op: ReduceOp, newrank: int, pof2: int, rem: int) -> Any:
    mask = 1
    while mask < pof2:
        partner = _real_rank(newrank ^ mask, rem)
        other = p.sendrecv(partner, acc)
        acc = op.accumulate(acc, other, acc_is_left=partner > p.rank)
        mask <<= 1
    return acc


def _rabenseifner_fits(acc: Any, op: ReduceOp, pof2: int) -> bool:
    return (
        op.ufunc is not None
        and isinstance(acc, np.ndarray)
        and acc.nbytes >= RABENSEIFNER_MIN_BYTES
        and acc.size >= pof2
        and acc.flags.c_contiguous
        and acc.dtype.kind in "biufc"
    )


def _rabenseifner(p: PointToPoint, src: np.ndarray, acc: np.ndarray, op: ReduceOp, newrank: int, pof2: int,
                 rem: int) -> None:
    """Afterwards every participating rank holds the full reduction of the ranks' `src` in `acc` (which
    may be `src` itself). A channel with `sendrecv_reduce` adds each block as it arrives, in cache;
    otherwise the partner's half lands in a scratch array first."""
    flat, read = acc.reshape(-1), src.reshape(-1)
    cuts = [i * flat.size // pof2 for i in range(pof2 + 1)]
    combine = getattr(p, "sendrecv_reduce", None)
    scratch = None if combine else np.empty(cuts[pof2 // 2] + 1 if pof2 > 1 else 1, dtype=flat.dtype)
    lo, hi = 0, pof2  # the block of segments this rank is responsible for
    mask = pof2 >> 1
    while mask > 0:  # reduce-scatter by recursive halving: keep half, send the other half
        partner_new = newrank ^ mask
        mid = (lo + hi) // 2
        keep, give = ((lo, mid), (mid, hi)) if newrank < partner_new else ((mid, hi), (lo, mid))
        mine, out = read[cuts[keep[0]] : cuts[keep[1]]], flat[cuts[keep[0]] : cuts[keep[1]]]
        partner, sending = _real_rank(partner_new, rem), read[cuts[give[0]] : cuts[give[1]]]
        if combine is not None:
            combine(partner, sending, op.ufunc, mine, out)
        else:
            other = p.sendrecv(partner, sending, into=scratch[: mine.size])
            op.ufunc(mine, other, out=out)
        read = flat  # from here on this rank only touches segments it has written into `acc`
        lo, hi = keep
        mask >>= 1
    mask = 1
    while mask < pof2:  # allgather by recursive doubling: swap blocks, receiving in place
        partner_new = newrank ^ mask
        width = hi - lo
        theirs = (hi, hi + width) if newrank < partner_new else (lo - width, lo)
        target = flat[cuts[theirs[0]] : cuts[theirs[1]]]
        got = p.sendrecv(_real_rank(partner_new, rem), flat[cuts[lo] : cuts[hi]], into=target)
        if got is not target:
            target[...] = got  # only when the frame could not land in place
        lo, hi = min(lo, theirs[0]), max(hi, theirs[1])
        mask <<= 1


def scan(p: PointToPoint, obj: Any, op: ReduceOp) -> Any:
    """Inclusive prefix: rank r gets obj_0 op obj_1 op ... op obj_r."""
    if not op.associative:
        acc = obj
        if p.rank > 0:
            acc = op.apply(p.recv(p.rank - 1), obj)
        if p.rank + 1 < p.size:
            p.send(p.rank + 1, acc)
        return private_copy(acc)
    result, partial = private_copy(obj), private_copy(obj)
    mask = 1
    while mask < p.size:
        partner = p.rank ^ mask
        if partner < p.size:
            other = p.sendrecv(partner, partial)
            if partner < p.rank:
                partial = op.apply(other, partial)
                result = op.apply(other, result)
            else:
                partial = op.apply(partial, other)
        mask <<= 1
    return result


def barrier(p: PointToPoint) -> None:
    allreduce(p, 0, SUM)
