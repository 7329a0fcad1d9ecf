"""What `make demo` reports about itself: the time of each phase and the machine it ran on, and where the
workflows' own logs went (kept apart from the demo's progress so that neither hides the other).

A time means little without the machine: the same demo takes twice as long on a loaded 2-core VM, so the
report names the cores and the load average before and after (the demo's own load is in the second).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

PHASES = ("synth", "summary", "LSRTM", "cosmicai", "AutoMon")


@dataclass(frozen=True)
class Machine:
    cores: int  # os.cpu_count(): what the machine has
    usable: int  # what this process may run on (a container or taskset can give fewer)
    load_before: float  # 1-minute load average when the demo started
    load_after: float  # ... and when it ended



@dataclass(frozen=True)
class Start:
    """The machine when the demo starts (before any kernel has pinned this process to a core)."""

    cpus: frozenset[int]
    load: float

    @classmethod
    def now(cls) -> Start:
        return cls(cpus=frozenset(_affinity()), load=os.getloadavg()[0])

    def machine(self) -> Machine:
        return Machine(cores=os.cpu_count() or 1, usable=len(self.cpus), load_before=self.load,
                       load_after=os.getloadavg()[0])

    @contextlib.contextmanager
    def cpus_kept(self) -> Iterator[None]:
        """Gives this thread its starting CPUs back after a phase. Devito's OpenMP runtime pins the thread
        that runs a kernel in this process to one core (the LSRTM runner models its synthetic shots here),
        and every process and thread started later inherits that: the cosmicai ranks and AutoMon nodes
        would then all share one core."""
        try:
            yield
        finally:
            if hasattr(os, "sched_setaffinity"):
                os.sched_setaffinity(0, self.cpus)


def _affinity() -> set[int]:
    return os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))


@dataclass
class PhaseTimer:
    """Seconds per phase, in the order the phases ran."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def phase_lines(seconds: dict[str, float], machine: Machine) -> list[str]:
    """The machine in one line, then one line per phase (PHASES order, the phases that ran) and the total."""
    usable = f" ({machine.usable} usable)" if machine.usable != machine.cores else ""
    lines = [f"times on {machine.cores} cores{usable}, load average {machine.load_before:.2f} before the demo and "
             f"{machine.load_after:.2f} after it (1 min):"]
    ran = [name for name in PHASES if name in seconds] + [name for name in seconds if name not in PHASES]
    width = max(len(name) for name in [*ran, "total"])
    lines += [f"  {name:<{width}}  {duration(seconds[name]):>12}" for name in ran]
    lines.append(f"  {'total':<{width}}  {duration(sum(seconds.values())):>12}")
    return lines


@contextlib.contextmanager
def logs_to_file(path: Path, *, verbose: bool) -> Iterator[Path | None]:
    """While a workflow runs: what anything writes to file descriptor 2 (handler and worker processes that
    inherit it, Python's logging set up on sys.stderr) goes to `path`; what the runner prints to sys.stderr
    (its progress and results) goes to stdout with the demo's own lines. With verbose: nothing changes."""
    if verbose:
        yield None
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(path, "wb") as log:
            os.dup2(log.fileno(), 2)
        with contextlib.redirect_stderr(sys.stdout):
            yield path
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
