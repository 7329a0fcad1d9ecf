"""The AutoMon, cosmicai and hybrid Ray figures: what is drawn is what was given, and each series says
whether it is published, a model or a new run (small synthetic results; no run starts)."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np
import pytest

from localcloud import automon_plots, cosmic_plots, ray_plots
from localcloud.figure_style import MODEL, NEW_RUN, PUBLISHED, caption_of, kind_of
from workloads.automon import published as automon_pub
from workloads.cosmic import published as cosmic_pub
from workloads.hybrid_ray import published as ray_pub


@pytest.fixture
def close():
    figures = []
    yield figures.append
    for fig in figures:
        plt.close(fig)


def legend_kinds(fig) -> dict[str, str]:
    """label -> kind of every legend entry of the figure."""
    labels = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    return {text: kind_of(text) for text in labels}


def lines(ax, gid: str):
    """The series drawn as `gid`, without the caps of error bars (which carry no legend label)."""
    return [line for line in ax.get_lines() if line.get_gid() == gid and not line.get_label().startswith("_")]


def assert_caption_names_all_kinds(fig) -> None:
    text = caption_of(fig)
    assert text is not None
    for kind in (PUBLISHED, MODEL, NEW_RUN):
        assert f"{kind}:" in text, kind


# --- AutoMon -------------------------------------------------------------------------------------------
def coordinator_doc(algorithm: str, error_bound, by_kind_sent: dict, by_kind_received: dict) -> dict:
    def direction(kinds):
        return {"by_kind": {k: {"messages": m, "bytes": b, "zmtp_bytes": b + 2 * m} for k, (m, b) in kinds.items()}}
    return {"schema": "automon.coordinator/v2",
            "run": {"node_type": "inner_product", "algorithm": algorithm, "error_bound": error_bound, "num_nodes": 4,
                    "iterations": 50, "window": 20},
            "traffic": {"sent": direction(by_kind_sent), "received": direction(by_kind_received)}}


def test_automon_counts_leave_out_our_control_frames(tmp_path):
    doc = coordinator_doc("automon", 0.8, {"SYNC": (7, 3000), "start": (4, 20), "bye": (4, 12)},
                          {"VIOLATION": (5, 1500), "ready": (4, 20), "done": (4, 16), "bye_ack": (4, 28)})
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "coordinator.json").write_text(json.dumps(doc))
    (run,), _ = automon_plots.load(tmp_path)
    assert (run.messages, run.bytes) == (12, 4500)
    assert (run.algorithm, run.error_bound, run.num_nodes) == ("automon", 0.8, 4)


def automon_runs():
    make = automon_plots.AutomonTraffic
    return [make("inner_product", "automon", 0.8, 4, 50, 20, messages=123, bytes=45_678),
            make("inner_product", "centralization", None, 4, 50, 20, messages=1_000, bytes=300_000),
            make("inner_product", "automon", 0.02, 4, 50, 20, messages=700, bytes=330_000)]


def test_automon_bars_and_reductions_are_the_numbers_given(close):
    fig = automon_plots.draw_traffic(automon_runs(), where="a test machine")
    close(fig)
    ax_m, ax_b, ax_r = fig.axes
    # bars: centralization first, then AutoMon by error bound
    assert [p.get_height() for p in ax_m.patches if p.get_gid() == "messages"] == [1_000, 700, 123]
    assert [p.get_height() for p in ax_b.patches if p.get_gid() == "bytes"] == [300_000, 330_000, 45_678]
    (ours,) = lines(ax_r, NEW_RUN)
    assert list(ours.get_xdata()) == [0.02, 0.8]
    np.testing.assert_allclose(ours.get_ydata(), [100 * (1 - 330_000 / 300_000), 100 * (1 - 45_678 / 300_000)])
    (paper,) = lines(ax_r, PUBLISHED)
    published = automon_pub.REDUCTIONS["inner_product"]
    assert list(paper.get_xdata()) == list(published.error_bounds)
    np.testing.assert_allclose(paper.get_ydata(), [100 * v for v in published.traffic_reduction])


def test_automon_legend_tells_published_from_new_runs_and_the_caption_cites_the_paper(close):
    fig = automon_plots.draw_traffic(automon_runs(), where="a test machine")
    close(fig)
    kinds = set(legend_kinds(fig).values())
    assert {PUBLISHED, NEW_RUN} <= kinds and None not in kinds
    assert_caption_names_all_kinds(fig)
    assert automon_pub.CITATION.title in caption_of(fig) and "a test machine" in caption_of(fig)


def test_automon_without_automon_runs_says_why_in_the_legend(close):
    only_baseline = [r for r in automon_runs() if r.algorithm == "centralization"]
    fig = automon_plots.draw_traffic(only_baseline, note="package not installed")
    close(fig)
    assert any("none (package not installed)" in text and kind == NEW_RUN for text, kind in legend_kinds(fig).items())


def test_automon_load_refuses_what_is_not_a_result(tmp_path):
    (tmp_path / "x.json").write_text('{"hello": 1}')
    with pytest.raises(ValueError, match="is not an AutoMon result"):
        automon_plots.load(tmp_path / "x.json")
    with pytest.raises(ValueError, match="holds no coordinator.json"):
        automon_plots.load(tmp_path)


# --- cosmicai ------------------------------------------------------------------------------------------
def cosmic_points():
    return [cosmic_plots.CosmicPoint(n, 512, rate, random_weights=True, machine="test CPU, 2 cores", cores=2)
            for n, rate in ((4, 410.0), (1, 150.0), (2, 290.0))]


def test_cosmic_points_model_and_published_curve_are_the_numbers_given(close):
    fig = cosmic_plots.draw_throughput(cosmic_points())
    close(fig)
    (ax,) = fig.axes
    (ours,) = lines(ax, NEW_RUN)
    assert list(ours.get_xdata()) == [1, 2, 4]
    assert list(ours.get_ydata()) == [150.0, 290.0, 410.0]
    (model,) = lines(ax, MODEL)
    np.testing.assert_allclose(model.get_ydata(), 150.0 * np.asarray(model.get_xdata()))  # from the 1-rank point
    paper = sorted((float(line.get_xdata()[0]), float(line.get_ydata()[0])) for line in lines(ax, PUBLISHED))
    assert paper == sorted((p.ranks, p.samples_per_s) for p in cosmic_pub.POINTS)


def test_cosmic_legend_names_the_machine_and_the_weights(close):
    fig = cosmic_plots.draw_throughput(cosmic_points())
    close(fig)
    kinds = legend_kinds(fig)
    assert {PUBLISHED, MODEL, NEW_RUN} <= set(kinds.values())
    (local,) = [text for text, kind in kinds.items() if kind == NEW_RUN and text.startswith("local")]
    assert "test CPU, 2 cores" in local and "random weights" in local
    assert_caption_names_all_kinds(fig)


def test_the_papers_bits_become_samples_at_the_size_of_our_samples_image():
    """The paper counts input-image bits; a sample of our workload has the same image tensor."""
    from workloads.cosmic.dataset import synthetic_dataset

    images = synthetic_dataset(1).images
    assert cosmic_pub.BITS_PER_SAMPLE == images[0].numel() * images.element_size() * 8
    (peak,) = [p for p in cosmic_pub.POINTS if p.ranks == 517]
    assert peak.samples_per_s == pytest.approx(18.04e9 / cosmic_pub.BITS_PER_SAMPLE)


def test_cosmic_loads_a_local_runs_json(tmp_path):
    doc = {"experiment": "cosmic", "status": "SUCCEEDED", "weights": "random weights (random-init seed 0)",
           "output": {"world_size": 3, "samples": 96, "throughput": {"samples_per_s": 123.5}}}
    (tmp_path / "run.json").write_text(json.dumps(doc))
    (point,) = cosmic_plots.load(tmp_path / "run.json")
    assert (point.world_size, point.samples, point.samples_per_s, point.random_weights) == (3, 96, 123.5, True)


# --- hybrid Ray ----------------------------------------------------------------------------------------
METRICS = {"images": 24, "mb_per_image": 6.9, "makespan_ours_s_30mbit": 8.2, "makespan_default_s_30mbit": 9.6,
           "makespan_bound_s_30mbit": 7.6, "makespan_ours_s_200mbit": 5.6, "makespan_default_s_200mbit": 6.8,
           "makespan_bound_s_200mbit": 5.2, "makespan_30mbit_ratio": 0.85}


def test_ray_makespans_bound_and_published_band_are_the_numbers_given(close):
    fig = ray_plots.draw_makespan(ray_plots.from_metrics(METRICS, machine="test CPU"))
    close(fig)
    ax, ax_r = fig.axes[:2]
    ours, default = lines(ax, NEW_RUN)[::-1]  # drawn: default, then ours
    assert list(default.get_ydata()) == [9.6, 6.8] and list(ours.get_ydata()) == [8.2, 5.6]
    assert list(ours.get_xdata()) == [30, 200]
    (bound,) = lines(ax, MODEL)
    assert list(bound.get_ydata()) == [7.6, 5.2]
    (band,) = [c for c in ax.collections if c.get_gid() == PUBLISHED]
    ys = band.get_paths()[0].vertices[:, 1]
    np.testing.assert_allclose([ys.min(), ys.max()], [(1 - ray_pub.UP_TO_IMPROVEMENT) * 6.8, 9.6])
    (ratio,) = lines(ax_r, NEW_RUN)
    np.testing.assert_allclose(ratio.get_ydata(), [8.2 / 9.6, 5.6 / 6.8])


def test_ray_legend_has_all_three_kinds_and_a_caption(close):
    fig = ray_plots.draw_makespan(ray_plots.from_metrics(METRICS, machine="test CPU"))
    close(fig)
    kinds = legend_kinds(fig)
    assert {PUBLISHED, MODEL, NEW_RUN} <= set(kinds.values())
    assert any("20%" in text for text, kind in kinds.items() if kind == PUBLISHED)
    assert_caption_names_all_kinds(fig)
    assert "test CPU" in caption_of(fig)


def test_ray_loads_the_benchmarks_last_line_after_its_progress(tmp_path):
    log = tmp_path / "bench.txt"
    log.write_text("writing 24 images ...\n  30 Mbit/s ours makespan 8.2 s\n"
                   + json.dumps({"benchmark": "hybrid_scheduler", "metrics": METRICS}) + "\n")
    run = ray_plots.load(log)
    assert [(p.wan_mbit, p.ours_s, p.default_s, p.bound_s) for p in run.points] == [
        (30, 8.2, 9.6, 7.6), (200, 5.6, 6.8, 5.2)]
    (tmp_path / "other.json").write_text(json.dumps({"benchmark": "allreduce", "metrics": {}}))
    with pytest.raises(ValueError, match="holds no result of benchmarks/hybrid_scheduler.py"):
        ray_plots.load(tmp_path / "other.json")
