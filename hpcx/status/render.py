"""A Snapshot as a rich renderable: one header line, then a bar per thing that has a count."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Group
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from hpcx.status.collect import BATCH_STATUSES, Snapshot

BAR_WIDTH = 30
STATUS_STYLE = {"RUNNING": "yellow", "SUCCEEDED": "green", "FAILED": "red", "TIMED_OUT": "red", "ABORTED": "red"}


def elapsed(snap: Snapshot) -> str:
    start = datetime.fromisoformat(snap.start)
    stop = datetime.fromisoformat(snap.stop) if snap.stop else datetime.now(UTC)
    seconds = max(0, int((stop - start).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def render(snap: Snapshot):
    header = Text.assemble(
        (snap.experiment or snap.state_machine, "bold"), f"  {snap.name}  ",
        (snap.status, STATUS_STYLE.get(snap.status, "")), f"  {elapsed(snap)}",
        f"  state {snap.current_state}" if snap.current_state and not snap.finished else "",
    )
    rows = Table.grid(padding=(0, 2))
    rows.add_column(no_wrap=True)
    rows.add_column()
    rows.add_column()
    if snap.iterations:
        done = len(snap.misfits)
        rows.add_row("iterations", _bar(done, snap.iterations), f"{done}/{snap.iterations} done"
                     + (f", computing {snap.iteration}" if not snap.finished and snap.iteration else ""))
    if snap.batch:
        counts = ", ".join(f"{s.lower()} {snap.batch.counts[s]}" for s in BATCH_STATUSES if snap.batch.counts.get(s))
        stage = " curvature" if snap.stage == "curvature" else ""
        rows.add_row(f"batch it{snap.iteration}{stage}", _bar(snap.batch.done, snap.batch.total),
                     f"{snap.batch.done}/{snap.batch.total} jobs ended ({counts or 'none yet'})")
    if snap.reducer:
        rows.add_row("reducer", _bar(snap.reducer.summed, snap.reducer.expected),
                     f"{snap.reducer.summed}/{snap.reducer.expected} shots' "
                     f"{'line-search terms' if snap.stage == 'curvature' else 'gradients'} summed")
    for m in snap.maps:
        total = m.total if m.total is not None else m.succeeded + m.failed + m.running
        rows.add_row(f"map {m.name}", _bar(m.succeeded + m.failed, total),
                     f"{m.succeeded} succeeded, {m.failed} failed, {m.running} running of {total}")
    parts = [header, rows]
    if snap.misfits:
        parts.append(Text("misfit  " + "  ".join(f"it{k} {v:.4g}" for k, v in snap.misfits.items())))
    if snap.error or snap.cause:
        parts.append(Text(f"error {snap.error or '?'}: {snap.cause or 'no cause given'}", style="red"))
    return Group(*parts)


def _bar(completed: int, total: int) -> ProgressBar:
    return ProgressBar(total=max(total, 1), completed=completed, width=BAR_WIDTH)
