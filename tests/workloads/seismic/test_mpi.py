"""One shot's gradient and line-search terms on 2 MPI ranks (Devito's MPI mode) equal the serial result."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from workloads.seismic import compute_gradient, write_shot
from workloads.seismic.curvature import born_curvature

from .conftest import NBL, PEAK_HZ

MPIEXEC = Path(sys.executable).parent / "mpiexec"


@pytest.mark.slow
@pytest.mark.skipif(not MPIEXEC.exists() and shutil.which("mpiexec") is None, reason="no mpiexec")
def test_two_ranks_equal_the_serial_gradient(problem, tmp_path):
    model, shot = problem.background, problem.shot
    model.save_npz(tmp_path / "model.npz")
    write_shot(tmp_path / "shot.segy", shot)
    image = (np.random.default_rng(2).standard_normal(model.shape) * 1e-3).astype(np.float32)
    np.save(tmp_path / "image.npy", image)
    serial = compute_gradient(model, shot, image, storage="subsampled", absorbing_layer=NBL)
    # along the shot's own gradient c1 > 0; the multi-node worker's curvature pass runs the same code
    np.save(tmp_path / "direction.npy", serial.gradient)
    mpiexec = str(MPIEXEC) if MPIEXEC.exists() else shutil.which("mpiexec")
    cmd = [mpiexec, "-n", "2", sys.executable, "-m", "workloads.seismic.mpi_gradient", "--model",
           str(tmp_path / "model.npz"), "--shot", str(tmp_path / "shot.segy"), "--image", str(tmp_path / "image.npy"),
           "--out", str(tmp_path / "gradient.npy"), "--peak-frequency-hz", str(PEAK_HZ), "--storage", "subsampled",
           "--absorbing-layer", str(NBL), "--direction", str(tmp_path / "direction.npy")]
    # After Devito kernels ran in this process, OpenMP has pinned the main thread to one core and children
    # would inherit that mask: give the ranks the whole machine back so each pins to its own core.
    proc = subprocess.run(cmd, cwd=Path(__file__).resolve().parents[3], capture_output=True, text=True, timeout=400,
                          preexec_fn=lambda: os.sched_setaffinity(0, range(os.cpu_count() or 1)))
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["ranks"] == 2

    parallel = np.load(tmp_path / "gradient.npy")
    assert np.abs(serial.gradient).max() > 0
    assert np.linalg.norm(parallel - serial.gradient) <= 1e-5 * np.linalg.norm(serial.gradient)
    assert summary["misfit"] == pytest.approx(serial.misfit, rel=1e-5)
    c1, c2 = born_curvature(model, shot, serial.gradient, serial.residual, absorbing_layer=NBL)
    assert c1 > 0 and c2 > 0 and (summary["c1"], summary["c2"]) == pytest.approx((c1, c2), rel=1e-4)
