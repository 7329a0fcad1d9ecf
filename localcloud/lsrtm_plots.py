"""Figures of an LSRTM-SGD run: the final image beside the true reflectivity, and the misfit per iteration."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display needed

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _clip(values: np.ndarray, percentile: float = 98.0) -> float:
    scale = float(np.percentile(np.abs(values), percentile))
    return scale if scale > 0 else 1.0


def plot_image(image: np.ndarray, reflectivity: np.ndarray, extent_km: tuple[float, float, float, float],
               path: Path, title: str) -> Path:
    """Two panels, same axes: the LS-RTM image and the true model perturbation (both x by depth)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True, constrained_layout=True)
    for ax, values, name in ((axes[0], image, title), (axes[1], reflectivity, "true reflectivity (m - m0)")):
        vmax = _clip(values)
        ax.imshow(values.T, cmap="gray", vmin=-vmax, vmax=vmax, aspect="auto", extent=extent_km)
        ax.set_title(name)
        ax.set_xlabel("x (km)")
    axes[0].set_ylabel("depth (km)")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_misfit(misfits: list[float], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 3.5), constrained_layout=True)
    iterations = np.arange(1, len(misfits) + 1)
    ax.plot(iterations, misfits, "o-")
    ax.set_xlabel("SGD iteration")
    ax.set_ylabel("misfit ½‖r‖² dt (batch sum)")
    ax.set_xticks(iterations)
    ax.set_title("LSRTM-SGD misfit")
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
