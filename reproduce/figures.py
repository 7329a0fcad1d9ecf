"""The paper's figures, each with the published numbers drawn beside new runs (matplotlib, Agg).

Every drawing function takes the published data and the new runs (possibly none) and returns the matplotlib
Figure, so tests can inspect what is drawn; `render_all` writes them as PNGs. New runs come from the
launchers' JSON files (reproduce.timings). Every legend says which entries are published, which are a
model and which are new runs, and says so when there are no new runs yet.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from reproduce import cost as cost_model  # noqa: E402
from reproduce.published import Published  # noqa: E402
from reproduce.resilience import resilience_curve  # noqa: E402
from reproduce.timings import RunTimings  # noqa: E402

NEW = "new runs"


def _caption(fig: Figure, source: str) -> None:
    """The source line, placed under the lowest drawn element: a fixed offset ran into rotated tick labels."""
    renderer = fig.canvas.get_renderer()
    fig.canvas.draw()  # the layout the PNG will have, so tick labels have their final extents
    lowest = min(ax.get_tightbbox(renderer).y0 for ax in fig.axes if ax.get_visible())
    y = fig.transFigure.inverted().transform((0, lowest))[1]
    fig.text(0.01, y - 0.02, f"published: {source}", fontsize=6, color="0.4", ha="left", va="top")


def _save(fig: Figure, out: Path, name: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    fig.savefig(path, dpi=120, bbox_inches="tight")  # "tight" grows the canvas to hold the caption
    plt.close(fig)
    return path


def _none_yet(ax, drawn_any: bool) -> None:
    """A legend entry that says the figure has no new runs yet, so an empty slot is not read as a result."""
    if not drawn_any:
        ax.plot([], [], " ", label=f"{NEW}: none yet")


def _by(runs: list[RunTimings], experiment: str, key: str) -> dict[object, list[RunTimings]]:
    groups: dict[object, list[RunTimings]] = defaultdict(list)
    for r in runs:
        if r.experiment == experiment and r.succeeded:
            groups[r.parameters.get(key)].append(r)
    return dict(sorted(groups.items(), key=lambda kv: str(kv[0]) if kv[0] is None else kv[0]))


def _mean(values) -> float:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else float("nan")


def weak_scaling(pub: Published, runs: list[RunTimings]) -> Figure:
    """Stacked time per batch size: start-up, container, reduction (published left, new right)."""
    w = pub.weak_scaling
    fig, ax = plt.subplots(figsize=(8, 4.5))
    x = np.arange(len(w.instances))
    parts = (("startup", "start-up", "#9ecae1"), ("container", "container", "#3182bd"), ("reduction", "reduction", "#e6550d"))
    bottom = np.zeros(len(x))
    for key, label, color in parts:
        values = np.array(getattr(w, f"{key}_s"), dtype=float)
        ax.bar(x - 0.2, values, 0.38, bottom=bottom, color=color, label=f"{label} (published)")
        bottom += values
    ax.errorbar(x - 0.2, w.job_s, yerr=w.job_ci90_s, fmt="none", ecolor="k", capsize=3,
                label="job, 90 % CI (published)")
    new = _by(runs, "weak", "batchsize")
    if new:
        bottom = np.zeros(len(x))
        for key, label, color in parts:
            values = np.array([_mean(getattr(r, f"{key}_s") for r in new.get(n, [])) for n in w.instances])
            ax.bar(x + 0.2, np.nan_to_num(values), 0.38, bottom=bottom, color=color, hatch="//", edgecolor="k",
                   label=f"{label} ({NEW})")
            bottom += np.nan_to_num(values)
    _none_yet(ax, bool(new))
    ax.set_xticks(x, [str(n) for n in w.instances])
    ax.set_xlabel("batch size (instances, one shot each)")
    ax.set_ylabel("time [s]")
    ax.set_title("Weak scaling: time to one gradient")
    ax.legend(fontsize=7, ncol=2)
    _caption(fig, w.source)
    return fig


def openmp_scaling(pub: Published, runs: list[RunTimings]) -> Figure:
    o = pub.openmp_scaling
    fig, (ax_s, ax_e) = plt.subplots(1, 2, figsize=(10, 4))
    cores = np.array(o.cores, dtype=float)
    for name, times in o.kernel_s.items():
        t = np.array([np.nan if v is None else v for v in times])
        speedup = t[0] / t
        ax_s.plot(cores, speedup, "o-", label=f"{name} (published)")
        ax_e.plot(cores, speedup / cores, "o-", label=f"{name} (published)")
    for ht, group in _by(runs, "openmp", "hyperthreading").items():
        per_threads: dict[int, list[float]] = defaultdict(list)
        for r in group:
            if r.kernel_s is not None:
                per_threads[int(r.parameters["threads"])].append(r.kernel_s)
        if not per_threads:
            continue
        threads = np.array(sorted(per_threads), dtype=float)
        times = np.array([np.mean(per_threads[int(t)]) for t in threads])
        base = times[0] * threads[0]  # speed-up against the smallest count run, scaled to one thread
        label = f"{NEW}, hyper-threading {'on' if ht else 'off'}"
        ax_s.plot(threads, base / times, "s--", label=label)
        ax_e.plot(threads, base / times / threads, "s--", label=label)
    _none_yet(ax_s, any(line.get_label().startswith(NEW) for line in ax_s.get_lines()))
    ax_s.plot(cores, cores, ":", color="0.6", label="ideal (model: speed-up = threads)")
    for ax, ylabel in ((ax_s, "speed-up (kernel)"), (ax_e, "parallel efficiency")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("OpenMP threads")
        ax.set_ylabel(ylabel)
    ax_s.set_yscale("log", base=2)
    ax_s.legend(fontsize=7)
    fig.suptitle("OpenMP strong scaling, one shot on r5.24xlarge")
    _caption(fig, o.source)
    return fig


def mpi_scaling(pub: Published, runs: list[RunTimings]) -> Figure:
    m = pub.mpi_scaling
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for name, times in m.kernel_s.items():
        ax.plot(m.nodes, times, "o-", label=f"{name} (published)")
    groups = _by(runs, "mpi", "instance_type")
    for itype, group in groups.items():
        per_nodes: dict[int, list[float]] = defaultdict(list)
        for r in group:
            if r.kernel_s is not None:
                per_nodes[int(r.parameters["nodes"])].append(r.kernel_s)
        nodes = sorted(per_nodes)
        ax.plot(nodes, [np.mean(per_nodes[n]) for n in nodes], "s--", label=f"{itype} ({NEW})")
    ideal = np.array(m.nodes, dtype=float)
    ax.plot(ideal, m.kernel_s["r5.24xlarge"][0] / ideal, ":", color="0.6",
            label="ideal (model: published 1-node r5.24xlarge time / nodes)")
    _none_yet(ax, bool(groups))
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("nodes")
    ax.set_ylabel("kernel time [s]")
    ax.set_title("MPI strong scaling (multi-node Batch jobs)")
    ax.legend(fontsize=7)
    _caption(fig, m.source)
    return fig


def hybrid_table(pub: Published, runs: list[RunTimings]) -> Figure:
    h = pub.hybrid
    new = _by(runs, "hybrid", "case")
    rows = []
    for c in h.cases:
        mine = new.get(c.case, [])
        rows.append([c.label, f"{c.kernel_s:.1f}", f"{c.script_s:.1f}", f"{c.container_s:.1f}",
                     *(f"{_mean(getattr(r, k) for r in mine):.1f}" if mine else "-"
                       for k in ("kernel_s", "script_s", "container_s"))])
    # two-line headers keep the columns narrow; the width of every column then follows its longest text
    header = ["case", *(f"{part}\n({kind})" for kind in ("published", NEW) for part in ("kernel", "script", "container"))]
    fig, ax = plt.subplots(figsize=(8, 2.4))
    ax.axis("off")
    table = ax.table(cellText=rows, colLabels=header, loc="center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.auto_set_column_width(list(range(len(header))))
    for (row, col), cell in table.get_celld().items():
        cell.set_height(cell.get_height() * (2.6 if row == 0 else 1.4))
        if col == 0 and row > 0:
            cell.set_text_props(ha="left")
            cell.PAD = 0.02
    title = "Hybrid MPI/OpenMP on one r5.24xlarge [s]"
    ax.set_title(title if new else f"{title} (no {NEW} yet)")
    _caption(fig, h.source)
    return fig


def _all_start_at_once(runtimes: list[float], grid, price: float) -> int | None:
    """The smallest cluster size from which the time to solution is the longest job: no job waits any more."""
    longest = max(runtimes)
    waits = [n for n in grid if cost_model.fixed_cluster(runtimes, int(n), price).time_to_solution_s > longest]
    return int(max(waits)) + 1 if waits else None


def cluster_cost(pub: Published, runs: list[RunTimings]) -> Figure:
    """One 100-shot gradient: Batch pays for container time, a fixed cluster for N x time to solution."""
    f = pub.fixed_cluster
    fig, ax = plt.subplots(figsize=(7, 4.8))
    ns = [r.instances for r in f.cluster]
    ax.plot(ns, [r.cost_usd for r in f.cluster], "o", color="C1", label="fixed cluster (published)")
    ax.axhline(f.batch_cost_usd, color="C0", ls="--", label=f"Batch (published ${f.batch_cost_usd:.2f})")
    stand_in = cost_model.runtimes_like(f.shots, f.runtime_sum_s, f.runtime_std_s, f.runtime_min_s,
                                        f.runtime_max_s)
    grid = np.arange(1, f.shots + 1)
    costs = [cost_model.fixed_cluster(stand_in, int(n), f.price_per_hour).cost for n in grid]
    ax.plot(grid, costs, "-", color="C1", alpha=0.5,
            label="cluster model (stand-in runtimes with the published statistics, random order)")
    # The step is no bug of the model: greedy scheduling in job order makes a long job late in the order wait
    # for a free instance until N reaches its position; from there on every job starts at once. Where that
    # happens depends on the order, which the paper does not publish.
    step = _all_start_at_once(stand_in, grid, f.price_per_hour)
    if step is not None:
        ax.annotate(f"N ≥ {step}: no job waits, time = longest job ({max(stand_in):.0f} s).\n"
                    "Below, long jobs late in the order wait for a free\n"
                    "instance; where this step falls depends on the\njob order, which the paper does not publish",
                    xy=(step, costs[step - 1]), xytext=(0.03, 0.97), textcoords="axes fraction", fontsize=7, va="top",
                    arrowprops={"arrowstyle": "->", "color": "0.4"})
    new = [r for r in runs if r.experiment == "cost" and r.succeeded]
    for i, r in enumerate(new):
        times = [j.container_s for j in r.jobs]
        color = f"C{2 + i}"
        ax.axhline(cost_model.batch_cost(times, f.price_per_hour), color=color, label=f"Batch ({NEW}: {r.run_id})")
        ax.plot(grid, [cost_model.fixed_cluster(times, int(n), f.price_per_hour).cost for n in grid], ":",
                color=color, label=f"cluster model with the runtimes of {NEW}: {r.run_id}")
    if not new:
        ax.plot([], [], " ", label=f"{NEW}: none yet")
    ax.set_xlabel("instances in the fixed cluster")
    ax.set_ylabel("cost of one gradient [USD]")
    ax.set_title(f"Batch vs a fixed cluster, {f.shots} shots (m4.4xlarge spot ${f.price_per_hour}/h)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))  # outside: the curves fill the axes
    _caption(fig, f.source)
    return fig


def spot_prices(pub: Published, history: list[dict]) -> Figure:
    """Mean spot price per zone and instance type (from DescribeSpotPriceHistory) with the paper's prices."""
    s = pub.spot_prices
    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    for row in history:
        groups[(row["instance_type"], row["zone"])].append(float(row["price"]))
    types = sorted({t for t, _ in groups} | set(s.price_per_hour))
    all_zones = sorted({z for _, z in groups})  # one colour per zone across all instance types
    labelled: set[str] = set()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for i, itype in enumerate(types):
        zones = sorted(z for t, z in groups if t == itype)
        for j, zone in enumerate(zones):
            prices = groups[(itype, zone)]
            name = zone.replace(zone.rstrip("abcdef"), "zone ")
            ax.bar(i + (j - len(zones) / 2) * 0.12, np.mean(prices), 0.11, yerr=np.std(prices),
                   color=f"C{all_zones.index(zone) % 10}",
                   label=None if zone in labelled else f"{name} (new: collected history, mean ± s.d.)")
            labelled.add(zone)
        if itype in s.price_per_hour:
            p = s.price_per_hour[itype]
            ax.plot([i - 0.45, i + 0.45], [p.spot] * 2, "k--", lw=1)
            ax.plot([i - 0.45, i + 0.45], [p.on_demand] * 2, "r:", lw=1)
    ax.plot([], [], "k--", label="spot price (published)")
    ax.plot([], [], "r:", label="on-demand price (published)")
    if not history:
        ax.plot([], [], " ", label="new: no price history collected yet")
    ax.set_xticks(range(len(types)), types)
    ax.set_yscale("log")
    ax.set_ylabel("USD per instance-hour")
    ax.set_title("Spot price by zone and instance type" + ("" if history else " (no history collected yet)"))
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))  # inside it hid the on-demand lines
    _caption(fig, s.source)
    return fig


