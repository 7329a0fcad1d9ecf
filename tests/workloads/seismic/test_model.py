from __future__ import annotations

import numpy as np
import pytest

from workloads.seismic import Model, SeismicInputError, smooth_model, synthetic_model, water_mask


def test_from_velocity_gives_float32_squared_slowness():
    model = Model.from_velocity(np.full((5, 4), 2.0), spacing=(10, 5), origin=(100, 0))
    assert model.m.dtype == np.float32
    np.testing.assert_allclose(model.m, 0.25)
    np.testing.assert_allclose(model.vp, 2.0)
    assert model.shape == (5, 4)
    assert model.extent == ((100.0, 140.0), (0.0, 15.0))


@pytest.mark.parametrize("order", ["C", "F"])
def test_from_arrays_reshapes_flat_data_with_metadata(order):
    values = np.arange(1, 13, dtype=np.float32).reshape(4, 3)
    flat = values.ravel(order=order)
    model = Model.from_arrays(flat, shape=(4, 3), spacing=(6.25, 6.25), order=order)
    np.testing.assert_array_equal(model.m, values)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"m": np.ones(12), "shape": (5, 3)}, "needs 15"),
        ({"m": np.ones((4, 3)), "shape": (3, 4)}, "does not match"),
        ({"m": np.ones(12), "shape": ("a", 3)}, "shape must be"),
    ],
)
def test_from_arrays_rejects_metadata_mismatch(kwargs, message):
    with pytest.raises(SeismicInputError, match=message):
        Model.from_arrays(spacing=(1, 1), **kwargs)


@pytest.mark.parametrize(
    ("m", "spacing", "message"),
    [
        (np.ones(10), (1, 1), "2-D"),
        (np.ones((2, 5)), (1, 1), "at least 3"),
        (np.where(np.eye(4, dtype=bool), np.nan, 1.0), (1, 1), "4 NaN"),
        (-np.ones((4, 4)), (1, 1), "positive"),
        (np.ones((4, 4)), (0, 1), "spacing"),
        (np.ones((4, 4)), (1,), "two finite numbers"),
    ],
)
def test_model_validation(m, spacing, message):
    with pytest.raises(SeismicInputError, match=message):
        Model(m=m, spacing=spacing)


def test_model_array_is_read_only():
    model = Model(m=np.ones((4, 4)), spacing=(1, 1))
    with pytest.raises(ValueError):
        model.m[0, 0] = 2.0


def test_npz_round_trip(tmp_path):
    model = synthetic_model((30, 20), (12.5, 10.0))
    model = Model(m=model.m, spacing=model.spacing, origin=(50.0, 0.0))
    model.save_npz(tmp_path / "m.npz")
    back = Model.load_npz(tmp_path / "m.npz")
    np.testing.assert_array_equal(back.m, model.m)
    assert back.spacing == model.spacing and back.origin == model.origin


def test_window_moves_the_origin():
    model = Model(m=np.ones((10, 4)), spacing=(5, 5), origin=(100, 0))
    sub = model.window_x(slice(3, 8))
    assert sub.shape == (5, 4)
    assert sub.origin == (115.0, 0.0)
    with pytest.raises(SeismicInputError):
        model.window_x(slice(3, 4))


def test_water_mask_stops_at_the_sea_floor():
    vp = np.full((3, 6), 1.49)
    vp[:, 2:] = 2.0
    vp[1, 4] = 1.45  # slow cell below the sea floor is not water
    mask = water_mask(Model.from_velocity(vp, spacing=(1, 1)))
    assert mask[:, :2].all()
    assert not mask[:, 2:].any()


def test_synthetic_model_structure_any_size():
    for shape in [(40, 24), (1201, 401)]:
        model = synthetic_model(shape, (12.5, 12.5), seed=3)
        assert model.shape == shape
        vp = model.vp
        np.testing.assert_allclose(vp[:, 0], 1.49, rtol=1e-6)  # water on top
        assert np.isclose(vp.max(), 4.5, rtol=1e-5)  # salt
        assert water_mask(model)[:, 0].all() and not water_mask(model)[:, -1].any()
    np.testing.assert_array_equal(synthetic_model((40, 24), seed=3).m, synthetic_model((40, 24), seed=3).m)
    assert not np.array_equal(synthetic_model((40, 24), seed=3).m, synthetic_model((40, 24), seed=4).m)


def test_smooth_model_keeps_the_water_and_removes_sharp_contrasts():
    model = synthetic_model((80, 50), (10.0, 10.0))
    smooth = smooth_model(model, 80.0)
    water = water_mask(model)
    np.testing.assert_array_equal(smooth.m[water], model.m[water])
    below = ~water
    assert np.abs(np.diff(smooth.vp, axis=1))[below[:, 1:]].max() < np.abs(np.diff(model.vp, axis=1)).max() / 3
