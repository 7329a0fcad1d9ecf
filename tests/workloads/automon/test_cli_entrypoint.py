"""The container entrypoint as a subprocess: `python -m workloads.automon local` end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_local_subcommand_runs_and_writes_results(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "workloads.automon", "local", "--node-type", "kld", "--synthetic",
         "--num-nodes", "4", "--iterations", "60", "--window", "10", "--send-interval", "0",
         "--results-dir", str(tmp_path), "--log-level", "WARNING"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "coordinator  completed" in proc.stdout
    coordinator = json.loads((tmp_path / "coordinator.json").read_text())
    assert coordinator["schema"] == "automon.coordinator/v2"
    assert coordinator["run"]["data_source"] == "synthetic stand-in kld (seed 2013)"
    updates = 60 - 10 + 1
    assert coordinator["algorithm_summary"]["updates_per_node"] == [updates] * 4
    for i in range(4):
        node = json.loads((tmp_path / f"node_{i}.json").read_text())
        assert node["status"] == "completed"
        assert node["traffic"]["sent"]["by_kind"]["LOCAL_VECTOR_INFO"] == {
            "messages": updates, "bytes": updates * (12 + 8 * 20), "zmtp_bytes": updates * (12 + 8 * 20 + 2)}


def test_schema_subcommand_prints_both_schemas():
    proc = subprocess.run([sys.executable, "-m", "workloads.automon", "schema"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60, check=True)
    schemas = json.loads(proc.stdout)
    assert set(schemas) == {"automon.coordinator/v2", "automon.node/v2"}
    assert "traffic_per_node" in schemas["automon.coordinator/v2"]["properties"]
