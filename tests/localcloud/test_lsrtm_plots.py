"""The LS-RTM figure: what is drawn, not only that a PNG exists."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from localcloud.lsrtm_plots import draw_image, draw_misfit, plot_image, reflectivity


def _two_layers() -> tuple[np.ndarray, np.ndarray]:
    """A slow layer over a fast one (m drops at z index 10) and a background without the step."""
    true = np.full((6, 20), 0.25)
    true[:, 10:] = 0.1
    return true, np.full_like(true, 0.2)


def test_reflectivity_marks_the_interface_not_the_filled_layer():
    true, background = _two_layers()
    r = reflectivity(true, background, dz_km=0.0125)
    assert np.all(r[:, 2:8] == 0)  # inside a layer nothing is reflected, although m - m0 is not zero there
    assert np.all(r[:, 12:] == 0)
    assert np.all(r[:, 9:11] < 0)  # faster below: negative, the sign the image gives such an interface


def test_both_panels_have_a_colorbar_and_say_what_they_show(tmp_path):
    true, background = _two_layers()
    fig = draw_image(np.ones_like(true), reflectivity(true, background, 0.0125), (0, 1, 1, 0), "LS-RTM image")
    try:
        image_ax, truth_ax = (ax for ax in fig.axes if ax.images and ax.get_label() != "<colorbar>")
        for ax in (image_ax, truth_ax):
            assert ax.images[0].colorbar is not None, ax.get_title()
        assert "reflectivity" in truth_ax.get_title() and "∂" in truth_ax.get_title()
    finally:
        plt.close(fig)
    path = plot_image(np.ones_like(true), true - background, (0, 1, 1, 0), tmp_path / "i.png", "t")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_the_misfit_plot_shows_each_predicted_misfit_at_the_iteration_that_measures_it():
    fig = draw_misfit([10.0, 6.0, 5.0], predicted=[6.0, 5.0, 4.5])
    try:
        (ax,) = fig.axes
        measured, predicted = ax.get_lines()
        assert list(measured.get_xdata()) == [1, 2, 3] and list(predicted.get_xdata()) == [2, 3, 4]
        assert list(predicted.get_ydata()) == [6.0, 5.0, 4.5]
        assert [t.get_text() for t in ax.get_legend().get_texts()][1] == "predicted after the previous step"
    finally:
        plt.close(fig)
