"""The demo's own report (localcloud/demo_report.py): phase times with the machine, and logs kept apart
from the progress. No demo is run here."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from localcloud import demo_report
from localcloud.demo_report import Machine, PhaseTimer, Start, logs_to_file, phase_lines


def test_one_line_per_phase_in_order_then_the_total_after_the_machine():
    seconds = {"synth": 9.5, "summary": 3.25, "LSRTM": 81.0, "cosmicai": 16.0, "AutoMon": 27.6}
    lines = phase_lines(seconds, Machine(cores=2, usable=2, load_before=0.42, load_after=2.1))
    assert lines[0] == "times on 2 cores, load average 0.42 before the demo and 2.10 after it (1 min):"
    assert [line.split()[0] for line in lines[1:]] == ["synth", "summary", "LSRTM", "cosmicai", "AutoMon", "total"]
    assert lines[1].endswith("9.5 s") and lines[3].endswith("1 min 21 s")
    assert lines[-1].endswith("2 min 17 s")  # 137.35 s


def test_a_phase_that_did_not_run_is_left_out_and_fewer_usable_cores_are_said():
    lines = phase_lines({"synth": 1.0, "summary": 2.0}, Machine(cores=8, usable=2, load_before=0.0, load_after=0.5))
    assert "8 cores (2 usable)" in lines[0]
    assert [line.split()[0] for line in lines[1:]] == ["synth", "summary", "total"]


def test_the_timer_adds_up_each_phase(monkeypatch):
    clock = iter([10.0, 12.5, 20.0, 21.0])
    monkeypatch.setattr(demo_report.time, "perf_counter", lambda: next(clock))
    timer = PhaseTimer()
    with timer.phase("synth"):
        pass
    with timer.phase("LSRTM"):
        pass
    assert timer.seconds == {"synth": 2.5, "LSRTM": 1.0}


def test_child_logs_go_to_the_file_and_progress_to_stdout(tmp_path, capfd):
    log = tmp_path / "run" / "stderr.log"
    with logs_to_file(log, verbose=False) as path:
        subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('{\"level\": \"INFO\"}\\n')"], check=True)
        print("[cosmicai] SUCCEEDED", file=sys.stderr)  # what the runners print as progress
    out, err = capfd.readouterr()
    assert path == log and log.read_text() == '{"level": "INFO"}\n'
    assert "[cosmicai] SUCCEEDED" in out and err == ""
    print("after", file=sys.stderr)  # stderr is itself again
    assert capfd.readouterr().err == "after\n"


def test_verbose_leaves_stderr_alone(tmp_path, capfd):
    with logs_to_file(tmp_path / "stderr.log", verbose=True) as path:
        subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('worker log\\n')"], check=True)
    assert path is None and capfd.readouterr().err == "worker log\n"
    assert not (tmp_path / "stderr.log").exists()


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs to pin to fewer")
def test_a_phase_that_pins_this_thread_to_one_core_gives_the_cores_back():
    start = Start.now()
    with start.cpus_kept():
        os.sched_setaffinity(0, {min(start.cpus)})  # what Devito's OpenMP runtime does to the thread
    assert os.sched_getaffinity(0) == set(start.cpus)
    assert start.machine().usable == len(start.cpus)
