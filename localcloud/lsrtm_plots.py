"""Figures of an LSRTM-SGD run: the final image beside the true reflectivity, and the misfit per iteration.

`draw_*` return the matplotlib Figure (tests inspect what is drawn); `plot_*` save it to a PNG.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display needed

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

REFLECTIVITY_LABEL = "true reflectivity: ∂(m - m0)/∂z of the true model"


def _clip(values: np.ndarray, percentile: float = 98.0) -> float:
    scale = float(np.percentile(np.abs(values), percentile))
    return scale if scale > 0 else 1.0


def reflectivity(true_m: np.ndarray, background_m: np.ndarray, dz_km: float) -> np.ndarray:
    """What the LS-RTM image estimates: the model's jumps, not its filled change.

    Reflection data carry no information about the long wavelengths of m - m0 (the filled salt body the old
    panel showed); they see the interfaces. The vertical derivative keeps exactly those, with the image's
    sign: a step to a faster layer (m decreases) is negative in both.
    """
    return np.gradient(np.asarray(true_m, dtype=np.float64) - np.asarray(background_m, dtype=np.float64),
                       dz_km, axis=1)


def draw_image(image: np.ndarray, reflectivity_values: np.ndarray,
               extent_km: tuple[float, float, float, float], title: str) -> Figure:
    """Two panels, same axes (x by depth), each with its own colorbar: the units differ."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 4), sharey=True, constrained_layout=True)
    panels = ((axes[0], image, title, "image amplitude (arbitrary units)"),
              (axes[1], reflectivity_values, REFLECTIVITY_LABEL, "∂(m - m0)/∂z  [s²/km³]"))
    for ax, values, name, unit in panels:
        vmax = _clip(values)  # clip the 2 % largest so the weak reflectors stay visible
        shown = ax.imshow(values.T, cmap="gray", vmin=-vmax, vmax=vmax, aspect="auto", extent=extent_km)
        fig.colorbar(shown, ax=ax, label=unit, shrink=0.9)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("x (km)")
    axes[0].set_ylabel("depth (km)")
    return fig


def plot_image(image: np.ndarray, reflectivity_values: np.ndarray, extent_km: tuple[float, float, float, float],
               path: Path, title: str) -> Path:
    fig = draw_image(image, reflectivity_values, extent_km, title)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def draw_misfit(misfits: list[float], predicted: list[float] | None = None) -> Figure:
    """Measured batch misfit per iteration; with the exact step rule also the misfit its line search
    predicted after each step, drawn at the next iteration (where a full batch measures it)."""
    fig, ax = plt.subplots(figsize=(5, 3.5), constrained_layout=True)
    iterations = np.arange(1, len(misfits) + 1)
    ax.plot(iterations, misfits, "o-", label="measured (before the step)")
    ticks = iterations
    if predicted:
        after = np.arange(2, len(predicted) + 2)
        ax.plot(after, predicted, "x", markersize=9, label="predicted after the previous step")
        ticks = np.arange(1, max(len(misfits), len(predicted) + 1) + 1)
        ax.legend()
    ax.set_xlabel("SGD iteration")
    ax.set_ylabel("misfit ½‖r‖² dt (batch sum)")
    ax.set_xticks(ticks)
    ax.set_title("LSRTM-SGD misfit")
    ax.grid(alpha=0.3)
    return fig


def plot_misfit(misfits: list[float], path: Path, predicted: list[float] | None = None) -> Path:
    fig = draw_misfit(misfits, predicted)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
