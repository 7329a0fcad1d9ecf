"""The hybrid Ray work's published claim: "up to 20 %" better than Ray's default placement.

No per-bandwidth numbers come with it, so a figure can only draw it as a band below the default's
makespan (default x 0.8 to default), never as measured points.
"""

from __future__ import annotations

from workloads.common.citation import Citation

CITATION = Citation(
    title="Automated Data Management and Learning-Based Scheduling for Ray-Based Hybrid HPC-Cloud Systems",
    authors="Liu, Tao, Lu, Zhu, Ellis, Kokkila-Schumacher, Kindratenko",
    year=2024,
    venue="Euro-Par 2024, LNCS, pp. 180-194",
    where="'up to 20 %' improvement over Ray's default, as its co-author Zhu's UIUC M.S. thesis (2024) states "
          "it; no per-bandwidth values",
)

UP_TO_IMPROVEMENT = 0.20  # makespan at most 20 % shorter than the default's, at the best point
