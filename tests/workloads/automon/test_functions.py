"""The monitored functions against hand-computed values, and their parameter files."""

from __future__ import annotations

import numpy as np
import pytest

from workloads.automon import functions


def test_inner_product_and_quadratic():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert functions.inner_product()(x) == 1 * 3 + 2 * 4
    h = np.arange(16.0).reshape(4, 4)
    assert functions.quadratic(h)(x) == pytest.approx(x @ h @ x)


def test_kld_is_zero_for_equal_distributions_and_positive_otherwise():
    f = functions.kld(window=200, num_nodes=12)
    assert f(np.array([0.5, 0.5, 0.5, 0.5])) == pytest.approx(0.0, abs=1e-15)
    eps = 1 / 2400
    p, q = np.array([0.9, 0.1]) + eps, np.array([0.2, 0.8]) + eps
    assert f(np.array([0.9, 0.1, 0.2, 0.8])) == pytest.approx(np.sum(p * np.log(p / q)))


def test_dnn_weights_from_npz_and_their_shapes_checked(tmp_path):
    layers = functions.seeded_dnn_params()
    path = tmp_path / "w.npz"
    np.savez(path, **{f"w{i}": w for i, (w, _) in enumerate(layers)}, **{f"b{i}": b for i, (_, b) in enumerate(layers)})
    x = np.random.default_rng(0).random(41)
    assert functions.dnn(functions.load_dnn_params(path))(x) == functions.dnn(layers)(x)
    assert 0.0 < functions.dnn(layers)(x) < 1.0
    np.savez(path, w0=np.zeros((40, 512)))
    with pytest.raises((ValueError, KeyError)):
        functions.load_dnn_params(path)


def test_h_matrix_file_must_be_square_of_size_d(tmp_path):
    path = tmp_path / "H.txt"
    np.savetxt(path, np.eye(3))
    spec = functions.build("quadratic", d=3, window=1, num_nodes=1, h_matrix=path)
    assert spec.func(np.array([1.0, 2.0, 2.0])) == 9.0 and str(path) in spec.params
    with pytest.raises(ValueError, match="expected"):
        functions.build("quadratic", d=4, window=1, num_nodes=1, h_matrix=path)
