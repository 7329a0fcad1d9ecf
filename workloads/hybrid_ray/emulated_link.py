"""Emulated WAN for single-machine runs: a throttle in the transfer code.

On the testbed, ``tc netem`` (see ``netem``) shapes the real network, and this module is switched off
(pass ``None`` where an ``EmulatedLinks`` is expected). On one machine every raylet shares the loopback,
so a transfer between sites instead sleeps until ``RTT/2 + bytes / bandwidth`` has passed since it
started. Each transfer is throttled on its own: concurrent transfers on one link do not share its
bandwidth (the scheduler runs one transfer per node; the baseline one fetch per CPU).
"""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict

from workloads.hybrid_ray.topology import HybridTopology


class EmulatedLinks(BaseModel):
    model_config = ConfigDict(frozen=True)

    topology: HybridTopology

    def seconds(self, src_site: str, dst_site: str, nbytes: int) -> float:
        """Time the emulated link takes to move ``nbytes``; 0 for a pair without a link."""
        link = self.topology.link(src_site, dst_site)
        if link is None:
            return 0.0
        return link.rtt_ms / 2000.0 + nbytes * 8 / (link.bandwidth_mbit * 1e6)

    def throttle(self, src_site: str, dst_site: str, nbytes: int, started: float) -> float:
        """Sleep out the rest of the emulated duration of a transfer that began at ``started``
        (``time.monotonic()``); returns the seconds slept."""
        remaining = started + self.seconds(src_site, dst_site, nbytes) - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)
            return remaining
        return 0.0
