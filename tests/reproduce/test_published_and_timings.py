from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from reproduce import published
from reproduce.timings import JobTiming, RunTimings, WorkerTiming, load_runs, to_csv

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_every_dataset_names_its_source_and_the_provenance_doc_lists_it():
    data = json.loads(published.DATA_FILE.read_text())
    provenance = (published.DATA_FILE.parents[2] / "docs" / "provenance.md").read_text()
    for name, dataset in data.items():
        if isinstance(dataset, dict):
            assert dataset["source"].startswith(("paper ", "prices the paper")), name
            assert f"`{name}`" in provenance, name


def test_a_series_of_the_wrong_length_is_refused(tmp_path):
    data = json.loads(published.DATA_FILE.read_text())
    data["weak_scaling"]["job_s"] = data["weak_scaling"]["job_s"][:-1]
    bad = tmp_path / "published.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(ValidationError, match="weak series 'job_s'"):
        published.load.__wrapped__(bad)


def _run(run_id="r1", image_after_s=320.0) -> RunTimings:
    jobs = [JobTiming(job_id=f"j:{i}", status="SUCCEEDED", created_at=T0,
                      started_at=T0 + timedelta(seconds=50 + i), stopped_at=T0 + timedelta(seconds=300 + i))
            for i in range(2)]
    workers = [WorkerTiming(shot=s, timings={"fetch_s": 5, "setup_s": 1, "forward_s": 100, "adjoint_s": 120,
                                             "total_s": 230}) for s in (3, 9)]
    return RunTimings(run_id=run_id, experiment="weak", parameters={"batchsize": 2}, jobs=jobs, workers=workers,
                      image_written_at=T0 + timedelta(seconds=image_after_s))


def test_breakdown_follows_the_paper():
    r = _run()
    assert r.job_s == 320
    assert r.container_s == 250
    assert r.reduction_s == 320 - 301
    assert r.startup_s == 320 - 250 - 19
    assert r.kernel_s == 220
    assert r.script_s == 235


def test_one_json_file_per_run_and_csv(tmp_path):
    _run("a").save(tmp_path)
    _run("b", 400).save(tmp_path)
    runs = load_runs(tmp_path)
    assert [r.run_id for r in runs] == ["a", "b"]
    assert runs[1].job_s == 400
    assert not list(tmp_path.glob("*.tmp"))
    csv_text = to_csv(runs)
    assert csv_text.splitlines()[0].startswith("run_id,experiment,succeeded,jobs,param_batchsize")
    assert len(csv_text.splitlines()) == 3


def test_a_run_without_jobs_is_refused():
    with pytest.raises(ValidationError):
        RunTimings(run_id="x", experiment="weak", jobs=[])


def test_script_time_is_the_workers_own_measure_when_it_has_one():
    older = WorkerTiming(shot=1, timings={"fetch_s": 2.0, "total_s": 10.0, "forward_s": 4.0, "adjoint_s": 5.0})
    newer = WorkerTiming(shot=1, timings={**older.timings, "upload_s": 1.5, "worker_s": 13.6})
    assert older.script_s == 12.0  # fetch + computation: the upload was not timed
    assert newer.script_s == 13.6  # fetch to upload, including the upload
    assert newer.kernel_s == older.kernel_s == 9.0
