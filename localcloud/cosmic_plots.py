"""cosmicai throughput against ranks: local runs of the synthesized state machine beside the CAI paper's Lambda runs.

`load` reads what the runs write (a run's summary.json or workdir, `hpcx local cosmic --json` output, or
the JSON `hpcx figures cosmic` writes); `draw_throughput` returns the Figure; `plot_throughput` writes the
PNG; `sweep` runs the state machine at a few world sizes.

Throughput is the paper's kind: samples per second of inference, summed over the ranks (cold start, data
download and model loading excluded). A local point is labelled with the machine it ran on (ranks beyond
its cores share them) and with whether the weights were trained (local runs use random weights).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from localcloud.figure_style import MODEL, NEW_RUN, PUBLISHED, caption, label, read_json, save
from workloads.cosmic import published as pub

SUMMARY_FILE = "summary.json"
FIGURE_FILE = "cosmic_throughput.png"
SWEEP_WORLD_SIZES = (1, 2, 4)
SWEEP_SAMPLES = 1024  # per run: 4 batches of 64 per rank at 4 ranks, so the ranks' inference overlaps
X_MAX = 1024  # ranks: past the paper's largest run (517)


@dataclass(frozen=True)
class CosmicPoint:
    """One run: its ranks and its summed inference throughput, and what it ran on."""

    world_size: int
    samples: int
    samples_per_s: float
    random_weights: bool
    machine: str | None = None  # e.g. "Intel Xeon, 2 cores"; None: not recorded with the result
    cores: int | None = None
    source: str = ""


def point_from_summary(doc: dict, *, random_weights: bool, machine: str | None = None, cores: int | None = None,
                       source: str = "") -> CosmicPoint:
    """From a run's summary (summary.json, or the state machine's output, which is the same document)."""
    return CosmicPoint(world_size=int(doc["world_size"]), samples=int(doc["samples"]),
                       samples_per_s=float(doc["throughput"]["samples_per_s"]), random_weights=random_weights,
                       machine=machine, cores=cores, source=source)


def _weights_random(record: str | None) -> bool:
    """Local runs only ever have random weights: none given, or the runner's seed-1 state_dict
    (localcloud.cosmic.weights_label says which); a trained checkpoint would be named otherwise."""
    return record is None or "random" in record or record.startswith("state_dict:weights.pt")


# --- reading results ------------------------------------------------------------------------------
def load(path: Path) -> list[CosmicPoint]:
    """The points in `path`; ValueError with one line when it holds no cosmicai result."""
    path = Path(path)
    if path.is_dir():
        summaries = sorted(path.rglob(SUMMARY_FILE))
        if not summaries:
            raise ValueError(f"{path} holds no {SUMMARY_FILE} (a cosmicai run's results)")
        return [_from_results(s) for s in summaries]
    doc = read_json(path)
    if isinstance(doc, dict) and doc.get("figure") == "cosmic" and isinstance(doc.get("points"), list):
        try:
            return [CosmicPoint(**p) for p in doc["points"]]
        except TypeError as exc:
            raise ValueError(f"{path}: a point does not have the fields of a cosmicai result ({exc})") from None
    if isinstance(doc, dict) and doc.get("experiment") == "cosmic" and isinstance(doc.get("output"), dict):
        # `hpcx local cosmic --json`: the run's output is its summary; "weights" says what the metrics measured
        if "throughput" not in doc["output"]:
            raise ValueError(f"{path}: the run has no throughput (status {doc.get('status')})")
        return [point_from_summary(doc["output"], random_weights=_weights_random(doc.get("weights")),
                                   source=str(path))]
    if isinstance(doc, dict) and {"world_size", "throughput", "samples"} <= doc.keys():
        return [_from_results(path)]
    raise ValueError(f"{path} is not a cosmicai result (summary.json, a run's workdir, "
                     "`hpcx local cosmic --json` output or `hpcx figures cosmic --json` output)")


def _from_results(summary: Path) -> CosmicPoint:
    combined = summary.with_name("combined.json")
    record = read_json(combined).get("weights") if combined.exists() else None
    return point_from_summary(read_json(summary), random_weights=_weights_random(record), source=str(summary))


def document(points: list[CosmicPoint], figure: Path | None = None) -> dict:
    return {"figure": "cosmic", "png": str(figure) if figure else None, "points": [asdict(p) for p in points],
            "published": [asdict(p) for p in pub.POINTS], "citation": pub.CITATION.short()}


# --- the figure ------------------------------------------------------------------------------------
def draw_throughput(points: list[CosmicPoint]) -> Figure:
    """Samples/s against ranks, log-log: local points per machine, the paper's Lambda points, and the
    linear-scaling model from the local single-rank point (capped at the machine's cores)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), constrained_layout=True)
    groups: dict[tuple[str | None, int | None, bool], list[CosmicPoint]] = {}
    modelled = False
    for p in points:
        groups.setdefault((p.machine, p.cores, p.random_weights), []).append(p)
    for i, ((machine, cores, random_weights), group) in enumerate(sorted(groups.items(), key=str)):
        group = sorted(group, key=lambda p: p.world_size)
        ranks = [p.world_size for p in group]
        rates = [p.samples_per_s for p in group]
        where = machine or "machine not recorded"
        weights = "random weights" if random_weights else "trained weights"
        ax.plot(ranks, rates, "o-", color=f"C{i}", label=label(f"local: {where}; {weights}", NEW_RUN), gid="new run")
        for r, v in zip(ranks, rates, strict=True):
            # below left: the model's line leaves up and right, the cores line runs through the points
            ax.annotate(f"{v:.0f}", (r, v), fontsize=7, textcoords="offset points", xytext=(-5, -12), ha="right")
        single = [p for p in group if p.world_size == 1]
        if single:
            _draw_linear_model(ax, single[0], cores, color=f"C{i}")
            modelled = True
    for p, marker in zip(pub.POINTS, "sDP^", strict=False):
        err = None if p.low is None else [[p.samples_per_s - p.low], [p.high - p.samples_per_s]]
        ax.plot([p.ranks], [p.samples_per_s], marker, color="k", markersize=7,
                label=label(f"CAI on Lambda: {p.what}", PUBLISHED), gid="published")
        if err is not None:  # the range the paper gives, around the point drawn
            ax.errorbar([p.ranks], [p.samples_per_s], yerr=err, fmt="none", ecolor="k", capsize=4)
        ax.annotate(f"{p.samples_per_s:,.0f}", (p.ranks, p.samples_per_s), fontsize=7, textcoords="offset points",
                    xytext=(8, -12), ha="left")  # below right: above left ran into the model's line
    if not points:
        ax.plot([], [], " ", label=label("none yet", NEW_RUN))
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ticks = [2 ** k for k in range(int(np.log2(X_MAX)) + 1)]
    ax.set_xticks(ticks, [str(t) for t in ticks])  # 1, 2, 4 ... read better than 2^k
    ax.set_xlim(0.6, X_MAX)  # room left of the 1-rank point for its value
    ax.set_xlabel("ranks (processes here, Lambda invocations in the paper)")
    ax.set_ylabel("inference throughput [samples/s, all ranks]")
    ax.set_title("cosmicai (AstroMAE) inference throughput against ranks", fontsize=11)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="upper left")
    model = ("the local 1-rank throughput times the ranks" if modelled else "none (it needs a local 1-rank run)")
    caption(fig, f"published: {pub.CITATION.short()}; bits/s converted at {pub.BITS_PER_SAMPLE:,} bits per sample. "
                 f"model: {model}. new run: the synthesized cosmicai state machine run locally (moto S3, the real "
                 "rendezvous server, one process per rank, 1 thread each) on synthetic samples; random weights "
                 "measure throughput only, no accuracy. Both sum the ranks' rates: ranks that do not compute at the "
                 "same moment can add up to more than the cores give.")
    return fig


