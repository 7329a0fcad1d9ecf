"""The Cosmic AI (CAI) paper's throughput on Lambda, as samples per second against ranks.

The paper reports throughput in bits of input tensor per second; one AstroMAE sample's image is
5 x 32 x 32 float32 = 163,840 bits, which turns bits/s into samples/s. Like our `samples_per_s` (the sum
of the ranks' inference throughput), the paper's aggregate excludes cold starts, S3 downloads and model
loading.
"""

from __future__ import annotations

from dataclasses import dataclass

from workloads.common.citation import Citation

CITATION = Citation(
    title="Scalable Cosmic AI Inference using Cloud Serverless Computing with FMI",
    authors="M. Staylor, A. Dolatpour Fathkouhi, M. K. Islam, K. O'Hara, R. G. Goudjil, G. Fox, J. Fox",
    year=2025,
    venue="arXiv 2501.06249",
    where="peak throughput (abstract; 12.6 GB in 25 MB partitions) and the per-rank throughput of the "
          "100 MB-partition runs (batch 512)",
)

BITS_PER_SAMPLE = 5 * 32 * 32 * 32  # the image tensor the paper's throughput counts, float32


@dataclass(frozen=True)
class PublishedThroughput:
    ranks: int
    samples_per_s: float  # the value drawn
    low: float | None  # a range the paper gives (None: a single value)
    high: float | None
    what: str


def _from_bits(bits_per_s: float) -> float:
    return bits_per_s / BITS_PER_SAMPLE


PER_RANK_100MB = (155.0, 255.0)  # samples/s of one rank, 100 MB partitions = 130 ranks for 12.6 GB
POINTS: tuple[PublishedThroughput, ...] = (
    PublishedThroughput(130, 130 * sum(PER_RANK_100MB) / 2, 130 * PER_RANK_100MB[0], 130 * PER_RANK_100MB[1],
                        "130 ranks x 155-255 samples/s per rank (100 MB partitions)"),
    PublishedThroughput(517, _from_bits(18.04e9), None, None, "peak 18.04 Gbit/s, 517 ranks (25 MB partitions)"),
)
