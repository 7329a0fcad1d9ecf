"""`hpcx local ray`: --input or the options (not both), checked before Ray starts; --json prints the run."""

from __future__ import annotations

import json

import pytest

from workloads.hybrid_ray import run as ray_run


@pytest.fixture
def fake_run(monkeypatch):
    """Records the request the command passes on, and answers like run() does (without Ray)."""
    calls = []

    def run(request, **kwargs):
        calls.append(request)
        return {**request.model_dump(), "makespan_s": 4.2, "jobs_per_site": {"hpc": 3, "cloud": 1},
                "mb_moved": 1.7, "lost_nodes": 0}

    monkeypatch.setattr(ray_run, "run", run)
    return calls


@pytest.mark.parametrize("raw, message", [
    ('{"count": 0}', "count: Input should be greater than or equal to 1"),
    ('{"mode": "fastest"}', "mode: Input should be 'ours' or 'default'"),
    ('{"wan_mbit": -1}', "wan_mbit: Input should be greater than 0"),
    ('{"cores": 4}', "cores"),
])
def test_a_bad_input_is_refused_before_ray_starts(hpcx, forbid, raw, message):
    forbid(ray_run, "run")
    result = hpcx("local", "ray", "--input", raw)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "nothing started" in result.stderr


def test_input_and_options_together_are_refused(hpcx, forbid):
    forbid(ray_run, "run")
    result = hpcx("local", "ray", "--input", '{"mode": "default"}', "--count", "3")
    assert result.exit_code == 2
    assert "either --input or --count" in result.output


def test_the_input_reaches_the_run_and_json_prints_its_summary(hpcx, fake_run, tmp_path):
    path = tmp_path / "ray.json"
    path.write_text(json.dumps({"workload": "ps", "mode": "default", "wan_mbit": 30, "count": 5}))
    result = hpcx("local", "ray", "--input", str(path), "--json")
    assert result.exit_code == 0, result.output
    (request,) = fake_run
    assert (request.workload, request.mode, request.wan_mbit, request.count, request.data) == ("ps", "default", 30, 5, "share")
    doc = json.loads(result.stdout)
    assert doc["makespan_s"] == 4.2 and doc["mode"] == "default" and doc["jobs_per_site"] == {"hpc": 3, "cloud": 1}


def test_without_json_the_run_is_one_readable_line(hpcx, fake_run):
    result = hpcx("local", "ray", "--wan-mbit", "30")
    assert result.exit_code == 0, result.output
    assert fake_run[0].wan_mbit == 30
    assert "makespan 4.2 s; jobs per site: hpc 3, cloud 1; 1.7 MB moved" in result.stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stdout)
