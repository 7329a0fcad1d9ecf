"""What the paper's figures draw: legends, captions clear of the ticks, bars that are there."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from reproduce import figures
from reproduce.published import load
from tests.reproduce.test_cli_and_figures import _runs

SPOT = [{"instance_type": "c5n.18xlarge", "zone": f"us-east-1{z}", "price": 1.0 + i / 10} for i, z in enumerate("abc")]


def _draw_all(runs, spot):
    pub = load()
    return {
        "weak_scaling": figures.weak_scaling(pub, runs),
        "openmp_scaling": figures.openmp_scaling(pub, runs),
        "mpi_scaling": figures.mpi_scaling(pub, runs),
        "hybrid_table": figures.hybrid_table(pub, runs),
        "cluster_cost": figures.cluster_cost(pub, runs),
        "spot_prices": figures.spot_prices(pub, spot),
        "resilience": figures.resilience(pub, runs, repeats=3),
        "sgd_cost": figures.sgd_cost(pub),
    }


@pytest.fixture(scope="module", params=["no runs", "with runs"])
def drawn(request):
    runs, spot = ([], []) if request.param == "no runs" else (_runs(), SPOT)
    figs = _draw_all(runs, spot)
    yield request.param, figs
    for fig in figs.values():
        plt.close(fig)


def _tick_label_boxes(fig):
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        if not ax.axison:  # a table's axes draw no ticks
            continue
        for labels, limits, coordinate in ((ax.get_xticklabels(), ax.get_xlim(), 0),
                                           (ax.get_yticklabels(), ax.get_ylim(), 1)):
            low, high = sorted(limits)
            for label in labels:  # matplotlib keeps labels for ticks outside the view; those are not drawn
                if label.get_visible() and label.get_text() and low <= label.get_position()[coordinate] <= high:
                    yield label.get_text(), label.get_window_extent(renderer)


def test_no_figure_text_overlaps_a_tick_label(drawn):
    _, figs = drawn
    for name, fig in figs.items():
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        for text in fig.texts:
            box = text.get_window_extent(renderer)
            for tick, tick_box in _tick_label_boxes(fig):
                assert not box.overlaps(tick_box), f"{name}: {text.get_text()[:40]!r} covers tick {tick!r}"


def test_every_table_cell_holds_its_text(drawn):
    case, figs = drawn
    fig = figs["hybrid_table"]
    assert ("no new runs yet" in fig.axes[0].get_title()) == (case == "no runs")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    (table,) = fig.axes[0].tables
    for (row, col), cell in table.get_celld().items():
        text, box = cell.get_text(), cell.get_window_extent(renderer)
        inner = text.get_window_extent(renderer)
        assert box.x0 <= inner.x0 and inner.x1 <= box.x1, f"cell {row},{col} cuts {text.get_text()!r}"
        assert box.y0 <= inner.y0 and inner.y1 <= box.y1, f"cell {row},{col} overflows {text.get_text()!r}"


def test_sgd_cost_draws_every_service_for_published_and_model(drawn):
    _, figs = drawn
    ax = figs["sgd_cost"].axes[0]
    names = [t.get_text() for t in ax.get_xticklabels()]
    assert "S3" in names
    bars = {c.get_label().split(" ")[0]: c for c in ax.containers}
    for kind in ("published", "model"):
        heights = dict(zip(names, (b.get_height() for b in bars[kind]), strict=True))
        assert all(h > 0 for h in heights.values()), f"{kind}: a bar of zero height is missing on a log axis"


def test_cluster_cost_labels_every_curve_and_explains_the_step(drawn):
    case, figs = drawn
    ax = figs["cluster_cost"].axes[0]
    drawn_lines = [line for line in ax.get_lines() if len(line.get_xdata())]
    unlabelled = [line for line in drawn_lines if line.get_label().startswith("_")]
    assert not unlabelled, f"{len(unlabelled)} curve(s) without a legend entry"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert sum("new runs" in label for label in labels) == (1 if case == "no runs" else 2)
    (note,) = [t for t in ax.texts if "longest job" in t.get_text()]
    assert "order" in note.get_text()  # the model's step is said to come from the job order


def _legend_labels(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


@pytest.mark.parametrize("name", ["weak_scaling", "openmp_scaling", "mpi_scaling", "resilience", "cluster_cost",
                                  "spot_prices", "sgd_cost"])
def test_legends_say_what_is_published_and_what_is_new(drawn, name):
    case, figs = drawn
    labels = _legend_labels(figs[name])
    assert labels and all(("published" in label or "model" in label or "new" in label) for label in labels), labels
    assert any("published" in label for label in labels)
    new = [label for label in labels if "new" in label]
    assert new, labels
    if case == "no runs":  # sgd_cost never has runs and says why
        assert any("none" in label or "no " in label for label in new), new


def test_resilience_says_what_its_bands_are(drawn):
    _, figs = drawn
    ax = figs["resilience"].axes[0]
    bands = [c for c in ax.collections if c.get_label().startswith("model spread")]
    assert bands and "s.d." in bands[0].get_label()
    assert len([c for c in ax.collections if type(c).__name__ in ("PolyCollection", "FillBetweenPolyCollection")]) >= 2
