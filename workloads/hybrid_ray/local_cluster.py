"""A 3-raylet Ray cluster on 127.0.0.1 labelled like the testbed: hpc-login (head), hpc-worker-0, cloud-0.

For tests, the benchmark and demos on one machine. Every raylet binds to 127.0.0.1; all share one file
system and one loopback, so WAN effects come from ``emulated_link``.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import ray
import ray._private.services as ray_services
from ray.cluster_utils import Cluster
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from workloads.hybrid_ray.cluster_labels import (
    ROLE_LOGIN,
    ROLE_WORKER,
    SITE_CLOUD,
    SITE_HPC,
    TRANSFER_RESOURCE,
    TRANSFER_SLOTS_PER_NODE,
    node_labels,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024


@dataclass
class LocalHybridCluster:
    cluster: Cluster
    node_ids: dict[str, str] = field(default_factory=dict)  # node name -> Ray node id
    _nodes: dict[str, object] = field(default_factory=dict)  # node name -> ray._private.node.Node
    object_store_mb: int = 80

    def add_node(self, name: str, site: str, role: str = ROLE_WORKER, num_cpus: int = 1) -> str:
        node = self.cluster.add_node(**_node_args(name, site, role, num_cpus, self.object_store_mb))
        self._nodes[name] = node
        self.node_ids[name] = node.node_id
        return node.node_id

    def remove_node(self, name: str) -> None:
        """Kill a node's raylet and workers (not gracefully), as when an instance disappears."""
        self.cluster.remove_node(self._nodes.pop(name), allow_graceful=False)
        self.node_ids.pop(name)

    def shutdown(self) -> None:
        ray.shutdown()
        self.cluster.shutdown()


@ray.remote(num_cpus=0)
def _warm(modules: list[str], hold_s: float) -> str:
    for name in modules:
        importlib.import_module(name)
    time.sleep(hold_s)  # overlap with the node's other warm-up tasks, so each gets its own worker
    return ray.get_runtime_context().get_node_id()


def warm_up_workers(modules: Sequence[str] = (), per_node: int = 2, hold_s: float = 1.0) -> None:
    """Start ``per_node`` worker processes on every node and import ``modules`` in them.

    The first task on a fresh worker pays for process start and imports (torch: seconds on a small
    machine); measurements should not.
    """
    refs = [
        _warm.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(
            list(modules), hold_s
        )
        for n in ray.nodes()
        if n["Alive"]
        for _ in range(per_node)
    ]
    ray.get(refs)


def _node_args(name: str, site: str, role: str, num_cpus: int, object_store_mb: int) -> dict:
    return {
        "num_cpus": num_cpus,
        "object_store_memory": object_store_mb * MIB,
        "node_ip_address": "127.0.0.1",
        "labels": node_labels(site, role, name),
        "resources": {TRANSFER_RESOURCE: TRANSFER_SLOTS_PER_NODE},
    }


def connect_driver(address: str) -> None:
    """``ray.init`` on a loopback cluster.

    ``ray.init`` rewrites 127.0.0.1 in the address to the machine's outward IP, where nothing listens
    because every raylet was bound to 127.0.0.1; keep the loopback address as given.
    """
    with mock.patch.object(ray_services, "resolve_ip_for_localhost", lambda host: host):
        ray.init(
            address=address,
            _node_ip_address="127.0.0.1",
            # Workers import this package by reference; make sure they find it.
            runtime_env={
                "env_vars": {
                    "PYTHONPATH": os.pathsep.join(
                        filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])
                    )
                }
            },
            logging_level="WARNING",
            log_to_driver=False,
        )


def start_local_cluster(
    *,
    head_cpus: int = 1,
    worker_cpus: int = 1,
    object_store_mb: int = 80,
    fast_failure_detection: bool = True,
) -> LocalHybridCluster:
    """Start hpc-login (head), hpc-worker-0 and cloud-0 and connect this process as the driver."""
    head_args = _node_args("hpc-login", SITE_HPC, ROLE_LOGIN, head_cpus, object_store_mb)
    head_args["include_dashboard"] = False
    # A 1-CPU raylet keeps one idle worker process and kills the rest, but a node here needs two: its
    # compute task and the staging (or reader) task beside it. Restarting workers costs seconds on a small
    # machine, for the scheduler and the baseline alike; the testbed's 16-vCPU nodes keep 16.
    system_config: dict[str, int] = {"num_workers_soft_limit": 4}
    if fast_failure_detection:
        system_config |= {"health_check_period_ms": 500, "health_check_failure_threshold": 3}
    head_args["_system_config"] = system_config
    cluster = Cluster(initialize_head=True, head_node_args=head_args)
    local = LocalHybridCluster(cluster=cluster, object_store_mb=object_store_mb)
    local._nodes["hpc-login"] = cluster.head_node
    local.node_ids["hpc-login"] = cluster.head_node.node_id
    try:
        local.add_node("hpc-worker-0", SITE_HPC, num_cpus=worker_cpus)
        local.add_node("cloud-0", SITE_CLOUD, num_cpus=worker_cpus)
        cluster.wait_for_nodes()
        connect_driver(cluster.address)
    except BaseException:
        cluster.shutdown()
        raise
    return local


@contextmanager
def local_cluster(**kwargs) -> Iterator[LocalHybridCluster]:
    local = start_local_cluster(**kwargs)
    try:
        yield local
    finally:
        local.shutdown()
