"""Hybrid Ray: makespan against WAN bandwidth, ours vs Ray's default, with the fluid lower bound and the paper's claim.

`load` reads the hybrid scheduler benchmark's JSON line (benchmarks/hybrid_scheduler.py; also inside
`hpcx bench hybrid_scheduler --json` output) or the JSON `hpcx figures ray` writes; `draw_makespan`
returns the Figure; `plot_makespan` writes the PNG; `sweep` runs the benchmark.

The lower bound is workloads/hybrid_ray/bounds.py's fluid model with the run's median compute time: no
placement of these jobs on these two nodes can finish sooner. The paper's "up to 20 %" comes without
per-bandwidth numbers, so it is drawn as the band it allows: from the default's makespan down to 0.8 of it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from matplotlib.figure import Figure

from localcloud.figure_style import MODEL, NEW_RUN, PUBLISHED, caption, label, save
from workloads.hybrid_ray import published as pub

FIGURE_FILE = "ray_makespan.png"
BENCHMARK = "hybrid_scheduler"
_KEY = re.compile(r"makespan_(ours|default|bound)_s_(\d+(?:\.\d+)?)mbit$")


@dataclass(frozen=True)
class RayPoint:
    wan_mbit: float
    ours_s: float
    default_s: float
    bound_s: float | None  # None: the benchmark that wrote it had no bound yet


@dataclass(frozen=True)
class RayRun:
    points: list[RayPoint]
    images: int | None = None
    mb_per_image: float | None = None
    machine: str | None = None
    source: str = ""


def from_metrics(metrics: dict, *, machine: str | None = None, source: str = "") -> RayRun:
    """From the benchmark's metrics (makespan_ours_s_<bw>mbit, makespan_default_s_..., makespan_bound_s_...)."""
    values: dict[float, dict[str, float]] = {}
    for key, value in metrics.items():
        match = _KEY.match(key)
        if match:
            values.setdefault(float(match.group(2)), {})[match.group(1)] = float(value)
    points = [RayPoint(bw, v["ours"], v["default"], v.get("bound")) for bw, v in sorted(values.items())
              if "ours" in v and "default" in v]
    if not points:
        raise ValueError("the metrics have no makespan_ours_s_<bw>mbit / makespan_default_s_<bw>mbit pair")
    return RayRun(points, images=metrics.get("images"), mb_per_image=metrics.get("mb_per_image"), machine=machine,
                  source=source)


