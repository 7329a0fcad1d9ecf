"""Physics sanity of forward modelling: arrival times (units) and the absorbing boundary."""

from __future__ import annotations

import numpy as np

from workloads.seismic import Model, Ricker, synthetic_shot


def test_direct_wave_arrives_at_offset_over_velocity_and_boundaries_absorb():
    v = 2.0  # km/s = m/ms
    model = Model.from_velocity(np.full((121, 61), v), spacing=(10.0, 10.0))
    wavelet = Ricker(15.0)
    src = np.array([200.0, 300.0])
    rec = np.array([[800.0, 300.0], [200.0, 420.0]])
    shot = synthetic_shot(model, src, rec, record_ms=900.0, wavelet=wavelet, absorbing_layer=30)
    times = np.arange(shot.nt) * shot.dt_ms
    for i, distance in enumerate([600.0, 120.0]):
        trace = shot.data[:, i]
        expected = wavelet.delay + distance / v
        # In 2-D the direct wave has a tail (the Green's function is 1/sqrt(t² - r²/v²)); its peak comes
        # a few ms after the wavelet peak.
        peak = times[np.argmax(np.abs(trace))]
        assert expected - 2.0 < peak < expected + 25.0
        assert np.abs(trace[times < expected - 80.0]).max() < 1e-3 * np.abs(trace).max()  # causal: nothing early
    # The homogeneous model has no reflectors: what comes back from the 600 m far model edge is
    # boundary reflection and must be small.
    trace = shot.data[:, 1]
    direct = np.abs(trace).max()
    late = np.abs(trace[times > wavelet.delay + 120.0 / v + 250.0]).max()
    assert late < 0.02 * direct
