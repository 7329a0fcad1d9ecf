"""AutoMon against centralization: messages and bytes of local runs, and their traffic reduction beside the paper's.

`load` reads what the runs write (coordinator.json files, a workdir of `hpcx local automon`, its --json
summary, or the JSON `hpcx figures automon` writes); `draw_traffic` returns the Figure (tests inspect it);
`plot_traffic` writes the PNG; `sweep` makes the smallest set of local runs the figure needs.

What is counted: the coordinator's frames in both directions (it takes part in every message), without
the control frames of our protocol (ready, start, done, bye, bye_ack, abort), which the original had not;
bytes are the application frames (12-byte header and payload). The paper counted traffic with nethogs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from localcloud.figure_style import NEW_RUN, PUBLISHED, caption, label, read_json, save
from workloads.automon import published as pub
from workloads.automon.protocol import CONTROL_FRAMES

CENTRALIZATION, AUTOMON = "centralization", "automon"
CONTROL_KINDS = frozenset(CONTROL_FRAMES.values())
COORDINATOR_FILE = "coordinator.json"
FIGURE_FILE = "automon_traffic.png"

# the smallest sweep that shows both ends of the paper's curve for inner product: its smallest and its
# largest AWS error bound, and the baseline, all with the published 10 nodes, on a shortened run
SWEEP_NODE_TYPE = "inner_product"
SWEEP_ERROR_BOUNDS = (0.02, 0.8)
SWEEP_ITERATIONS = 60
# a round every 0.4 s instead of 1 s: a run takes 25 s, not 70 s; 0.2 s was too short for a lazy sync over the
# emulated link on a loaded 2-core machine (a node's next violation came before its sync: "pending violation")
SWEEP_LS_LATENCY_S = 0.4
SWEEP_FIRST_UPDATE_DELAY_S = 1.0


@dataclass(frozen=True)
class AutomonTraffic:
    """One run of one monitored function with one algorithm, as its coordinator booked it."""

    node_type: str
    algorithm: str
    error_bound: float | None
    num_nodes: int
    iterations: int
    window: int
    messages: int
    bytes: int
    source: str = ""

    @classmethod
    def from_coordinator(cls, doc: dict, source: str = "") -> AutomonTraffic:
        run, traffic = doc["run"], doc["traffic"]
        messages = nbytes = 0
        for direction in ("sent", "received"):
            for kind, tally in traffic[direction]["by_kind"].items():
                if kind not in CONTROL_KINDS:
                    messages += int(tally["messages"])
                    nbytes += int(tally["bytes"])
        return cls(node_type=run["node_type"], algorithm=run["algorithm"], error_bound=run.get("error_bound"),
                   num_nodes=int(run["num_nodes"]), iterations=int(run["iterations"]), window=int(run["window"]),
                   messages=messages, bytes=nbytes, source=source)

    @property
    def setting(self) -> tuple[str, int, int, int]:
        """Runs comparable with each other: same function, node count, rounds and window."""
        return self.node_type, self.num_nodes, self.iterations, self.window

    @property
    def name(self) -> str:
        if self.algorithm == AUTOMON:
            return f"AutoMon ε={self.error_bound:g}"
        return "centralization"


@dataclass(frozen=True)
class Reduction:
    node_type: str
    error_bound: float
    traffic: float  # 1 - AutoMon bytes / centralization bytes
    messages: float


def reductions(runs: list[AutomonTraffic]) -> list[Reduction]:
    """Each AutoMon run against the centralization run of the same setting (none: not compared)."""
    baseline = {r.setting: r for r in runs if r.algorithm == CENTRALIZATION}
    out = []
    for r in runs:
        base = baseline.get(r.setting)
        if r.algorithm == AUTOMON and base is not None and base.bytes and base.messages:
            out.append(Reduction(r.node_type, float(r.error_bound), 1 - r.bytes / base.bytes,
                                 1 - r.messages / base.messages))
    return sorted(out, key=lambda x: (x.node_type, x.error_bound))


# --- reading results ------------------------------------------------------------------------------
def load(path: Path) -> tuple[list[AutomonTraffic], dict]:
    """(the runs, what the file says about where they ran) from any of the files described above.
    ValueError with one line when the path holds no AutoMon result."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.rglob(COORDINATOR_FILE))
        if not files:
            raise ValueError(f"{path} holds no {COORDINATOR_FILE} (an AutoMon run's results)")
        return [AutomonTraffic.from_coordinator(read_json(f), str(f)) for f in files], {}
    doc = read_json(path)
    if isinstance(doc, dict) and str(doc.get("schema", "")).startswith("automon.coordinator"):
        return [AutomonTraffic.from_coordinator(doc, str(path))], {}
    if isinstance(doc, dict) and doc.get("experiment") == "automon" and "results_dir" in doc:
        return load(Path(doc["results_dir"]))[0], {}  # the --json summary of `hpcx local automon`
    if isinstance(doc, dict) and doc.get("figure") == "automon" and isinstance(doc.get("runs"), list):
        try:
            return [AutomonTraffic(**r) for r in doc["runs"]], dict(doc.get("machine") or {})
        except TypeError as exc:
            raise ValueError(f"{path}: a run does not have the fields of an AutoMon result ({exc})") from None
    raise ValueError(f"{path} is not an AutoMon result (coordinator.json, a run's workdir, "
                     "`hpcx local automon --json` output or `hpcx figures automon --json` output)")


