"""`hpcx figures automon|cosmic|ray`: help with defaults and an example, bad input refused before anything runs
or is written, and --json with the numbers drawn. The sweeps are forbidden here (they run minutes)."""

from __future__ import annotations

import json
import re

import pytest

from localcloud import automon_plots, cosmic_plots, ray_plots

COMMANDS = ("automon", "cosmic", "ray")


@pytest.fixture
def no_sweeps(forbid):
    for module in (automon_plots, cosmic_plots, ray_plots):
        forbid(module, "sweep")


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_has_help_with_its_defaults_and_an_example(hpcx, name):
    result = hpcx("figures", name, "--help")
    assert result.exit_code == 0
    assert re.search(rf"Example:\s*\n\s+hpcx figures {name} ", result.output), result.output
    assert "--from" in result.output and "--json" in result.output
    assert "[default:" in result.output and "out/figures" in result.output  # --out's default is shown


def test_the_group_lists_the_three_figures(hpcx):
    result = hpcx("figures", "--help")
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


@pytest.mark.parametrize("name", COMMANDS)
def test_a_file_that_is_no_result_is_refused_and_nothing_is_written(hpcx, no_sweeps, tmp_path, name):
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"not": "a result"}')
    out = tmp_path / "figs"
    result = hpcx("figures", name, "--from", str(bogus), "--out", str(out))
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--from'" in result.output and "bogus.json" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


@pytest.mark.parametrize("args, message", [
    (["cosmic", "--from", "no-such-file.json"], "does not exist"),
    (["cosmic", "--world-sizes", "0,2"], "is not a comma-separated list of rank counts"),
    (["cosmic", "--world-sizes", "two"], "is not a comma-separated list of rank counts"),
    (["cosmic", "--samples", "0"], "0 is not in the range x>=1"),
    (["ray", "--from", "no-such-file.json"], "does not exist"),
])
def test_bad_options_exit_2_before_anything_runs(hpcx, no_sweeps, tmp_path, args, message):
    out = tmp_path / "figs"
    result = hpcx("figures", *args, "--out", str(out))
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not out.exists()


def test_cosmic_without_a_synthesized_assembly_says_to_synthesize(hpcx, no_sweeps, tmp_path):
    result = hpcx("figures", "cosmic", "--cdk-out", str(tmp_path / "nothing"), "--out", str(tmp_path / "figs"))
    assert result.exit_code == 2
    assert "hpcx synth" in result.stderr
    assert not (tmp_path / "figs").exists()


def test_ray_json_prints_the_png_and_the_numbers_drawn(hpcx, no_sweeps, tmp_path):
    line = {"benchmark": "hybrid_scheduler", "metrics": {
        "images": 24, "mb_per_image": 6.9, "makespan_ours_s_30mbit": 8.25, "makespan_default_s_30mbit": 9.5,
        "makespan_bound_s_30mbit": 7.75, "makespan_ours_s_100mbit": 6.25, "makespan_default_s_100mbit": 8.5,
        "makespan_bound_s_100mbit": 6.0}}
    source = tmp_path / "bench.json"
    source.write_text(json.dumps(line))
    result = hpcx("figures", "ray", "--from", str(source), "--out", str(tmp_path / "figs"), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["png"] == str(tmp_path / "figs" / "ray_makespan.png")
    assert (tmp_path / "figs" / "ray_makespan.png").read_bytes()[:4] == b"\x89PNG"
    assert [(p["wan_mbit"], p["ours_s"], p["default_s"], p["bound_s"]) for p in doc["points"]] == [
        (30, 8.25, 9.5, 7.75), (100, 6.25, 8.5, 6.0)]
    assert doc["published_up_to_improvement"] == 0.2 and "Euro-Par" in doc["citation"]


def test_automon_json_round_trips_through_from(hpcx, no_sweeps, tmp_path):
    """What --json prints is itself a --from input, so a sweep can be drawn again without running it."""
    runs = [automon_plots.AutomonTraffic("quadratic", "centralization", None, 10, 60, 20, 410, 136_000),
            automon_plots.AutomonTraffic("quadratic", "automon", 1.0, 10, 60, 20, 55, 41_000)]
    source = tmp_path / "runs.json"
    source.write_text(json.dumps(automon_plots.document(runs, {"description": "test box, 2 cores"})))
    result = hpcx("figures", "automon", "--from", str(source), "--out", str(tmp_path / "figs"), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [(r["messages"], r["bytes"]) for r in doc["runs"]] == [(410, 136_000), (55, 41_000)]
    (reduction,) = doc["reductions"]
    assert reduction["error_bound"] == 1.0 and reduction["traffic"] == pytest.approx(1 - 41_000 / 136_000)
    assert doc["machine"]["description"] == "test box, 2 cores"
    assert doc["published"]["quadratic"]["traffic_reduction"] == [-0.41, 0.9]


def test_cosmic_without_from_runs_the_sweep_and_draws_what_it_returns(hpcx, monkeypatch, tmp_path):
    """The sweep itself starts the state machine (tests/localcloud run it); here: the CLI passes the
    world sizes on and draws the points it gets back."""
    cdk_out = tmp_path / "cdk.out"
    cdk_out.mkdir()
    (cdk_out / "FmiStack.template.json").write_text("{}")
    asked = {}

    def fake_sweep(cdk_out_arg, workdir, on_progress, world_sizes, samples):
        asked.update(world_sizes=world_sizes, samples=samples)
        return [cosmic_plots.CosmicPoint(n, samples, 100.0 * n, True, "fake CPU, 2 cores", 2) for n in world_sizes]

    monkeypatch.setattr(cosmic_plots, "sweep", fake_sweep)
    result = hpcx("figures", "cosmic", "--cdk-out", str(cdk_out), "--world-sizes", "2,1", "--samples", "64",
                  "--out", str(tmp_path / "figs"), "--json")
    assert result.exit_code == 0, result.output
    assert asked == {"world_sizes": (1, 2), "samples": 64}
    doc = json.loads(result.stdout)
    assert [(p["world_size"], p["samples_per_s"]) for p in doc["points"]] == [(1, 100.0), (2, 200.0)]
    assert "world sizes 1, 2" in result.stderr  # progress goes to stderr, stdout stays JSON


def test_a_local_cosmic_run_draws_its_figure_into_its_workdir(hpcx, monkeypatch, tmp_path):
    from localcloud import cosmic

    cdk_out = tmp_path / "cdk.out"
    cdk_out.mkdir()
    (cdk_out / "FmiStack.template.json").write_text("{}")
    finished = cosmic.CosmicRun(
        experiment="cosmic", execution="local-1", status="SUCCEEDED", error=None, cause=None, elapsed_s=1.5,
        output={"world_size": 2, "samples": 128, "throughput": {"samples_per_s": 321.0}},
        results_dir=tmp_path / "results", weights="random weights (random-init seed 0, no state_dict): ...")
    monkeypatch.setattr(cosmic, "check_input", lambda *a: None)
    monkeypatch.setattr(cosmic, "run", lambda *a, **k: finished)
    workdir = tmp_path / "run"
    result = hpcx("local", "cosmic", "--json", "--cdk-out", str(cdk_out), "--workdir", str(workdir))
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["figure"] == str(workdir / "cosmic_throughput.png")
    assert (workdir / "cosmic_throughput.png").read_bytes()[:4] == b"\x89PNG"
