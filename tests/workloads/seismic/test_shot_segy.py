from __future__ import annotations

import numpy as np
import pytest
import segyio

from workloads.seismic import Model, Ricker, SeismicInputError, Shot, read_shot, resample_traces, write_shot
from workloads.seismic.segy import apply_scalar


def make_shot(nt=50, nrec=7, dt=2.0) -> Shot:
    rng = np.random.default_rng(0)
    rec = np.stack([np.linspace(10.25, 990.75, nrec), np.full(nrec, 12.5)], axis=1)
    return Shot(src=(500.33, 7.5), rec=rec, data=rng.standard_normal((nt, nrec)), dt_ms=dt, wavelet=Ricker(12.0))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"data": np.zeros((10, 3))}, r"\(nt, 7\)"),
        ({"data": np.full((10, 7), np.nan)}, "70 NaN"),
        ({"rec": np.zeros((7, 3))}, r"\(nrec, 2\)"),
        ({"src": (1.0, np.inf)}, "source position"),
        ({"dt_ms": 0.0}, "dt_ms"),
        ({"t0_ms": -1.0}, "t0_ms"),
    ],
)
def test_shot_validation(kwargs, message):
    base = make_shot()
    fields = {"src": base.src, "rec": base.rec, "data": base.data, "dt_ms": base.dt_ms} | kwargs
    with pytest.raises(SeismicInputError, match=message):
        Shot(**fields)


def test_shot_outside_the_model_is_reported():
    model = Model(m=np.ones((101, 21)), spacing=(10, 10))  # x in [0, 1000], z in [0, 200]
    shot = make_shot()
    shot.check_inside(model)
    with pytest.raises(SeismicInputError, match="source"):
        Shot(src=(1200.0, 10.0), rec=shot.rec, data=shot.data, dt_ms=2.0).check_inside(model)
    rec = shot.rec.copy()
    rec[3, 1] = 250.0
    with pytest.raises(SeismicInputError, match="1 receivers .*#3"):
        Shot(src=shot.src, rec=rec, data=shot.data, dt_ms=2.0).check_inside(model)


def test_apply_scalar_follows_segy_rules():
    np.testing.assert_allclose(apply_scalar([12345, 12345, 12345], [-100, 10, 0]), [123.45, 123450, 12345])


@pytest.mark.parametrize("scalar", [-100, -1000, 10])
def test_segy_round_trip_applies_the_scalars(tmp_path, scalar):
    shot = make_shot()
    if scalar > 0:  # a positive scalar only represents multiples of itself
        shot = Shot(src=(500.0, 10.0), rec=np.round(shot.rec, -1), data=shot.data, dt_ms=2.0, wavelet=shot.wavelet)
    path = tmp_path / "shot.segy"
    write_shot(path, shot, coordinate_scalar=scalar, elevation_scalar=scalar)
    with segyio.open(path, ignore_geometry=True) as f:  # raw headers hold scaled integers
        assert f.header[0][segyio.TraceField.SourceGroupScalar] == scalar
        raw = f.header[2][segyio.TraceField.GroupX]
    assert np.isclose(apply_scalar(raw, scalar), shot.rec[2, 0], atol=abs(scalar) if scalar > 0 else 1 / abs(scalar))
    back = read_shot(path, wavelet=shot.wavelet)
    tol = 1.0 / abs(scalar) if scalar < 0 else 0.0
    np.testing.assert_allclose(back.src, shot.src, atol=tol)
    np.testing.assert_allclose(back.rec, shot.rec, atol=tol)
    np.testing.assert_array_equal(back.data, shot.data)
    assert back.dt_ms == 2.0 and back.t0_ms == 0.0 and back.wavelet == shot.wavelet


def test_segy_with_two_sources_is_rejected(tmp_path):
    path = tmp_path / "two.segy"
    write_shot(path, make_shot())
    with segyio.open(path, "r+", ignore_geometry=True) as f:
        f.header[4] = {segyio.TraceField.SourceX: 1}
    with pytest.raises(SeismicInputError, match="one shot per file"):
        read_shot(path)


def test_unreadable_segy_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.segy"
    path.write_bytes(b"not a segy file" * 10)
    with pytest.raises(SeismicInputError, match="not a readable SEG-Y"):
        read_shot(path)
    with pytest.raises(SeismicInputError, match="does not exist"):
        read_shot(tmp_path / "missing.segy")


def test_cubic_resampling_of_band_limited_traces():
    dt_in, dt_out = 4.0, 1.3
    t_in = np.arange(0, 1000.0 + dt_in / 2, dt_in)
    signal = np.stack([np.sin(2 * np.pi * 0.012 * t_in), np.cos(2 * np.pi * 0.02 * t_in)], axis=1)
    out = resample_traces(signal, dt_in, dt_out)
    t_out = np.arange(out.shape[0]) * dt_out
    assert t_out[-1] <= 1000.0 < t_out[-1] + dt_out
    expected = np.stack([np.sin(2 * np.pi * 0.012 * t_out), np.cos(2 * np.pi * 0.02 * t_out)], axis=1)
    assert np.abs(out - expected).max() < 2e-3
    np.testing.assert_array_equal(resample_traces(signal, 2.0, 2.0), signal.astype(np.float32))