def _draw_linear_model(ax, single: CosmicPoint, cores: int | None, color: str) -> None:
    """The local 1-rank throughput times the ranks, across the whole axis: where a local point falls below
    it the ranks shared cores (or waited on each other); where a Lambda point falls below it a Lambda rank
    was slower than one here."""
    ranks = np.geomspace(1, X_MAX, 40)
    ax.plot(ranks, single.samples_per_s * ranks, ":", color=color,
            label=label("linear scaling of the local 1-rank throughput", MODEL), gid="model")
    if cores:
        ax.axvline(cores, color=color, lw=0.8, ls="-.", alpha=0.6,
                   label=label(f"{cores} cores of that machine: more ranks share them", NEW_RUN))


def plot_throughput(points: list[CosmicPoint], path: Path) -> Path:
    return save(draw_throughput(points), path)


# --- the local sweep -------------------------------------------------------------------------------
def sweep(cdk_out: Path, workdir: Path, on_progress: Callable[[str], None] = lambda message: None,
          world_sizes: tuple[int, ...] = SWEEP_WORLD_SIZES, samples: int = SWEEP_SAMPLES) -> list[CosmicPoint]:
    """One state-machine run per world size (random weights, no state_dict: the cheapest), about 15 s each."""
    from localcloud import cosmic as runner
    from localcloud.figure_style import this_machine

    machine, cores = this_machine()
    points = []
    for n in world_sizes:
        on_progress(f"world size {n}, {samples} samples ...")
        sizes = runner.LocalSizes(world_size=n, samples=samples)
        result = runner.run(cdk_out, execution_input=runner.default_input(sizes, with_weights=False), sizes=sizes,
                            with_weights=False, workdir=workdir / f"world-{n}")
        if not result.succeeded:
            raise RuntimeError(f"world size {n}: the run ended {result.status}: {result.error} {result.cause}")
        points.append(point_from_summary(result.output, random_weights=True, machine=machine, cores=cores,
                                         source=str(result.results_dir)))
        on_progress(f"  {result.elapsed_s:.1f} s, {points[-1].samples_per_s:.0f} samples/s")
    return points
