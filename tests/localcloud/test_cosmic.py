"""End to end: the cosmicai state machine exactly as the app synthesizes it, run locally with world_size 4.

Each rank is a separate process running the real executor handler; they pair and gather through a real
rendezvous server on 127.0.0.1 and read/write moto's S3. The combined result must equal one process
inferring the whole dataset with the same weights, which only holds if every rank did its own slice.
"""

from __future__ import annotations

import json

import pytest

from localcloud.cosmic import DATA_KEY, MACHINE_SUFFIX, STACK, LocalSizes, run
from localcloud.services.template import SynthesizedStack
from workloads.cosmic.astromae import build_model
from workloads.cosmic.dataset import synthetic_dataset
from workloads.cosmic.inference import InferenceSettings, run_rank

SAMPLES = 192
pytestmark = pytest.mark.slow


def test_world_size_4_runs_the_synthesized_definition_with_concurrent_ranks(synthesized, tmp_path):
    definition = SynthesizedStack.load(synthesized.outdir, STACK).state_machine_ending(MACHINE_SUFFIX)[1]
    assert definition["States"]["RunRanks"]["MaxConcurrency"] >= 4

    result = run(synthesized.outdir, sizes=LocalSizes(world_size=4, samples=SAMPLES), with_weights=True, workdir=tmp_path,
                 execution="e2e-4")
    assert result.status == "SUCCEEDED", f"{result.error}: {result.cause}"
    assert result.states[0] == "ValidateInput" and result.states[-1] == "Summarize"
    assert result.states.count("RunRank") == 4

    # four processes, one per rank, all alive at the same time (collectives need every rank at once)
    assert sorted(i.rank for i in result.invocations) == [0, 1, 2, 3]
    assert all(i.returncode == 0 for i in result.invocations)
    assert max(i.start for i in result.invocations) < min(i.end for i in result.invocations)
    assert result.rendezvous["pairs_completed"] >= 3  # the gather's binomial tree pairs 0-1, 2-3, 0-2

    ranks = [json.loads((result.results_dir / "ranks" / f"rank-{r:05d}.json").read_text()) for r in range(4)]
    assert [r["sample_ranges"] for r in ranks] == [[[48 * r, 48 * r + 48]] for r in range(4)]
    assert {r["weights"] for r in ranks} == {"state_dict:weights.pt"}
    summary = json.loads((result.results_dir / "summary.json").read_text())
    combined = json.loads((result.results_dir / "combined.json").read_text())
    assert summary["samples"] == combined["samples"] == SAMPLES and result.output["samples"] == SAMPLES
    assert result.output["summary_key"] == "runs/e2e-4/summary.json"

    # the same data and weights (localcloud.cosmic uploads seed 1's state_dict) in one process
    solo = run_rank(synthetic_dataset(SAMPLES, seed=0), InferenceSettings(batch_size=64, threads=1), "solo",
                    model=build_model(seed=1))["combined"]
    for name in ("mae", "mse", "bias", "nmad", "r2"):
        assert combined["metrics"][name] == pytest.approx(solo["metrics"][name], rel=1e-4, abs=1e-7), name


FAILS_ON_RANK_2 = "import os, sys\nprint('rank', os.environ['RANK'])\nsys.exit(7 if os.environ['RANK'] == '2' else 0)\n"


def test_a_failing_rank_fails_the_execution_and_no_summary_is_written(synthesized, tmp_path):
    result = run(synthesized.outdir, sizes=LocalSizes(samples=8), with_weights=False, workdir=tmp_path, execution="e2e-fail",
                 execution_input={"world_size": 4, "script_key": "scripts/fails.py"},
                 extra_objects={("code", "scripts/fails.py"): FAILS_ON_RANK_2.encode()})
    assert result.status == "FAILED"
    assert result.error == "ScriptFailed" and "status 7" in result.cause
    assert "Summarize" not in result.states
    assert not (result.results_dir / "summary.json").exists()
    assert any(i.rank == 2 and i.returncode != 0 for i in result.invocations)


def test_a_world_larger_than_the_map_can_run_at_once_is_refused_before_any_rank_starts(synthesized, tmp_path):
    functions = SynthesizedStack.load(synthesized.outdir, STACK).functions().values()
    limit = int(next(f for f in functions if f.handler_folder == "cosmic_validate_input").environment["MAX_WORLD_SIZE"])
    result = run(synthesized.outdir, sizes=LocalSizes(samples=8), with_weights=False, workdir=tmp_path, execution="e2e-too-big",
                 execution_input={"world_size": limit + 1, "data_key": DATA_KEY})
    assert result.status == "FAILED" and result.error == "InvalidInput"
    assert f"above the deployed limit {limit}" in result.cause
    assert result.states == ["ValidateInput", "InputRejected"] and result.invocations == []


def _json_log_line(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def test_a_run_with_random_weights_says_so_and_its_output_has_no_log_lines(synthesized, tmp_path):
    """What `hpcx local cosmic` shows a person (stderr) is progress and results: the handlers' JSON logs stay
    in the workdir's log files; and metrics from random weights are labelled as such, there and in --json."""
    import subprocess
    import sys

    from localcloud.services.template import REPO_ROOT

    done = subprocess.run([sys.executable, "-m", "hpcx", "local", "cosmic", "--cdk-out", str(synthesized.outdir),
                           "--world-size", "2", "--samples", "32", "--no-weights", "--workdir", str(tmp_path), "--json"],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    assert "random weights (random-init(seed=0), no state_dict)" in json.loads(done.stdout)["weights"]
    lines = done.stderr.splitlines()
    assert not [line for line in lines if _json_log_line(line)]
    assert all(line.startswith("[cosmicai] ") for line in lines)  # one stream, one prefix
    (metrics,) = [line for line in lines if " r2 " in line]
    assert "random weights" in metrics
    assert list((tmp_path / "logs").glob("*.log"))  # where the handlers' logs went
