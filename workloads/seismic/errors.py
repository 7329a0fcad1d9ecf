"""The one exception type for bad input to the seismic workload."""

from __future__ import annotations

__all__ = ["SeismicInputError"]


class SeismicInputError(ValueError):
    """Input that cannot be imaged: shape or metadata mismatch, NaNs, geometry outside the model, ...

    Raised before any wave propagation starts, with a message that names the offending value.
    """
