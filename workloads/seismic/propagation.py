"""Wave propagation for one shot on one model: nonlinear forward, Born and adjoint Born.

A :class:`ShotPropagator` owns the Devito grid, fields and operators of one (model, acquisition,
discretization) and can be applied repeatedly (the dot-product and Taylor tests do). It works
unchanged under Devito's MPI mode: arrays go in with global indexing and results are gathered.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from . import runtime

runtime.configure_environment()

from devito import Function, Grid, SparseTimeFunction, TimeFunction, configuration  # noqa: E402

from .checkpointing import BufferCheckpoint, KernelStepper, run_checkpointed  # noqa: E402
from .discretization import Discretization, damping_profile, pad_edge  # noqa: E402
from .errors import SeismicInputError  # noqa: E402
from .model import Model  # noqa: E402
from .operators import (  # noqa: E402
    IMAGING_CONDITIONS,
    Medium,
    build_adjoint_operator,
    build_forward_operator,
    first_derivative_order,
    snapshot_function,
)
from .storage import StoragePlan  # noqa: E402
from .wavelet import Ricker  # noqa: E402

__all__ = ["ShotPropagator"]


class ShotPropagator:
    """Devito objects and operators for one shot; see :mod:`workloads.seismic.operators` for the maths.

    ``model`` is the (possibly aperture-restricted) model; ``src`` is ``(x, z)`` and ``rec`` ``(nrec, 2)``
    in m; data arrays are ``(disc.nt, nrec)``; images are ``model.shape``.
    """

    def __init__(self, model: Model, src: np.ndarray, rec: np.ndarray, disc: Discretization, wavelet: Ricker,
                 *, imaging: str = "isic") -> None:
        if imaging not in IMAGING_CONDITIONS:
            raise SeismicInputError(f"imaging must be one of {IMAGING_CONDITIONS}, got {imaging!r}")
        self.model, self.disc, self.imaging = model, disc, imaging
        self.timings: dict[str, float] = {}
        self.kernel_points = 0  # grid-point updates performed (for GPts/s)
        nbl, so = disc.nbl, disc.space_order
        m_pad = pad_edge(model.m, nbl)
        hx, hz = model.spacing
        self.padded_shape = (int(m_pad.shape[0]), int(m_pad.shape[1]))
        self.grid = Grid(shape=self.padded_shape,
                         extent=((m_pad.shape[0] - 1) * hx, (m_pad.shape[1] - 1) * hz),
                         origin=(model.origin[0] - nbl * hx, model.origin[1] - nbl * hz), dtype=np.float32)
        self.mpi = bool(configuration["mpi"])
        self.comm = self.grid.distributor.comm if self.mpi else None
        self.rank = self.comm.rank if self.comm is not None else 0
        # m and damp are read point-wise; the small halo is what sparse injection (radius 1) requires.
        m = Function(name="m", grid=self.grid, space_order=2)
        damp = Function(name="damp", grid=self.grid, space_order=2)
        m.data[:] = m_pad
        damp.data[:] = damping_profile(m_pad, nbl, model.spacing)
        self.medium = Medium(self.grid, m, damp, so)

        nt = disc.nt
        # One extra sample: the forward loop runs to t = nt so that u[nt-1] can be snapshotted.
        self.src = SparseTimeFunction(name="src", grid=self.grid, npoint=1, nt=nt + 1,
                                      coordinates=np.asarray(src, dtype=np.float32).reshape(1, 2))
        self.src.data[:] = wavelet.sample(disc.t0_ms + disc.dt_ms * np.arange(nt + 1))[:, None]
        rec = np.asarray(rec, dtype=np.float32)
        self.nrec = rec.shape[0]
        self.rec = SparseTimeFunction(name="rec", grid=self.grid, npoint=self.nrec, nt=nt + 1, coordinates=rec)
        self.drec = SparseTimeFunction(name="drec", grid=self.grid, npoint=self.nrec, nt=nt + 1, coordinates=rec)
        self.adj_src = SparseTimeFunction(name="ysrc", grid=self.grid, npoint=self.nrec, nt=nt + 1,
                                          coordinates=rec)
        self.u = TimeFunction(name="u", grid=self.grid, time_order=2, space_order=so)
        self.du = TimeFunction(name="du", grid=self.grid, time_order=2, space_order=so)
        self.v = TimeFunction(name="v", grid=self.grid, time_order=2, space_order=so)
        self.dm = Function(name="dm", grid=self.grid, space_order=first_derivative_order(so))
        self.grad = Function(name="grad", grid=self.grid, space_order=0)
        self.snapshots: TimeFunction | None = None
        self.checkpoint_stats: dict[str, int] = {}
        self._ops: dict[tuple, object] = {}

    # --- helpers --------------------------------------------------------------------------------------
    @contextmanager
    def _timed(self, key: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[key] = self.timings.get(key, 0.0) + time.perf_counter() - start

    def _operator(self, key: tuple, build):
        """Build (symbolic lowering) and JIT-compile an operator once; compiled code is cached on disk."""
        if key not in self._ops:
            with self._timed("build"):
                built = build()
            op = built[0] if isinstance(built, tuple) else built
            with self._timed("compile"):
                op.cfunction  # noqa: B018  (forces the JIT compile now so it is timed apart)
            self._ops[key] = built
        return self._ops[key]

    def _gather_traces(self, f: SparseTimeFunction) -> np.ndarray:
        """All receivers' traces ``(nt, nrec)`` on every rank."""
        if not self.mpi:
            return np.array(f.data[: self.disc.nt])
        full = f.data_gather(rank=0)
        full = self.comm.bcast(None if full is None else np.asarray(full), root=0)
        return full[: self.disc.nt]

    def _gather_image(self, f: Function) -> np.ndarray | None:
        """The image on the unpadded model, on rank 0 (None elsewhere under MPI)."""
        full = np.asarray(f.data) if not self.mpi else f.data_gather(rank=0)
        if full is None or (self.mpi and self.rank != 0):
            return None
        nbl = self.disc.nbl
        nx, nz = self.model.shape
        return np.array(full[nbl:nbl + nx, nbl:nbl + nz], dtype=np.float32)

    def _set_image(self, f: Function, image: np.ndarray) -> None:
        nbl = self.disc.nbl
        padded = np.zeros(self.padded_shape, dtype=np.float32)  # zero in the absorbing layer
        padded[nbl:nbl + self.model.shape[0], nbl:nbl + self.model.shape[1]] = image
        f.data[:] = padded

    @staticmethod
    def _zero(*functions) -> None:
        for f in functions:
            f.data_with_halo[:] = 0

    def _points(self, n_fields: int, n_steps: int) -> None:
        self.kernel_points += n_fields * n_steps * self.padded_shape[0] * self.padded_shape[1]

    # --- propagation ----------------------------------------------------------------------------------
    def forward(self) -> np.ndarray:
        """Nonlinear modelling: receiver data ``(nt, nrec)`` of the source wavelet in this model."""
        op = self._operator(("forward",), lambda: build_forward_operator(
            self.medium, self.u, self.src, rec=self.rec))
        self._zero(self.u)
        self.rec.data[:] = 0
        with self._timed("forward"):
            op.apply(time_m=0, time_M=self.disc.nt, dt=self.disc.dt_ms)
        self._points(1, self.disc.nt + 1)
        return self._gather_traces(self.rec)

    def born(self, dm: np.ndarray | None, plan: StoragePlan | None = None) -> np.ndarray | None:
        """Born data ``J dm`` (``None`` when ``dm`` is None), keeping forward snapshots as ``plan`` says.

        With a ``full``/``subsampled`` plan this pass also records the snapshots the next :meth:`adjoint`
        uses; with ``checkpointing`` (or no plan) nothing is kept and ``dm=None`` is a no-op.
        """
        keep = plan is not None and plan.mode in ("full", "subsampled")
        if dm is None and not keep:
            return None
        if keep:
            self.snapshots = None  # release a previous buffer before allocating the new one
            self.snapshots = snapshot_function(self.medium, plan.n_snapshots, plan.factor, self.imaging)
        key = ("born" if dm is not None else "forward", keep and plan.factor)
        born_fields = (self.du, self.dm, self.drec) if dm is not None else None
        op = self._operator(key, lambda: build_forward_operator(
            self.medium, self.u, self.src, born=born_fields, imaging=self.imaging,
            snapshots=self.snapshots if keep else None))
        self._zero(self.u, self.du)
        self.drec.data[:] = 0
        if dm is not None:
            self._set_image(self.dm, dm)
        args = {"time_m": 0, "time_M": self.disc.nt, "dt": self.disc.dt_ms}
        if keep:
            args["usave"] = self.snapshots
        with self._timed("born" if dm is not None else "forward"):
            op.apply(**args)
        self._points(2 if dm is not None else 1, self.disc.nt + 1)
        return self._gather_traces(self.drec) if dm is not None else None

    def adjoint(self, residual: np.ndarray, plan: StoragePlan) -> np.ndarray | None:
        """``J' residual`` on the model grid (rank 0; None on other ranks).

        For ``full``/``subsampled`` plans :meth:`born` must have run with the same plan just before.
        """
        nt = self.disc.nt
        residual = np.asarray(residual, dtype=np.float32)
        if residual.shape != (nt, self.nrec):
            raise SeismicInputError(f"residual must have shape {(nt, self.nrec)}, got {residual.shape}")
        shifted = np.zeros((nt + 1, self.nrec), dtype=np.float32)
        shifted[1:] = residual  # the adjoint iteration t injects y[t-1]
        self.adj_src.data[:] = shifted
        self._zero(self.v, self.grad)
        if plan.mode == "checkpointing":
            self._adjoint_checkpointed(plan)
        else:
            if self.snapshots is None or self.snapshots.shape[0] != plan.n_snapshots:
                raise SeismicInputError("adjoint() with stored snapshots needs born() with the same plan first")
            op, weight = self._operator(("adjoint", plan.factor), lambda: build_adjoint_operator(
                self.medium, self.v, self.adj_src, self.grad, self.snapshots, self.imaging))
            weight.data = float(plan.factor)
            with self._timed("adjoint"):
                op.apply(time_m=1, time_M=nt, dt=self.disc.dt_ms, usave=self.snapshots)
            self._points(1, nt)
            self.snapshots = None
        return self._gather_image(self.grad)

    def _adjoint_checkpointed(self, plan: StoragePlan) -> None:
        nt, dt = self.disc.nt, self.disc.dt_ms
        fwd_op = self._operator(("forward", False), lambda: build_forward_operator(
            self.medium, self.u, self.src, imaging=self.imaging))
        rev_op, weight = self._operator(("adjoint", "checkpointing"), lambda: build_adjoint_operator(
            self.medium, self.v, self.adj_src, self.grad, self.u.backward, self.imaging))
        weight.data = 1.0
        self._zero(self.u)
        n_steps = nt + 1
        with self._timed("checkpointed_adjoint"):
            forward = KernelStepper(fwd_op, time_m=0, time_M=nt, dt=dt)
            reverse = KernelStepper(rev_op, time_m=0, time_M=nt, dt=dt)
            calls = run_checkpointed(forward, reverse, BufferCheckpoint(self.u),
                                     min(plan.n_snapshots, n_steps), n_steps)
        self.checkpoint_stats = calls
        self._points(1, calls["forward_steps"] + calls["reverse_steps"])
