from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from reproduce import figures
from reproduce.__main__ import main
from reproduce.published import load
from reproduce.timings import JobTiming, RunTimings, WorkerTiming

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class NoAws:
    """A session that fails the test if anything asks it for a client."""

    def client(self, name, *a, **k):
        raise AssertionError(f"an AWS client ({name}) was requested before the parameters were valid")


@pytest.mark.parametrize("argv, message", [
    (["resilience", "--campaign", "x", "--failure-rate", "0.2"], "--confirm-terminate"),
    (["resilience", "--campaign", "x", "--failure-rate", "1.5", "--confirm-terminate"], "failure_rate"),
    (["resilience", "--campaign", "x", "--failure-rate", "0.2", "--confirm-terminate", "--window", "300", "10"], "window"),
    (["weak", "--campaign", "x", "--batch-sizes", "0", "4"], "batch sizes"),
    (["openmp", "--campaign", "x", "--threads", "0"], "thread counts"),
    (["mpi", "--campaign", "x", "--nodes", "128"], "node counts"),
    (["cost", "--campaign", "UPPER"], "campaign"),
])
def test_bad_parameters_fail_before_any_aws_call(argv, message, capsys):
    assert main(argv, session=NoAws()) == 2
    assert message in capsys.readouterr().err


def test_dry_run_prints_the_plan_and_submits_nothing(stubbed, deployment, capsys, monkeypatch):
    import reproduce.__main__ as cli

    monkeypatch.setattr(cli, "read_deployment", lambda stack, cfn, batch: deployment)
    batch, batch_stub = stubbed("batch")  # no responses queued: any Batch call would fail the test

    class Session:
        def client(self, name):
            return batch if name == "batch" else object()

    assert main(["mpi", "--campaign", "x", "--nodes", "2", "--runs", "1", "--dry-run"], session=Session()) == 0
    out = capsys.readouterr()
    plan = json.loads(out.out)
    assert plan["submit_job"]["nodeOverrides"]["numNodes"] == 2
    assert "nothing submitted" in out.err
    batch_stub.assert_no_pending_responses()


def test_a_contradicted_hyperthreading_flag_submits_nothing(stubbed, deployment, capsys, monkeypatch):
    import reproduce.__main__ as cli

    monkeypatch.setattr(cli, "read_deployment", lambda stack, cfn, batch: deployment)
    batch, batch_stub = stubbed("batch")  # no responses queued: any Batch call would fail the test

    class Session:
        def client(self, name):
            return batch if name == "batch" else object()

    argv = ["openmp", "--campaign", "x", "--queue", "r5-spot-24", "--hyperthreading", "on"]
    assert main(argv, session=Session()) == 2
    err = capsys.readouterr().err
    assert "--hyperthreading on contradicts queue hpcx-r5-spot-24" in err
    assert "keep 24 of 96 vCPUs online" in err
    batch_stub.assert_no_pending_responses()


def _run(experiment: str, run_id: str, parameters: dict, container_s: float = 250.0, n: int = 2) -> RunTimings:
    jobs = [JobTiming(job_id=f"{run_id}:{i}", status="SUCCEEDED", created_at=T0, started_at=T0 + timedelta(seconds=100),
                      stopped_at=T0 + timedelta(seconds=100 + container_s + i)) for i in range(n)]
    workers = [WorkerTiming(shot=i, timings={"fetch_s": 3, "forward_s": container_s / 3, "adjoint_s": container_s / 3,
                                             "total_s": container_s * 0.8}) for i in range(n)]
    return RunTimings(run_id=run_id, experiment=experiment, parameters=parameters, jobs=jobs, workers=workers,
                      image_written_at=T0 + timedelta(seconds=120 + container_s + n))


def _runs() -> list[RunTimings]:
    runs = [_run("weak", f"w{n}", {"batchsize": n}, n=n) for n in (1, 2, 4)]
    runs += [_run("openmp", f"o{t}", {"threads": t, "hyperthreading": False}, 1500 / t, 1) for t in (1, 2, 4, 8)]
    runs += [_run("mpi", f"m{n}", {"nodes": n, "instance_type": "c5n.18xlarge"}, 400 / n, 1) for n in (1, 2, 4)]
    runs += [_run("hybrid", "h", {"case": "mpi2x24"}, 250, 1), _run("cost", "c", {"batchsize": 20}, 240, 20)]
    runs += [_run("resilience", "r", {"failure_rate": 0.1}, 480, 20)]
    return runs


def test_every_figure_renders_from_the_reference_data(tmp_path):
    paths = figures.render_all(load(), [], tmp_path)
    assert {p.name for p in paths} == {"weak_scaling.png", "openmp_scaling.png", "mpi_scaling.png", "hybrid_table.png",
                                       "cluster_cost.png", "spot_prices.png", "resilience.png", "sgd_cost.png"}
    for p in paths:
        assert p.parent == tmp_path
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert p.stat().st_size > 10_000


def test_figures_draw_new_runs_beside_the_published_numbers(tmp_path):
    spot = [{"instance_type": "c5n.18xlarge", "zone": f"us-east-1{z}", "price": 1.0 + i / 10,
             "timestamp": "2026-01-01T00:00:00+00:00"} for i, z in enumerate("abcdef")]
    empty = figures.render_all(load(), [], tmp_path / "empty")
    full = figures.render_all(load(), _runs(), tmp_path / "full", spot, penalty_s=120)
    # the new runs change what is drawn, so every image differs from the published-only one
    for a, b in zip(empty, full, strict=True):
        if a.name == "sgd_cost.png":
            continue  # draws no runs
        assert a.read_bytes() != b.read_bytes(), a.name


def test_figures_command_writes_csv(tmp_path, capsys):
    for r in _runs()[:3]:
        r.save(tmp_path / r.experiment)
    assert main(["figures", "--results", str(tmp_path), "--csv"]) == 0
    assert (tmp_path / "figures" / "weak_scaling.png").exists()
    assert (tmp_path / "summary.csv").read_text().count("\n") == 4


def test_without_a_region_the_launcher_says_what_to_configure(monkeypatch, capsys):
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    assert main(["weak", "--campaign", "t", "--dry-run"]) == 2
    assert "--region" in capsys.readouterr().err
