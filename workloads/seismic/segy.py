"""Shot records in SEG-Y (one shot per file, as the original's ``bp_observed_data_<n>.segy``).

Coordinates come from the trace headers with their scalars applied (SEG-Y rev 1: a positive scalar
multiplies, a negative one divides, zero means 1): ``SourceX``/``GroupX`` with ``SourceGroupScalar``,
and depths from ``SourceSurfaceElevation``/``ReceiverGroupElevation`` with ``ElevationScalar``, read as
depth below the datum in m (positive down), as SLIM's BP 2004 files do. The sample interval is in µs
in the file and in ms here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import segyio
from segyio import TraceField

from .errors import SeismicInputError
from .shot import Shot
from .wavelet import Ricker

__all__ = ["read_shot", "write_shot", "apply_scalar"]


def apply_scalar(values: np.ndarray, scalar: np.ndarray) -> np.ndarray:
    """Apply SEG-Y coordinate/elevation scalars to header values."""
    values = np.asarray(values, dtype=np.float64)
    s = np.asarray(scalar, dtype=np.float64)
    factor = np.where(s > 0, s, np.where(s < 0, 1.0 / np.abs(np.where(s == 0, 1, s)), 1.0))
    return values * factor


def read_shot(path: str | Path, *, wavelet: Ricker | None = None) -> Shot:
    """Read one shot gather; raises :class:`SeismicInputError` for files that are not one valid shot."""
    path = Path(path)
    if not path.is_file():
        raise SeismicInputError(f"SEG-Y file {path} does not exist")
    try:
        with segyio.open(path, "r", ignore_geometry=True) as f:
            if f.tracecount == 0:
                raise SeismicInputError(f"{path}: no traces")
            dt_us = float(segyio.tools.dt(f, fallback_dt=0.0))
            data = f.trace.raw[:].T.astype(np.float32)  # (ns, ntraces)

            def header(field: int) -> np.ndarray:
                return np.asarray(f.attributes(field)[:], dtype=np.float64)

            coord_scalar = header(TraceField.SourceGroupScalar)
            elev_scalar = header(TraceField.ElevationScalar)
            sx = apply_scalar(header(TraceField.SourceX), coord_scalar)
            gx = apply_scalar(header(TraceField.GroupX), coord_scalar)
            sz = apply_scalar(header(TraceField.SourceSurfaceElevation), elev_scalar)
            gz = apply_scalar(header(TraceField.ReceiverGroupElevation), elev_scalar)
            delay_ms = header(TraceField.DelayRecordingTime)
    except (RuntimeError, OSError) as exc:  # segyio reports malformed files as RuntimeError
        raise SeismicInputError(f"{path}: not a readable SEG-Y file ({exc})") from exc
    if dt_us <= 0:
        raise SeismicInputError(f"{path}: sample interval missing from the headers")
    if np.ptp(sx) > 1e-6 * max(1.0, np.abs(sx).max()) or np.ptp(sz) > 1e-6 * max(1.0, np.abs(sz).max()):
        raise SeismicInputError(f"{path}: traces have different source positions; expected one shot per file")
    if np.ptp(delay_ms) != 0:
        raise SeismicInputError(f"{path}: traces have different recording delays")
    return Shot(src=np.array([sx[0], sz[0]]), rec=np.stack([gx, gz], axis=1), data=data,
                dt_ms=dt_us / 1000.0, t0_ms=float(delay_ms[0]), wavelet=wavelet or Ricker())


def write_shot(path: str | Path, shot: Shot, *, coordinate_scalar: int = -100, elevation_scalar: int = -100) -> None:
    """Write a shot as IEEE-float SEG-Y; coordinates are stored as integers scaled by the given scalars.

    With the default ``-100`` they keep centimetre precision. ``t0_ms`` must be a whole number of ms
    (the header field is an integer).
    """
    if shot.t0_ms != int(shot.t0_ms):
        raise SeismicInputError(f"SEG-Y stores the recording delay in whole ms, got t0_ms={shot.t0_ms}")
    dt_us = shot.dt_ms * 1000.0
    if abs(dt_us - round(dt_us)) > 1e-6 or not 0 < round(dt_us) < 2**16:
        raise SeismicInputError(f"SEG-Y needs an integer sample interval in µs below 65536, got {dt_us}")

    def encode(value: float, scalar: int) -> int:
        factor = 1.0 / abs(scalar) if scalar < 0 else float(max(scalar, 1))
        encoded = round(value / factor)
        if abs(encoded) >= 2**31:
            raise SeismicInputError(f"coordinate {value} does not fit a SEG-Y header with scalar {scalar}")
        return int(encoded)

    spec = segyio.spec()
    spec.format = 5  # 4-byte IEEE float
    spec.samples = list(range(shot.nt))
    spec.tracecount = shot.nrec
    with segyio.create(str(path), spec) as f:
        f.bin.update(hdt=round(dt_us), hns=shot.nt)
        for i in range(shot.nrec):
            f.header[i] = {
                TraceField.TRACE_SEQUENCE_FILE: i + 1,
                TraceField.SourceGroupScalar: coordinate_scalar,
                TraceField.ElevationScalar: elevation_scalar,
                TraceField.SourceX: encode(shot.src[0], coordinate_scalar),
                TraceField.GroupX: encode(shot.rec[i, 0], coordinate_scalar),
                TraceField.SourceSurfaceElevation: encode(shot.src[1], elevation_scalar),
                TraceField.ReceiverGroupElevation: encode(shot.rec[i, 1], elevation_scalar),
                TraceField.offset: encode(shot.rec[i, 0] - shot.src[0], 1),
                TraceField.TRACE_SAMPLE_INTERVAL: round(dt_us),
                TraceField.TRACE_SAMPLE_COUNT: shot.nt,
                TraceField.DelayRecordingTime: int(shot.t0_ms),
            }
            f.trace[i] = np.ascontiguousarray(shot.data[:, i], dtype=np.float32)