# --- reading results ------------------------------------------------------------------------------
def load(path: Path) -> RayRun:
    """The run in `path`; ValueError with one line when it holds none."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not readable ({exc})") from None
    for doc in _json_documents(text):
        if isinstance(doc, list):  # `hpcx bench --json`: a list of benchmark results
            doc = next((d for d in doc if isinstance(d, dict) and d.get("benchmark") == BENCHMARK), None)
        if isinstance(doc, dict) and doc.get("benchmark") == BENCHMARK and isinstance(doc.get("metrics"), dict):
            return from_metrics(doc["metrics"], source=str(path))
        if isinstance(doc, dict) and doc.get("figure") == "ray" and isinstance(doc.get("points"), list):
            try:
                points = [RayPoint(**p) for p in doc["points"]]
            except TypeError as exc:
                raise ValueError(f"{path}: a point does not have the fields of a makespan ({exc})") from None
            return RayRun(points, images=doc.get("images"), mb_per_image=doc.get("mb_per_image"),
                          machine=doc.get("machine"), source=str(path))
    raise ValueError(f"{path} holds no result of benchmarks/{BENCHMARK}.py (its last line, `hpcx bench "
                     f"{BENCHMARK} --json` output or `hpcx figures ray --json` output)")


def _json_documents(text: str):
    """The whole text as JSON, else each line that is JSON, last first (the benchmark prints its result last)."""
    try:
        yield json.loads(text)
        return
    except json.JSONDecodeError:
        pass
    for line in reversed(text.splitlines()):
        if line.lstrip().startswith(("{", "[")):
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def document(run: RayRun, figure: Path | None = None) -> dict:
    return {"figure": "ray", "png": str(figure) if figure else None, "points": [asdict(p) for p in run.points],
            "images": run.images, "mb_per_image": run.mb_per_image, "machine": run.machine,
            "published_up_to_improvement": pub.UP_TO_IMPROVEMENT, "citation": pub.CITATION.short()}


# --- the figure ------------------------------------------------------------------------------------
def draw_makespan(run: RayRun) -> Figure:
    """Left: makespans against bandwidth. Right: each as a fraction of the default's (1 = no gain)."""
    import matplotlib.pyplot as plt

    fig, (ax, ax_r) = plt.subplots(1, 2, figsize=(12, 4.6), constrained_layout=True,
                                   gridspec_kw={"width_ratios": [1.3, 1]})
    pts = sorted(run.points, key=lambda p: p.wan_mbit)
    bw = [p.wan_mbit for p in pts]
    default = [p.default_s for p in pts]
    ours = [p.ours_s for p in pts]
    ax.fill_between(bw, [(1 - pub.UP_TO_IMPROVEMENT) * d for d in default], default, color="#fdae6b", alpha=0.35,
                    label=label(f"up to {pub.UP_TO_IMPROVEMENT:.0%} below the default (its claim, drawn on our default)",
                                PUBLISHED), gid="published")
    ax.plot(bw, default, "s-", color="0.35", label=label("Ray's default placement", NEW_RUN), gid="new run")
    ax.plot(bw, ours, "o-", color="#3182bd", label=label("ours: data-aware scheduler", NEW_RUN), gid="new run")
    bounded = [p for p in pts if p.bound_s is not None]
    if bounded:
        ax.plot([p.wan_mbit for p in bounded], [p.bound_s for p in bounded], "v:", color="#31a354",
                label=label("lower bound, any placement (fluid model)", MODEL), gid="model")
    for p in pts:
        ax.annotate(f"{p.ours_s:.1f}", (p.wan_mbit, p.ours_s), fontsize=7, textcoords="offset points", xytext=(4, -11))
        ax.annotate(f"{p.default_s:.1f}", (p.wan_mbit, p.default_s), fontsize=7, textcoords="offset points",
                    xytext=(4, 4))
    ax.set_xlabel("emulated WAN bandwidth [Mbit/s]")
    ax.set_ylabel("makespan [s]")
    ax.set_xticks(bw, [f"{b:g}" for b in bw])
    ax.set_ylim(0, 1.12 * max(default + ours))  # room above the highest value written beside its marker
    ax.set_title("makespan of the image transformation", fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    ax.grid(alpha=0.3)

    ax_r.axhspan(1 - pub.UP_TO_IMPROVEMENT, 1, color="#fdae6b", alpha=0.35,
                 label=label(f"up to {pub.UP_TO_IMPROVEMENT:.0%} improvement", PUBLISHED), gid="published")
    ax_r.axhline(1 - pub.UP_TO_IMPROVEMENT, color="#e6550d", lw=1, ls="--")
    ax_r.plot(bw, [p.ours_s / p.default_s for p in pts], "o-", color="#3182bd",
              label=label("ours / default", NEW_RUN), gid="new run")
    if bounded:
        ax_r.plot([p.wan_mbit for p in bounded], [p.bound_s / p.default_s for p in bounded], "v:", color="#31a354",
                  label=label("lower bound / default", MODEL), gid="model")
    ax_r.axhline(1, color="0.2", lw=0.8)
    ax_r.set_xlabel("emulated WAN bandwidth [Mbit/s]")
    ax_r.set_ylabel("makespan / default's makespan")
    ax_r.set_xticks(bw, [f"{b:g}" for b in bw])
    ax_r.set_ylim(0.5, 1.1)
    ax_r.set_title("relative to Ray's default (below 1: faster)", fontsize=10)
    ax_r.legend(fontsize=7, loc="lower left")
    ax_r.grid(alpha=0.3)
    fig.suptitle("Hybrid Ray: makespan against WAN bandwidth", fontsize=11)
    sizes = f"{run.images} images of {run.mb_per_image} MB" if run.images else "the benchmark's images"
    caption(fig, f"published: {pub.CITATION.short()}. model: workloads/hybrid_ray/bounds.py (fluid, from the run's "
                 f"median compute time and the emulated link). new run: benchmarks/{BENCHMARK}.py on "
                 f"{run.machine or 'a machine not recorded'}: {sizes}, local 3-raylet Ray cluster (HPC worker and cloud "
                 "node, 1 CPU each), WAN emulated in the transfer code, mean of 2 runs per mode.")
    return fig


def plot_makespan(run: RayRun, path: Path) -> Path:
    return save(draw_makespan(run), path)


# --- the local sweep -------------------------------------------------------------------------------
def sweep(repo_root: Path, on_progress: Callable[[str], None] = lambda message: None) -> tuple[RayRun, str]:
    """Run the benchmark in its own interpreter (it starts a Ray cluster), its progress lines passed on;
    2 to 3 minutes on 2 cores. Returns (the run, the benchmark's last line)."""
    from localcloud.figure_style import this_machine

    script = repo_root / "benchmarks" / f"{BENCHMARK}.py"
    proc = subprocess.Popen([sys.executable, str(script)], cwd=repo_root, stdout=subprocess.PIPE, text=True)
    last = ""
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip("\n")
        if line.startswith("{"):
            last = line
        else:
            on_progress(line.strip())
    if proc.wait() != 0 or not last:
        raise RuntimeError(f"benchmarks/{BENCHMARK}.py failed (exit {proc.returncode})")
    run = from_metrics(json.loads(last)["metrics"], machine=this_machine()[0], source=str(script))
    return run, last
