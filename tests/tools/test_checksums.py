"""SHA-256 manifests of converted inputs (tools/checksums.py) and `hpcx data bp2004 --checksums` on small
fake BP 2004 files (3 shots instead of 1348)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

import tools.aws_errors
import tools.seismic_data
from hpcx.main import cli
from tools import checksums
from workloads.seismic import datasets


@pytest.fixture
def files(tmp_path):
    folder = tmp_path / "inputs"
    folder.mkdir()
    paths = []
    for i, content in enumerate([b"model", b"shot one", b"shot two"]):
        path = folder / f"file_{i}.bin"
        path.write_bytes(content)
        paths.append(path)
    return paths


def test_a_manifest_round_trips_and_sha256sum_accepts_it(files, tmp_path):
    digests = checksums.digests(files)
    assert digests["file_1.bin"] == hashlib.sha256(b"shot one").hexdigest()
    manifest = checksums.write_manifest(files[0].parent / "inputs.sha256", digests)
    assert checksums.read_manifest(manifest) == digests
    checksums.verify(digests, checksums.read_manifest(manifest), manifest)  # no error
    if shutil.which("sha256sum"):  # the format is sha256sum's own
        subprocess.run(["sha256sum", "--check", "--quiet", manifest.name], cwd=manifest.parent, check=True)


def test_a_changed_file_is_named(files):
    expected = checksums.digests(files)
    files[2].write_bytes(b"shot two, truncated download")
    with pytest.raises(checksums.ChecksumError, match=r"^file_2.bin: SHA-256 .* differs from .* nothing was converted"):
        checksums.verify(checksums.digests(files), expected, files[0].parent / "given.sha256")


def test_an_input_the_manifest_does_not_list_is_refused(files):
    expected = checksums.digests(files[:2])
    with pytest.raises(checksums.ChecksumError, match="file_2.bin is not in"):
        checksums.verify(checksums.digests(files), expected, files[0].parent / "given.sha256")


@pytest.mark.parametrize("text, message", [
    ("not a checksum line\n", "is not '<sha256 hex>  <file name>'"),
    ("# only a comment\n", "lists no files"),
])
def test_a_malformed_manifest_is_one_line(tmp_path, text, message):
    path = tmp_path / "bad.sha256"
    path.write_text(text)
    with pytest.raises(checksums.ChecksumError, match=message):
        checksums.read_manifest(path)


# --- hpcx data bp2004


@pytest.fixture
def bp2004(tmp_path, monkeypatch):
    """Fake BP 2004 inputs (3 shots), no bucket check, and the conversion recorded instead of run."""
    monkeypatch.setattr(datasets, "BP2004_SHOTS", 3)
    monkeypatch.setattr(tools.aws_errors, "require_bucket", lambda session, bucket: None)
    converted = []
    monkeypatch.setattr(tools.seismic_data, "prepare_and_upload", lambda *a, **k: converted.append(k) or {"ok": 1})
    velocity = tmp_path / "bp_synthetic_2004_velocity.h5"
    with h5py.File(velocity, "w") as f:
        f["m"] = np.full((4, 5), 0.25, np.float32)
    shots = tmp_path / "shots"
    shots.mkdir()
    for i in range(1, 4):
        (shots / f"bp_observed_data_{i}.segy").write_bytes(f"shot {i}".encode())
    workdir = tmp_path / "work"

    def run(*extra: str):
        args = ["data", "bp2004", "--bucket", "b", "--velocity-h5", str(velocity), "--shots-dir", str(shots),
                "--workdir", str(workdir), "--json", *extra]
        return CliRunner().invoke(cli, args, prog_name="hpcx")

    return run, workdir, shots, converted


def test_a_conversion_writes_the_manifest_of_its_inputs(bp2004):
    run, workdir, shots, converted = bp2004
    result = run()
    assert result.exit_code == 0, result.output
    manifest = checksums.read_manifest(workdir / "bp2004_inputs.sha256")
    assert sorted(manifest) == ["bp_observed_data_1.segy", "bp_observed_data_2.segy", "bp_observed_data_3.segy",
                                "bp_synthetic_2004_velocity.h5"]
    assert manifest["bp_observed_data_2.segy"] == hashlib.sha256(b"shot 2").hexdigest()
    assert len(converted) == 1 and "bp2004_inputs.sha256" in result.stderr


def test_checksums_that_match_let_the_conversion_go_on(bp2004, tmp_path):
    run, workdir, shots, converted = bp2004
    assert run().exit_code == 0
    given = tmp_path / "given.sha256"
    shutil.copy(workdir / "bp2004_inputs.sha256", given)
    result = run("--checksums", str(given))
    assert result.exit_code == 0, result.output
    assert len(converted) == 2 and "every input matches" in result.stderr


def test_a_changed_shot_stops_before_anything_is_converted(bp2004):
    run, workdir, shots, converted = bp2004
    assert run().exit_code == 0
    good = (workdir / "bp2004_inputs.sha256").read_text()
    (shots / "bp_observed_data_3.segy").write_bytes(b"a different shot")
    result = run("--checksums", str(workdir / "bp2004_inputs.sha256"))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: bp_observed_data_3.segy: SHA-256") and result.stderr.count("\n") == 1
    assert len(converted) == 1  # only the first run's
    assert (workdir / "bp2004_inputs.sha256").read_text() == good  # the manifest given is not overwritten


def test_a_missing_shot_is_one_line(bp2004):
    run, workdir, shots, converted = bp2004
    (shots / "bp_observed_data_2.segy").unlink()
    result = run()
    assert result.exit_code == 2
    assert "1 shot files missing" in result.stderr and not converted