def resilience(pub: Published, runs: list[RunTimings], *, penalty_s: float = 60.0,
               failure_rates: tuple[float, ...] = (), repeats: int = 20) -> Figure:
    """The restart-penalty model for both storage modes, the published factors, measured runs."""
    r = pub.resilience
    fractions = np.linspace(0, 0.5, 20)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    key = f"restart_{penalty_s:g}s"
    for ax, (case, mean_s) in zip(axes, r.mean_runtime_s.items(), strict=True):
        for restart, color, label in ((True, "C0", f"restart after {penalty_s:g} s"), (False, "C3", "no restart")):
            curve = resilience_curve(mean_s, fractions, restart=restart, penalty_s=penalty_s, repeats=repeats)
            m, sd = np.array(curve.mean), np.array(curve.std)
            ax.plot(fractions * 100, m, color=color, label=f"model, {label}")
            ax.fill_between(fractions * 100, m - sd, m + sd, color=color, alpha=0.2)
        for series, color in ((key, "C0"), ("no_restart", "C3")):
            for pct, value in zip(r.failure_pct, r.factors[case].get(series, []), strict=False):
                lo, hi = value if isinstance(value, tuple) else (value, value)
                ax.errorbar(pct, (lo + hi) / 2, yerr=(hi - lo) / 2 or None, fmt="D", color=color, mec="k")
        for i, rate in enumerate(failure_rates):
            ax.axvline(rate * 100, color="0.5", ls=":", label=f"failure rates of the {NEW}" if i == 0 else None)
        ax.set_title(f"{case} (failure-free mean {mean_s:g} s)")
        ax.set_xlabel("instances terminated [%]")
    measured = [x for x in runs if x.experiment == "resilience" and x.container_sum_s]
    baseline = [x for x in runs if x.experiment == "cost" and x.last_stopped_at]
    if measured and baseline:
        t0 = _mean(_span(b) for b in baseline)
        axes[0].plot([100 * float(x.parameters["failure_rate"]) for x in measured], [t0 / _span(x) for x in measured],
                     "s", color="C2", mec="k", label=f"{NEW} (vs cost runs)")
    elif measured:  # T(0) comes from the cost campaign; without it the factor cannot be computed
        axes[0].plot([], [], " ", label=f"{NEW}: {len(measured)} not drawn, no cost run gives T(0)")
    else:
        _none_yet(axes[0], False)
    # the bands are the model's run-to-run scatter, not a confidence interval of the published points
    axes[0].fill_between([], [], [], color="0.5", alpha=0.2,
                         label=f"model spread: ±1 s.d. over {repeats} draws of runtimes and failure times")
    axes[0].errorbar([], [], yerr=[], fmt="D", color="0.5", mec="k", label="published (bar: the paper's range)")
    axes[0].set_ylabel("resilience factor T(0) / T(failures)")
    # right of both panels: inside, the legend would hide the curves' start at 1.0
    axes[1].legend(*axes[0].get_legend_handles_labels(), fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    _caption(fig, r.source)
    return fig


def _span(run: RunTimings) -> float:
    """First container start to last container stop."""
    starts = [j.started_at for j in run.jobs if j.started_at]
    return (run.last_stopped_at - min(starts)).total_seconds()


S3_PER_SHOT = {"GET": 3, "PUT": 1}  # a worker reads the model and its shot and writes a gradient; the reducer
# reads that gradient; the reducer's one model write per iteration is counted in the PUTs as well


def sgd_cost(pub: Published, *, lambda_mean_duration_s: float = 0.1) -> Figure:
    """Cost of the full LS-RTM run: published breakdown beside the model's (log scale).

    The paper gives no S3 request counts, so the model counts the requests the workflow makes (S3_PER_SHOT).
    """
    s = pub.sgd_cost
    shots = s.iterations * s.batchsize
    run = cost_model.SgdRun(
        iterations=s.iterations, batchsize=s.batchsize, container_s=s.container_s,
        lambda_invocations=s.lambda_invocations, lambda_memory_mb=s.lambda_memory_mb,
        lambda_mean_duration_s=lambda_mean_duration_s,
        state_transitions=cost_model.seed_state_transitions(s.iterations, wait_polls=600),
        sqs_requests=s.lambda_invocations + s.iterations * s.batchsize,
        s3_gets=S3_PER_SHOT["GET"] * shots, s3_puts=S3_PER_SHOT["PUT"] * shots + s.iterations,
    )
    model = run.breakdown(s.price_per_hour.on_demand, s.price_per_hour.spot)
    names = list(model)
    fig, ax = plt.subplots(figsize=(8, 4))
    x = np.arange(len(names))
    ax.bar(x - 0.2, [s.cost_usd[n] for n in names], 0.38, label="published")
    ax.bar(x + 0.2, [model[n] for n in names], 0.38,
           label=f"model (Lambda {lambda_mean_duration_s * 1000:g} ms; S3 {S3_PER_SHOT['GET']} GETs, "
                 f"{S3_PER_SHOT['PUT']} PUT per shot assumed)")
    # no campaign runs the full 30-iteration LS-RTM, so there is nothing measured to draw here
    ax.plot([], [], " ", label=f"{NEW}: none (no campaign runs the full LS-RTM)")
    ax.set_xticks(x, names, rotation=20)
    ax.set_yscale("log")
    ax.set_ylabel("USD")
    ax.set_title(f"Full LS-RTM: {s.iterations} iterations x {s.batchsize} shots")
    ax.legend(fontsize=7)
    _caption(fig, s.source)
    return fig


def render_all(pub: Published, runs: list[RunTimings], out: Path, spot_history: list[dict] | None = None,
               *, penalty_s: float = 60.0) -> list[Path]:
    figures = {
        "weak_scaling": weak_scaling(pub, runs),
        "openmp_scaling": openmp_scaling(pub, runs),
        "mpi_scaling": mpi_scaling(pub, runs),
        "hybrid_table": hybrid_table(pub, runs),
        "cluster_cost": cluster_cost(pub, runs),
        "spot_prices": spot_prices(pub, spot_history or []),
        "resilience": resilience(pub, runs, penalty_s=penalty_s),
        "sgd_cost": sgd_cost(pub),
    }
    return [_save(fig, out, name) for name, fig in figures.items()]
