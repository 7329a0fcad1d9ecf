"""benchmarks/seismic_accuracy.py: its help, its smallest case end to end, and how it judges a row."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

from hpcx.paths import REPO_ROOT

SCRIPT = REPO_ROOT / "benchmarks" / "seismic_accuracy.py"


def load_script():
    # `import benchmarks.seismic_accuracy` would find a site-packages package named benchmarks.
    spec = importlib.util.spec_from_file_location("seismic_accuracy", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(*args: str) -> subprocess.CompletedProcess:
    # In a subprocess: the script runs kernels, and OpenMP would pin this test process to one core.
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          check=False, timeout=120)


def test_help_lists_the_options():
    done = run("--help")
    assert done.returncode == 0
    assert all(option in done.stdout for option in ("--orders", "--dt-fractions", "--noise"))


def test_smallest_case_prints_a_table_and_one_json_line():
    # Clean data only (about 12 s on 2 shared cores): the noisy row adds two gradients, and the
    # subsampled-vs-full number it adds is asserted by test_storage_modes through the same function.
    done = run("--orders", "2", "--dt-fractions", "1", "--noise", "0")
    assert done.returncode == 0, done.stderr
    *table, last = done.stdout.strip().splitlines()
    result = json.loads(last)
    assert result["benchmark"] == "seismic_accuracy"
    (row,) = result["metrics"]["rows"]
    assert (row["space_order"], row["dt_fraction"], row["noise"]) == (2, 1.0, 0.0)
    assert {"dot_isic", "dot_xcorr", "taylor_first", "taylor_second"} <= set(row)
    assert "subsampled_vs_full" not in row and result["metrics"]["max_subsampled_vs_full"] is None
    assert len(row["taylor_first"]) == len(row["taylor_second"]) == 2  # three steps, two ratios
    assert result["metrics"]["targets_met"] is row["ok"] is True
    assert any(line.split()[:3] == ["2", "CFL", "0%"] for line in table)


def test_a_row_out_of_any_target_is_not_ok():
    judge = load_script().judge
    good = {"dot_isic": 1e-6, "dot_xcorr": 1e-6, "taylor_first": [2.05, 2.02], "taylor_second": [4.0, 4.0],
            "subsampled_vs_full": 0.005}
    assert judge(good)
    for key, bad in [("dot_xcorr", 1e-3), ("taylor_first", [2.6, 2.3]), ("taylor_second", [3.7, 4.0]),
                     ("subsampled_vs_full", 0.02)]:
        assert not judge({**good, key: bad}), key
