"""MPI entry point: one shot's gradient with the domain decomposed across ranks, gathered on rank 0.

    DEVITO_MPI=1 mpiexec -n 2 python -m workloads.seismic.mpi_gradient \\
        --model background.npz --shot shot.segy --out gradient.npy [--image image.npy] [options]

``DEVITO_MPI`` defaults to 1 here. Every rank reads the inputs and runs the same operators on its part
of the grid (Devito exchanges halos); the gradient is gathered on rank 0, which writes ``--out`` and
prints one JSON line with the misfit, storage mode and timings. ``--direction G.npy`` also runs the exact
line search's Born modelling of that direction with the pass's residual and prints ``c1`` and ``c2``. Each rank gets its own cores for its
OpenMP threads (see ``runtime``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path


def _prepare_environment() -> None:  # must run before anything imports Devito
    os.environ.setdefault("DEVITO_MPI", "1")
    # Devito compiles MPI kernels with ``mpicc``; the PyPI MPICH puts it next to the interpreter.
    venv_bin = Path(sys.executable).parent
    if shutil.which("mpicc") is None and (venv_bin / "mpicc").exists():
        os.environ["PATH"] = f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m workloads.seismic.mpi_gradient", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, type=Path, help="background model (.npz from Model.save_npz)")
    p.add_argument("--shot", required=True, type=Path, help="shot record (SEG-Y)")
    p.add_argument("--out", required=True, type=Path, help="where rank 0 writes the gradient (.npy)")
    p.add_argument("--image", type=Path, help="current image (.npy, model shape); omitted = first iteration")
    p.add_argument("--peak-frequency-hz", type=float, default=20.0, help="Ricker peak frequency of the source")
    p.add_argument("--storage", default="auto", choices=["auto", "subsampled", "full", "checkpointing"])
    p.add_argument("--subsampling-factor", type=int)
    p.add_argument("--memory-budget-bytes", type=int)
    p.add_argument("--imaging", default="isic", choices=["isic", "xcorr"])
    p.add_argument("--space-order", type=int, default=8)
    p.add_argument("--absorbing-layer", type=int, default=40)
    p.add_argument("--aperture-buffer-m", type=float, default=5000.0, help="negative = whole model")
    p.add_argument("--dt-ms", type=float)
    p.add_argument("--direction", type=Path, help="also compute the line-search terms c1, c2 along it (.npy)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    _prepare_environment()
    import numpy as np
    from mpi4py import MPI  # initialises MPI before Devito looks at it

    from . import Model, Ricker, compute_gradient, read_shot

    comm = MPI.COMM_WORLD
    model = Model.load_npz(args.model)
    shot = read_shot(args.shot, wavelet=Ricker(args.peak_frequency_hz))
    image = np.load(args.image) if args.image else None
    operator = {"space_order": args.space_order, "imaging": args.imaging, "absorbing_layer": args.absorbing_layer,
                "dt_ms": args.dt_ms, "aperture_buffer_m": None if args.aperture_buffer_m < 0 else args.aperture_buffer_m}
    result = compute_gradient(
        model, shot, image, storage=args.storage, memory_budget_bytes=args.memory_budget_bytes,
        subsampling_factor=args.subsampling_factor, **operator)
    line_search = {}
    if args.direction:
        from .curvature import born_curvature

        c1, c2 = born_curvature(model, shot, np.load(args.direction), result.residual, **operator)
        line_search = {"c1": c1, "c2": c2}
    if comm.rank == 0:
        np.save(args.out, result.gradient)
        print(json.dumps({"misfit": result.misfit, "storage": result.storage, "ranks": comm.size,
                          "timings": result.timings, "dt_ms": result.details["dt_ms"], **line_search}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
