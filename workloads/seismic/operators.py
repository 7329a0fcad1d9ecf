"""Devito operators of the 2-D acoustic scheme: forward, Born (linearised) and adjoint Born.

The operators are built so that the adjoint is the exact transpose of the Born operator (up to float32
rounding), which the dot-product test checks. Discrete system, time index ``n``, ``A = m + η dt/2`` and
``B = m - η dt/2``::

    forward   A u[n+1] = (dt² L + 2m) u[n] - B u[n-1] + dt² Ps' q[n]            data d[n] = Pr u[n]
    Born      A δu[n+1] = (dt² L + 2m) δu[n] - B δu[n-1] + s[n],  s[n] = -δm (u[n+1] - 2u[n] + u[n-1])
    adjoint   A w[k] = (dt² L + 2m) w[k+1] - B w[k+2] + Pr' y[k]                (run backwards)
    gradient  g = -Σ_j u[j] (w[j] - 2w[j+1] + w[j+2])

With the inverse-scattering imaging condition (ISIC) the Born source becomes
``s[n] = -δm m D2u[n] + dt² Σ_d ∂_d(δm ∂_d u[n])`` and the image
``g = -Σ_j (m u[j] D2w[j+1] + dt² ∇u[j]·∇w[j+1])``, with first derivatives of half the space order.

Time bookkeeping (Devito iteration ``t``): the forward iteration ``t`` computes ``u[t+1]`` and stores
``u[t-1]`` as a snapshot when ``t`` is a multiple of the snapshot factor; the adjoint iteration ``t``
computes ``w[t-1]``, injects ``y[t-1]`` (the adjoint source array is shifted by one sample) and images
with ``u[t-1]`` and ``D2w`` centred at ``t``. Time spacing and grid spacing are runtime arguments, so
one compiled kernel serves every model size and time step.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import runtime

runtime.configure_environment()

from devito import (  # noqa: E402  (Devito must be imported after the environment is set)
    ConditionalDimension,
    Constant,
    Eq,
    Function,
    Grid,
    Inc,
    Operator,
    SparseTimeFunction,
    TimeFunction,
    centered,
)

__all__ = ["Medium", "first_derivative_order", "build_forward_operator", "build_adjoint_operator",
           "snapshot_function", "IMAGING_CONDITIONS"]

IMAGING_CONDITIONS = ("isic", "xcorr")


def first_derivative_order(space_order: int) -> int:
    """Even order of the first derivatives in the ISIC terms: half the space order, at least 2."""
    return max(2, 2 * (space_order // 4))


def _d(field, axis: str, order: int):
    """Centred first derivative. Devito turns an order-2 first derivative with no side into a one-sided
    difference, whose transpose is not its negative: the Born scatter term and the ISIC image term are an
    adjoint pair only if both use an antisymmetric (centred) stencil."""
    return getattr(field, axis)(fd_order=order, side=centered)


@dataclass
class Medium:
    """Devito grid and medium parameters on the padded model."""

    grid: Grid
    m: Function
    damp: Function
    space_order: int

    @property
    def dt(self):  # the symbolic time step (a runtime argument named ``dt``)
        return self.grid.stepping_dim.spacing

    @property
    def a(self):
        return self.m + self.damp * self.dt / 2

    @property
    def b(self):
        return self.m - self.damp * self.dt / 2


def _time_step(field: TimeFunction, medium: Medium, *, forward: bool, source=0) -> Eq:
    """The update of the next time level of ``field`` (forward in time, or backward for the adjoint)."""
    nxt, prv = (field.forward, field.backward) if forward else (field.backward, field.forward)
    dt, m = medium.dt, medium.m
    return Eq(nxt, (dt**2 * field.laplace + 2 * m * field - medium.b * prv + source) / medium.a)


def _second_difference(field: TimeFunction):
    return field.forward - 2 * field + field.backward


def _born_source(u: TimeFunction, dm: Function, medium: Medium, imaging: str):
    if imaging == "xcorr":
        return -dm * _second_difference(u)
    k = first_derivative_order(medium.space_order)
    dt = medium.dt
    scatter = _d(dm * _d(u, "dx", k), "dx", k) + _d(dm * _d(u, "dy", k), "dy", k)
    return -dm * medium.m * _second_difference(u) + dt**2 * scatter


def _image_increment(grad: Function, snap, v: TimeFunction, medium: Medium, imaging: str, weight) -> Inc:
    d2v = _second_difference(v)
    if imaging == "xcorr":
        return Inc(grad, -weight * snap * d2v)
    k = first_derivative_order(medium.space_order)
    dot = _d(snap, "dx", k) * _d(v, "dx", k) + _d(snap, "dy", k) * _d(v, "dy", k)
    return Inc(grad, -weight * (medium.m * snap * d2v + medium.dt**2 * dot))


def snapshot_function(medium: Medium, nsnap: int, factor: int, imaging: str) -> TimeFunction:
    """Snapshot buffer ``usave[k] = u[k·factor - 1]``; it keeps a halo only when ISIC needs derivatives."""
    time = medium.grid.time_dim
    tsub = ConditionalDimension(name="tsub", parent=time, factor=factor)
    halo = first_derivative_order(medium.space_order) if imaging == "isic" else 0
    return TimeFunction(name="usave", grid=medium.grid, time_order=0, space_order=halo, save=nsnap,
                        time_dim=tsub)


def build_forward_operator(medium: Medium, u: TimeFunction, src: SparseTimeFunction, *,
                           rec: SparseTimeFunction | None = None,
                           born: tuple[TimeFunction, Function, SparseTimeFunction] | None = None,
                           imaging: str = "isic", snapshots: TimeFunction | None = None) -> Operator:
    """Forward propagation of ``u`` from ``src``; optionally the Born field ``(du, dm, drec)``, receiver
    data ``rec`` from ``u`` and snapshots of ``u``."""
    dt = medium.dt
    eqs = [_time_step(u, medium, forward=True)]
    # The injection must precede the Born update: the Born source reads the new u[n+1] including it.
    eqs += src.inject(field=u.forward, expr=src * dt**2 / medium.a)
    if born is not None:
        du, dm, drec = born
        eqs.append(_time_step(du, medium, forward=True, source=_born_source(u, dm, medium, imaging)))
        eqs += drec.interpolate(expr=du)
    if rec is not None:
        eqs += rec.interpolate(expr=u)
    if snapshots is not None:
        eqs.append(Eq(snapshots, u.backward))
    return Operator(eqs, name="born" if born is not None else "forward")


def build_adjoint_operator(medium: Medium, v: TimeFunction, adj_src: SparseTimeFunction, grad: Function,
                           snapshot, imaging: str) -> tuple[Operator, Constant]:
    """Backward propagation of ``v`` from ``adj_src`` with imaging against ``snapshot``.

    ``snapshot`` is the subsampled ``usave`` or, for checkpointing, ``u.backward`` of the buffered forward
    field. Returns the operator and the imaging weight constant (the snapshot factor, set at apply time).
    """
    weight = Constant(name="imgw", value=1.0, dtype=medium.grid.dtype)
    eqs = [_time_step(v, medium, forward=False)]
    eqs += adj_src.inject(field=v.backward, expr=adj_src / medium.a)
    eqs.append(_image_increment(grad, snapshot, v, medium, imaging, weight))
    return Operator(eqs, name="adjoint_born"), weight
