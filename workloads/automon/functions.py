"""The monitored functions f(global vector), written against an array namespace ``xp``.

With ``xp=numpy`` they serve the centralization coordinator; AutoMon needs gradients and Hessians, so
its path passes ``autograd.numpy`` or ``jax.numpy`` (see :mod:`.automon_backend`) and the same
expressions differentiate.

Two inputs of the original are not shipped here and are replaced by seeded stand-ins, recorded in the
results ("function_params"): the quadratic form's ``H_matrix.txt`` and the DNN's trained weights
``net_params_intrusion.npy`` (a pickled object array, which we do not load). Pass ``--h-matrix FILE``
(text, d x d) or ``--dnn-params FILE.npz`` (arrays ``w0..w5``, ``b0..b5``) to use real ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from .constants import DNN_LAYER_SIZES, DNN_WEIGHTS_SEED, QUADRATIC_H_SEED

MonitoredFunction = Callable[[Any], Any]


@dataclass(frozen=True)
class FunctionSpec:
    func: MonitoredFunction
    params: str  # where the function's parameters came from (for the results)


def seeded_h_matrix(d: int, seed: int = QUADRATIC_H_SEED) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((d, d))


def load_h_matrix(path: Path, d: int) -> np.ndarray:
    h = np.loadtxt(path, ndmin=2)
    if h.shape != (d, d):
        raise ValueError(f"{path}: H has shape {h.shape}, expected ({d}, {d})")
    return h


def seeded_dnn_params(seed: int = DNN_WEIGHTS_SEED) -> list[tuple[np.ndarray, np.ndarray]]:
    """He-initialized weights for the 41-512-64-32-16-8-1 network (untrained)."""
    rng = np.random.default_rng(seed)
    return [(rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_in, n_out)), np.zeros(n_out))
            for n_in, n_out in zip(DNN_LAYER_SIZES[:-1], DNN_LAYER_SIZES[1:], strict=True)]


def load_dnn_params(path: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """Weights from an ``.npz`` with ``w0..w5`` and ``b0..b5`` (no pickles)."""
    with np.load(path, allow_pickle=False) as archive:
        layers = []
        for i, (n_in, n_out) in enumerate(zip(DNN_LAYER_SIZES[:-1], DNN_LAYER_SIZES[1:], strict=True)):
            w, b = archive[f"w{i}"], archive[f"b{i}"]
            if w.shape != (n_in, n_out) or b.shape != (n_out,):
                raise ValueError(f"{path}: layer {i} has shapes {w.shape}, {b.shape}; expected ({n_in}, {n_out})")
            layers.append((w.astype(np.float64), b.astype(np.float64)))
    return layers


def inner_product(xp: ModuleType = np) -> MonitoredFunction:
    def f(x):
        half = x.shape[0] // 2
        return xp.dot(x[:half], x[half:])
    return f


def quadratic(h: np.ndarray, xp: ModuleType = np) -> MonitoredFunction:
    def f(x):
        return xp.dot(x, xp.dot(h, x))
    return f


def kld(window: int, num_nodes: int, xp: ModuleType = np) -> MonitoredFunction:
    """KL(P || Q) of the two concatenated frequency vectors, smoothed by 1 / (window * num_nodes)."""
    eps = 1.0 / (window * num_nodes)

    def f(x):
        half = x.shape[0] // 2
        p, q = x[:half] + eps, x[half:] + eps
        return xp.sum(p * xp.log(p / q))
    return f


def dnn(layers: list[tuple[np.ndarray, np.ndarray]], xp: ModuleType = np) -> MonitoredFunction:
    """Intrusion score: ReLU layers, then a sigmoid output unit."""
    def f(x):
        h = x
        for w, b in layers[:-1]:
            h = xp.maximum(xp.dot(h, w) + b, 0.0)
        w, b = layers[-1]
        return (1.0 / (1.0 + xp.exp(-(xp.dot(h, w) + b))))[0]
    return f


def build(node_type: str, *, d: int, window: int, num_nodes: int, xp: ModuleType = np,
          h_matrix: Path | None = None, dnn_params: Path | None = None) -> FunctionSpec:
    if node_type == "inner_product":
        return FunctionSpec(inner_product(xp), "none")
    if node_type == "quadratic":
        if h_matrix is not None:
            return FunctionSpec(quadratic(load_h_matrix(h_matrix, d), xp), f"H from {h_matrix}")
        return FunctionSpec(quadratic(seeded_h_matrix(d), xp), f"H seeded standard normal (seed {QUADRATIC_H_SEED})")
    if node_type == "kld":
        return FunctionSpec(kld(window, num_nodes, xp), f"epsilon 1/({window}*{num_nodes})")
    if node_type == "dnn":
        if dnn_params is not None:
            return FunctionSpec(dnn(load_dnn_params(dnn_params), xp), f"weights from {dnn_params}")
        return FunctionSpec(dnn(seeded_dnn_params(), xp),
                            f"untrained He-initialized weights (seed {DNN_WEIGHTS_SEED})")
    raise ValueError(f"unknown node type {node_type!r}")
