"""External data: readers on tiny files in the real formats, and the fetch command without a network."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from workloads.automon import datasets
from workloads.automon.config import RunConfig
from workloads.automon.data import event_log

HEADER = "No,year,month,day,hour,PM2.5,PM10,SO2,NO2,CO,O3,TEMP,PRES,DEWP,RAIN,wd,WSPM,station"


def _station_csv(station: str, pm: list[tuple[str, str]]) -> str:
    rows = [f"{i + 1},2013,3,1,{i},{pm25},{pm10},4,7,300,77,-0.7,1023,-18.8,0,NNW,4.4,{station}"
            for i, (pm25, pm10) in enumerate(pm)]
    return "\n".join([HEADER, *rows]) + "\n"


def _write_air_quality(root: Path) -> None:
    folder = root / "air_quality"
    folder.mkdir(parents=True)
    for k, station in enumerate(datasets.AIR_QUALITY_STATIONS):
        pm = [(str(10 * k + i), str(100 * i + 1)) for i in range(5)]
        pm.insert(1, ("NA", "3"))  # a row with a missing value is dropped
        (folder / datasets.AIR_QUALITY_FILE.format(station=station)).write_text(_station_csv(station, pm))


def test_air_quality_rows_become_round_robin_bins(tmp_path):
    _write_air_quality(tmp_path)
    log = datasets.load_air_quality(tmp_path, num_nodes=3, rounds=4, skip_rounds=1, bins=10)
    assert log.owners.tolist() == [0, 1, 2] * 4
    # station k, kept row i (i = 1..4 after skipping one): PM10 = 100 i + 1 -> P, PM2.5 = 10 k + i -> Q
    expected = [[datasets.bin_pm(np.array([100.0 * i + 1]), 10)[0], datasets.bin_pm(np.array([10.0 * k + i]), 10)[0]]
                for i in range(1, 5) for k in range(3)]
    np.testing.assert_array_equal(log.points, expected)


def test_air_quality_too_short_is_reported(tmp_path):
    _write_air_quality(tmp_path)
    with pytest.raises(ValueError, match="need 10"):
        datasets.load_air_quality(tmp_path, num_nodes=2, rounds=10, skip_rounds=0, bins=10)


def _kdd_row(service: str, duration: int) -> str:
    return ",".join([str(duration), "tcp", service, "SF", *(["1"] * 37), "normal."])


def _write_kdd(root: Path, services: list[str]) -> Path:
    (root / "kdd").mkdir(parents=True, exist_ok=True)
    path = root / "kdd" / datasets.KDD_FILE
    path.write_text("\n".join(_kdd_row(s, i) for i, s in enumerate(services)) + "\n")
    return path


def test_kdd_rows_are_coded_normalized_and_split_by_service(tmp_path):
    services = ["ecr_i"] * 25 + ["private"] * 10 + ["http"] * 5 + ["smtp", "ftp"] * 3
    rng = np.random.default_rng(0)
    services = list(rng.permutation(services))
    path = _write_kdd(tmp_path, services)
    features, read_services = datasets.read_kdd(path)
    assert features.shape == (46, 41) and read_services == services
    i = services.index("smtp")
    assert features[i, :4].tolist() == [i, 1, 19, 1]  # duration, tcp, smtp, SF
    owners = datasets.kdd_owners(services)
    ecr = [owners[k] for k, s in enumerate(services) if s == "ecr_i"]
    assert ecr[:10] == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]
    assert {owners[k] for k, s in enumerate(services) if s in ("smtp", "ftp")} == {8}


def test_window_prefix_interleaves_the_last_window_rows_of_each_node():
    owners = np.array([0, 0, 0, 1, 0, 1, 1, 0, 1])
    order = datasets.window_prefix(owners, num_nodes=2, window=2)
    # node 1's second row is index 5 (its third, which the window needs before, is 6): cut at 6
    assert order.tolist() == [2, 3, 4, 5, 6, 7, 8]
    assert owners[order][:4].tolist() == [0, 1, 0, 1]


def test_kdd_event_log_through_the_run_config(tmp_path):
    services = (["ecr_i"] * 5 + ["private"] * 2 + ["http", "smtp"]) * 4
    _write_kdd(tmp_path, services)
    cfg = RunConfig.for_type("dnn", iterations=26, window=2, data_dir=tmp_path)
    log = datasets.load_kdd(tmp_path, samples=cfg.iterations, skip_rows=0, window=2)
    assert len(log.owners) == 26
    assert log.owners[:18].tolist() == list(range(9)) * 2
    # 36 rows; the cut is row 26 (node 8's third row) and 18 of the 26 rows before it stay: 28 samples
    with pytest.raises(ValueError, match="--iterations 28"):
        datasets.load_kdd(tmp_path, samples=30, skip_rows=0, window=2)
    np.testing.assert_allclose(np.linalg.norm(log.points, axis=1), 1.0)
    # through the config the original's tuning rows (500 per node) are skipped first: too few here
    with pytest.raises(ValueError):
        event_log(cfg)


def test_missing_data_names_the_fetch_command(tmp_path):
    cfg = RunConfig.for_type("kld", data_dir=tmp_path)
    with pytest.raises(datasets.DataSetMissing, match="python -m workloads.automon.datasets fetch air_quality"):
        event_log(cfg)


def test_fetch_reports_every_url_that_failed(tmp_path):
    def offline(url: str, timeout: float) -> bytes:
        raise OSError("Name or service not known")

    with pytest.raises(RuntimeError) as err:
        datasets.fetch("kdd", tmp_path, opener=offline)
    text = str(err.value)
    for url in datasets.DATA_SETS["kdd"].urls:
        assert url in text
    assert str(tmp_path / "kdd") in text and "by hand" in text


def test_fetch_unpacks_nested_zips_and_gzip(tmp_path):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        for name in datasets.DATA_SETS["air_quality"].files:
            z.writestr(f"PRSA_Data_20130301-20170228/{name}", HEADER + "\n")
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w") as z:
        z.writestr("PRSA2017_Data_20130301-20170228.zip", inner.getvalue())
    served = {datasets.DATA_SETS["air_quality"].urls[0]: outer.getvalue(),
              datasets.DATA_SETS["kdd"].urls[0]: gzip.compress(b"kdd rows\n")}

    def fake(url: str, timeout: float) -> bytes:
        return served[url]

    datasets.fetch("air_quality", tmp_path, opener=fake)
    datasets.fetch("kdd", tmp_path, opener=fake)
    assert datasets.missing_files("air_quality", tmp_path) == []
    assert (tmp_path / "kdd" / "corrected").read_bytes() == b"kdd rows\n"


def test_status_command(tmp_path, capsys):
    _write_kdd(tmp_path, ["http"])
    assert datasets.main(["status", "--data-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "kdd: complete" in out and "air_quality: missing 12 of 12" in out
