"""AutoMon's published traffic against centralization on AWS, per monitored function.

The paper gives the real-deployment result as a figure of messages and traffic per error bound; the
numbers here are its end points (the smallest and the largest error bound run on AWS), recomputed from
the AWS results committed with the original code (hsivan/automon at c62415f,
experiments/visualization/aws_results/<type>/), as that figure plots them. Traffic reduction is
1 - AutoMon's bytes / centralization's bytes (nethogs' counts there; negative: AutoMon sent more).
"""

from __future__ import annotations

from dataclasses import dataclass

from workloads.common.citation import Citation

CITATION = Citation(
    title="AutoMon: Automatic Distributed Monitoring for Arbitrary Multivariate Functions",
    authors="H. Sivan, M. Gabel, A. Schuster",
    year=2022,
    venue="SIGMOD",
    where="section 'Validation on Real-World Deployment' (AWS figure), end points recomputed from the "
          "committed AWS results",
)


@dataclass(frozen=True)
class PublishedReduction:
    node_type: str
    centralization_messages: int
    automon_messages: tuple[int, int]  # at the smallest and at the largest error bound
    error_bounds: tuple[float, float] | None  # those two bounds; None: the results do not say which
    traffic_reduction: tuple[float, float]  # fractions, at the same two bounds


REDUCTIONS: dict[str, PublishedReduction] = {
    r.node_type: r for r in (
        PublishedReduction("inner_product", 10_020, (13_421, 689), (0.02, 0.8), (-0.58, 0.886)),
        PublishedReduction("quadratic", 10_020, (13_117, 669), (0.015, 1.0), (-0.41, 0.90)),
        PublishedReduction("kld", 357_624, (424_028, 59_335), None, (-0.49, 0.83)),
        PublishedReduction("dnn", 302_795, (224_595, 4_016), (0.002, 0.05), (0.31, 0.988)),
    )
}
# over every (function, error bound) point where AutoMon sent no more messages than centralization
MEAN_REDUCTION = 0.653
MAX_REDUCTION = 0.988
