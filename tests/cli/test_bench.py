"""`hpcx bench`: the scripts of benchmarks/ (not their shared modules); --json collects each one's last line."""

from __future__ import annotations

import json
import subprocess

from hpcx import bench as bench_command


def test_only_scripts_are_benchmarks():
    found = bench_command.names()
    assert "seismic_gradient" in found and "rendezvous" in found
    assert "rendezvous_process" not in found  # a module the rendezvous benchmarks import


def test_json_lists_each_benchmarks_last_line_and_progress_stays_on_stderr(hpcx, monkeypatch):
    def fake(name):
        out = f"working on {name}\n" + json.dumps({"benchmark": name, "metrics": {"ratio": 0.5}}) + "\n"
        return subprocess.CompletedProcess([name], 0, stdout=out)

    monkeypatch.setattr(bench_command, "run_script", fake)
    result = hpcx("bench", "allreduce", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"benchmark": "allreduce", "metrics": {"ratio": 0.5}}]
    assert "== benchmarks/allreduce.py" in result.stderr


def test_a_failed_benchmark_is_named_and_exits_1(hpcx, monkeypatch):
    monkeypatch.setattr(bench_command, "run_script",
                        lambda name: subprocess.CompletedProcess([name], 1, stdout="Traceback ...\n"))
    result = hpcx("bench", "allreduce", "--json")
    assert result.exit_code == 1
    assert "benchmark(s) failed: allreduce" in result.stderr
    assert json.loads(result.stdout) == []
