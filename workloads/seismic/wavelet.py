"""Source wavelets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import SeismicInputError

__all__ = ["Ricker"]


@dataclass(frozen=True)
class Ricker:
    """Ricker wavelet with peak frequency ``peak_frequency_hz`` delayed by ``delay_ms`` (default 1/f0)."""

    peak_frequency_hz: float = 20.0
    delay_ms: float | None = None

    def __post_init__(self) -> None:
        if not np.isfinite(self.peak_frequency_hz) or self.peak_frequency_hz <= 0:
            raise SeismicInputError(f"peak frequency must be positive, got {self.peak_frequency_hz}")

    @property
    def delay(self) -> float:
        """Delay of the peak in ms."""
        return 1000.0 / self.peak_frequency_hz if self.delay_ms is None else float(self.delay_ms)

    @property
    def max_frequency_hz(self) -> float:
        """Highest frequency with energy that matters: the spectrum is 3 % of its peak at 2.5 f0."""
        return 2.5 * self.peak_frequency_hz

    def sample(self, times_ms: np.ndarray) -> np.ndarray:
        """Wavelet values at ``times_ms`` (float32)."""
        r = np.pi * (self.peak_frequency_hz / 1000.0) * (np.asarray(times_ms, dtype=np.float64) - self.delay)
        return ((1.0 - 2.0 * r**2) * np.exp(-(r**2))).astype(np.float32)
