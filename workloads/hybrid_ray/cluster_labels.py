"""Node labels and custom resources: the one definition shared by bootstrap, scheduler and tests.

Every raylet is started with ``site``, ``role`` and ``node`` labels (stock Ray ``--labels``), and with one
unit of the ``transfer_slot`` resource so that at most one staging transfer runs per node at a time (the
original fork used a ``binding`` resource for the same purpose).
"""

from __future__ import annotations

SITE_LABEL = "site"
ROLE_LABEL = "role"
NODE_LABEL = "node"

SITE_HPC = "hpc"
SITE_CLOUD = "cloud"
ROLE_LOGIN = "login"
ROLE_WORKER = "worker"

TRANSFER_RESOURCE = "transfer_slot"
TRANSFER_SLOTS_PER_NODE = 1

# Compute tasks run on workers only; the login node hosts the driver and the parameter server, as in the
# original testbed where the head had 2 CPUs and every task asked for more.
WORKER_SELECTOR: dict[str, str] = {ROLE_LABEL: ROLE_WORKER}


def node_labels(site: str, role: str, node: str) -> dict[str, str]:
    """The labels one node is started with."""
    return {SITE_LABEL: site, ROLE_LABEL: role, NODE_LABEL: node}
