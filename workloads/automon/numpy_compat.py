"""NumPy 2 names the ``automon`` package still calls, restored before it is imported.

The package (hsivan/automon, last commit c62415f, 2023) was written for NumPy 1.21. Its coordinator's
lazy sync calls ``np.alltrue``, which NumPy 2.0 removed: on our pinned NumPy every lazy sync raised
AttributeError. ``np.alltrue`` was an alias of ``np.all`` (deprecated in 1.25), so restoring the alias
is exact. Only names the package uses are restored, and only where NumPy lacks them.
"""

from __future__ import annotations

import numpy as np

# name removed in NumPy 2 -> the function it was an alias of
REMOVED_ALIASES = {"alltrue": np.all}


def apply() -> list[str]:
    """Restore the missing aliases on the ``numpy`` module; returns the names it added."""
    added = []
    for name, target in REMOVED_ALIASES.items():
        if not hasattr(np, name):
            setattr(np, name, target)
            added.append(name)
    return added