def document(runs: list[AutomonTraffic], machine: dict, figure: Path | None = None) -> dict:
    """What `--json` prints and `load` reads back: the runs, the reductions drawn, the published end points."""
    return {
        "figure": "automon",
        "png": str(figure) if figure else None,
        "machine": machine,
        "runs": [asdict(r) for r in runs],
        "reductions": [asdict(r) for r in reductions(runs)],
        "published": {name: asdict(p) for name, p in pub.REDUCTIONS.items()},
        "citation": pub.CITATION.short(),
    }


# --- the figure ------------------------------------------------------------------------------------
def draw_traffic(runs: list[AutomonTraffic], *, where: str = "this machine", note: str | None = None) -> Figure:
    """Messages and bytes per run (bars), and the traffic reduction per error bound beside the paper's.

    `where`: what ran the new runs (the caption names it); `note`: why a series is missing (in the legend)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, (ax_m, ax_b, ax_r) = plt.subplots(1, 3, figsize=(15, 4.6), constrained_layout=True,
                                           gridspec_kw={"width_ratios": [1, 1, 1.2]})
    ordered = sorted(runs, key=lambda r: (r.node_type, r.algorithm != CENTRALIZATION, r.error_bound or 0))
    x = np.arange(len(ordered))
    colors = ["0.55" if r.algorithm == CENTRALIZATION else "#3182bd" for r in ordered]
    for ax, field_name, ylabel in ((ax_m, "messages", "messages (both directions)"),
                                   (ax_b, "bytes", "kB of application frames")):
        values = [getattr(r, field_name) for r in ordered]
        bars = ax.bar(x, values, color=colors, gid=field_name)
        unit = " B" if field_name == "bytes" else ""  # exact counts over a kB axis: say which unit is which
        ax.bar_label(bars, labels=[f"{v:,}{unit}" for v in values], fontsize=7, padding=2)
        ax.set_xticks(x, [f"{r.node_type}\n{r.name}" for r in ordered], fontsize=7)
        ax.set_ylabel(ylabel)
        if field_name == "bytes":  # the axis in kB; the bars keep their exact byte counts
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1e3:,.0f}"))
        ax.margins(y=0.15)  # room for the value above the highest bar
        ax.set_title(f"{field_name} per run", fontsize=10)
    # legend entries for the bar colours (bars carry no label of their own: one entry per algorithm)
    present = [(name, color) for name, algorithm, color in (("centralization", CENTRALIZATION, "0.55"),
                                                            ("AutoMon", AUTOMON, "#3182bd"))
               if any(r.algorithm == algorithm for r in runs)]
    if present:
        ax_m.legend([plt.Rectangle((0, 0), 1, 1, color=color) for _, color in present],
                    [label(name, NEW_RUN) for name, _ in present], fontsize=7)

    _draw_reductions(ax_r, runs, note)
    fig.suptitle("AutoMon vs centralization: traffic", fontsize=11)
    nodes = sorted({r.num_nodes for r in runs})
    rounds = sorted({r.iterations for r in runs})
    caption(fig, f"published: {pub.CITATION.short()}. model: none. new run: {len(runs)} local run(s) on {where}: "
                 f"coordinator and {', '.join(map(str, nodes)) or '-'} nodes over ZeroMQ on 127.0.0.1 with a 28 ms "
                 f"link delay each way, {', '.join(map(str, rounds)) or '-'} rounds (AWS: 1020); counted at the "
                 "coordinator without our control frames; the paper counted nethogs traffic. AutoMon's syncs carry "
                 "the function's d x d matrices (13.5 kB each at d=40): the fewer the rounds, the more its first full "
                 "sync weighs against centralization.")
    return fig


def _draw_reductions(ax, runs: list[AutomonTraffic], note: str | None) -> None:
    from matplotlib.ticker import NullFormatter

    ours = reductions(runs)
    ticks: set[float] = set()
    shown_types = sorted({r.node_type for r in runs}) or sorted(pub.REDUCTIONS)
    for i, node_type in enumerate(shown_types):
        color = f"C{i}"
        published = pub.REDUCTIONS.get(node_type)
        if published is not None and published.error_bounds is not None:
            # markers only: the paper's curve between its end points is not carried here, so nothing joins them
            values = [100 * v for v in published.traffic_reduction]
            ax.plot(published.error_bounds, values, "s", color=color, alpha=0.6, markersize=8,
                    label=label(f"{node_type}, AWS, smallest and largest ε only", PUBLISHED), gid="published")
            for eb, v in zip(published.error_bounds, values, strict=True):
                ax.annotate(f"{v:.1f} %", (eb, v), fontsize=7, textcoords="offset points", xytext=(6, 3))
            ticks.update(published.error_bounds)
        points = [r for r in ours if r.node_type == node_type]
        if points:
            ax.plot([r.error_bound for r in points], [100 * r.traffic for r in points], "o", color=color,
                    markersize=8, label=label(f"{node_type}, local", NEW_RUN), gid="new run")
            for r in points:
                ax.annotate(f"{100 * r.traffic:.1f} %", (r.error_bound, 100 * r.traffic), fontsize=7,
                            textcoords="offset points", xytext=(6, -3))
            ticks.update(r.error_bound for r in points)
    if not ours:
        ax.plot([], [], " ", label=label(f"AutoMon: none{f' ({note})' if note else ''}", NEW_RUN))
    ax.axhline(100 * pub.MEAN_REDUCTION, color="0.4", ls=":", lw=1,
               label=label(f"mean, all functions, where AutoMon sent fewer messages: {100 * pub.MEAN_REDUCTION:.1f} %",
                             PUBLISHED))
    ax.axhline(0, color="0.2", lw=0.8)
    ax.set_xscale("log")
    if ticks:  # only the bounds drawn: log-scale minor labels ran into each other
        ax.set_xticks(sorted(ticks), [f"{t:g}" for t in sorted(ticks)])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlim(min(ticks) / 1.6, max(ticks) * 2.2)  # room for the values written right of the markers
    ax.set_xlabel("error bound ε")
    ax.set_ylabel("traffic reduction vs centralization [%]")
    ax.set_title("1 - AutoMon bytes / centralization bytes", fontsize=10)
    # under the axes: inside, any corner can hide a point (the local ε=0.02 one sat under "lower right")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=1)


def plot_traffic(runs: list[AutomonTraffic], path: Path, **kwargs) -> Path:
    return save(draw_traffic(runs, **kwargs), path)


# --- the smallest local sweep ----------------------------------------------------------------------
def automon_api():
    """(the loaded automon package, None), or (None, why it cannot be loaded, in one line)."""
    from workloads.automon.automon_backend import AutomonUnavailable
    from workloads.automon.automon_backend import load as load_automon

    try:
        return load_automon(), None
    except AutomonUnavailable as exc:
        return None, str(exc).split(". ")[0]


def sweep(workdir: Path, on_progress: Callable[[str], None] = lambda message: None,
          iterations: int = SWEEP_ITERATIONS) -> tuple[list[AutomonTraffic], str | None]:
    """Centralization and AutoMon at SWEEP_ERROR_BOUNDS, each a whole local run (threads over TCP on
    127.0.0.1, workloads.automon.local); about a minute on 2 cores at 60 rounds, 0.8 s more per round. Returns (runs, why AutoMon did not run)."""
    from workloads.automon.config import RunConfig
    from workloads.automon.constants import LOCAL_LINK_LATENCY_S
    from workloads.automon.local import run_local

    settings = [RunConfig.for_type(SWEEP_NODE_TYPE, iterations=iterations, link_latency_s=LOCAL_LINK_LATENCY_S)]
    api, missing = automon_api()
    if api is not None:
        settings += [RunConfig.for_type(SWEEP_NODE_TYPE, algorithm=AUTOMON, error_bound=eb, iterations=iterations,
                                        ls_latency_s=SWEEP_LS_LATENCY_S, first_update_delay_s=SWEEP_FIRST_UPDATE_DELAY_S,
                                        link_latency_s=LOCAL_LINK_LATENCY_S)
                     for eb in SWEEP_ERROR_BOUNDS]
    else:
        on_progress(f"AutoMon not run: {missing}")
    runs = []
    for cfg in settings:
        name = cfg.algorithm if cfg.error_bound is None else f"{cfg.algorithm}-{cfg.error_bound:g}"
        on_progress(f"{cfg.node_type.name} {name}: {cfg.num_nodes} nodes, {cfg.iterations} rounds ...")
        start = time.monotonic()
        result_dir = workdir / cfg.node_type.name / name
        run = run_local(cfg, results_dir=result_dir, join_timeout_s=300, api=api if cfg.algorithm == AUTOMON else None)
        if run.coordinator.status != "completed":
            raise RuntimeError(f"{name} ended {run.coordinator.status}: {run.coordinator.error}")
        runs.append(AutomonTraffic.from_coordinator(read_json(result_dir / COORDINATOR_FILE), str(result_dir)))
        on_progress(f"  done in {time.monotonic() - start:.1f} s: {runs[-1].messages} messages, {runs[-1].bytes} bytes")
    return runs, missing
