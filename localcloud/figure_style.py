"""What every experiment figure shares: the three kinds of series, the caption line, saving, the machine.

Each legend entry ends with its kind in brackets, "(published)", "(model)" or "(new run)", so a reader (and
a test) can tell the paper's numbers from a formula and from what ran here. The caption under the axes
says the same in words, with the paper's citation and where the new runs ran.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display needed

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

PUBLISHED, MODEL, NEW_RUN = "published", "model", "new run"
KINDS = (PUBLISHED, MODEL, NEW_RUN)
DPI = 120


def label(text: str, kind: str) -> str:
    """A legend entry that says what kind of number it is."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    return f"{text} ({kind})"


def kind_of(legend_label: str) -> str | None:
    """The kind a legend entry was labelled with (None: not one of ours, e.g. matplotlib's own)."""
    for kind in KINDS:
        if legend_label.endswith(f"({kind})"):
            return kind
    return None


def caption(fig: Figure, text: str) -> None:
    """The caption line, placed under the lowest drawn element (tick labels included), as in
    reproduce/figures.py: a fixed offset ran into tick labels there."""
    renderer = fig.canvas.get_renderer()
    fig.canvas.draw()  # the layout the PNG will have, so tick labels have their final extents
    lowest = min(ax.get_tightbbox(renderer).y0 for ax in fig.axes if ax.get_visible())
    y = fig.transFigure.inverted().transform((0, lowest))[1]
    fig.text(0.01, y - 0.02, text, fontsize=7, color="0.3", ha="left", va="top", wrap=True,
             gid="caption")


def caption_of(fig: Figure) -> str | None:
    """The caption's text (tests read it); None when the figure has none."""
    found = [t.get_text() for t in fig.texts if t.get_gid() == "caption"]
    return found[0] if found else None


def read_json(path: Path):
    """A results file a figure is drawn from; ValueError (one line) when it cannot be read as JSON."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not readable JSON ({exc})") from None


def save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")  # "tight" grows the canvas to hold the caption
    plt.close(fig)
    return path


def this_machine() -> tuple[str, int]:
    """(a short description, the cores this process may use): what a local point is labelled with."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    model = _cpu_model() or platform.machine()
    return f"{model}, {cores} cores", cores


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None
