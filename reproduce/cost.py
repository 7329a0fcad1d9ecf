"""Cost models of the paper: Batch pays for container time, a fixed cluster pays for being up.

- Batch: each job runs on its own instance and pays for its container time only,
  cost = sum(container seconds) x price. It does not depend on how many instances run at once.
- Fixed cluster of N instances with greedy scheduling (each job, in order, goes to the instance that
  frees up first): everyone pays until the last job ends, cost = N x time to solution x price.
- A full LS-RTM run with SGD: EC2 for the gradients plus the serverless services around them.

Prices are USD per instance-hour; times are seconds.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

SECONDS_PER_HOUR = 3600.0


def instance_cost(seconds: float, price_per_hour: float) -> float:
    return seconds * price_per_hour / SECONDS_PER_HOUR


def batch_cost(container_seconds: Sequence[float], price_per_hour: float) -> float:
    """What Batch bills for a set of jobs: every container's time, nothing while idle."""
    return instance_cost(float(sum(container_seconds)), price_per_hour)


def greedy_time_to_solution(runtimes: Sequence[float], instances: int) -> float:
    """List scheduling: jobs in the given order, each to the instance that becomes free first."""
    if instances < 1:
        raise ValueError(f"a cluster needs at least one instance, got {instances}")
    if any(r < 0 for r in runtimes):
        raise ValueError("runtimes must not be negative")
    free_at = [0.0] * min(instances, max(len(runtimes), 1))
    for runtime in runtimes:
        start = heapq.heappop(free_at)
        heapq.heappush(free_at, start + runtime)
    return max(free_at)


@dataclass(frozen=True)
class ClusterCost:
    instances: int
    time_to_solution_s: float
    busy_s: float
    price_per_hour: float

    @property
    def cost(self) -> float:
        return instance_cost(self.instances * self.time_to_solution_s, self.price_per_hour)

    @property
    def idle_s(self) -> float:
        """Instance-seconds paid for while waiting for the slowest instance."""
        return self.instances * self.time_to_solution_s - self.busy_s

    @property
    def batch_cost(self) -> float:
        return instance_cost(self.busy_s, self.price_per_hour)

    @property
    def vs_batch(self) -> float:
        return self.cost / self.batch_cost


def fixed_cluster(runtimes: Sequence[float], instances: int, price_per_hour: float) -> ClusterCost:
    """A cluster of `instances` that runs `runtimes` with greedy scheduling."""
    return ClusterCost(instances, greedy_time_to_solution(runtimes, instances), float(sum(runtimes)), price_per_hour)


def cluster_for_time_to_solution(
    instances: int, time_to_solution_s: float, busy_s: float, price_per_hour: float
) -> ClusterCost:
    """The same accounting when only the time to solution is known (the paper's table gives no runtimes)."""
    if time_to_solution_s * instances < busy_s:
        raise ValueError("time to solution x instances cannot be less than the busy time")
    return ClusterCost(instances, time_to_solution_s, busy_s, price_per_hour)


def multi_node_cost(nodes: int, container_s: float, price_per_hour: float) -> float:
    """An MPI gradient pays for every node for the job's container time."""
    return instance_cost(nodes * container_s, price_per_hour)


# --- a full LS-RTM run: EC2 and the serverless services ----------------------------------------------


@dataclass(frozen=True)
class ServicePrices:
    """us-east-1 list prices (USD) of the services around the gradients; check current pricing."""

    lambda_per_request: float = 0.20 / 1e6
    lambda_per_gb_s: float = 0.0000166667
    sqs_per_request: float = 0.40 / 1e6
    step_functions_per_transition: float = 0.025 / 1000
    s3_per_put: float = 0.005 / 1000
    s3_per_get: float = 0.0004 / 1000
    s3_per_gb_month: float = 0.023


def seed_state_transitions(iterations: int, wait_polls: int) -> int:
    """State transitions of the seed's LSRTM-SGD machine: 2 to start, 6 per iteration, 3 to finish, and
    2 per 60-s polling round while a gradient is computed (the reference counts 1200 for 10 hours)."""
    return 2 + 6 * iterations + 3 + 2 * wait_polls


@dataclass(frozen=True)
class SgdRun:
    iterations: int
    batchsize: int
    container_s: float
    lambda_invocations: int
    lambda_memory_mb: int
    lambda_mean_duration_s: float
    state_transitions: int
    sqs_requests: int
    s3_puts: int = 0
    s3_gets: int = 0
    s3_gb_months: float = 0.0

    @property
    def instance_seconds(self) -> float:
        return self.iterations * self.batchsize * self.container_s

    def breakdown(self, on_demand_per_hour: float, spot_per_hour: float,
                  prices: ServicePrices = ServicePrices()) -> dict[str, float]:
        gb_s = self.lambda_invocations * self.lambda_mean_duration_s * self.lambda_memory_mb / 1024
        return {
            "EC2 on-demand": instance_cost(self.instance_seconds, on_demand_per_hour),
            "EC2 spot": instance_cost(self.instance_seconds, spot_per_hour),
            "Lambda": self.lambda_invocations * prices.lambda_per_request + gb_s * prices.lambda_per_gb_s,
            "SQS": self.sqs_requests * prices.sqs_per_request,
            "Step Functions": self.state_transitions * prices.step_functions_per_transition,
            "S3": self.s3_puts * prices.s3_per_put + self.s3_gets * prices.s3_per_get
            + self.s3_gb_months * prices.s3_per_gb_month,
        }


SERVICES = ("Lambda", "SQS", "Step Functions", "S3")


def services_share(breakdown: dict[str, float], ec2: str = "EC2 spot") -> float:
    """The serverless services' cost as a fraction of the EC2 bill."""
    return sum(breakdown[s] for s in SERVICES) / breakdown[ec2]


def runtimes_like(count: int, total: float, std: float, low: float, high: float, seed: int = 0) -> list[float]:
    """Stand-in runtimes with a published count, sum, spread, minimum and maximum.

    The paper reports only these statistics of its 100-shot run; the greedy schedule of a cluster with
    N >= count instances (time to solution = the longest job) or N = 1 (the sum) depends on nothing
    else, and for other N it is a model of the published table, not its data.
    """
    import numpy as np

    mean = total / count
    if count < 3 or not low < mean < high:
        raise ValueError("need at least 3 runtimes and low < mean < high")
    rng = np.random.default_rng(seed)
    middle = np.clip(rng.normal(mean, std, count - 2), low, high)
    # shift the middle so that the whole set has the published sum
    target = total - low - high
    middle = np.clip(middle + (target - middle.sum()) / middle.size, low, high)
    values = [low, *middle.tolist(), high]
    rng.shuffle(values)
    return [float(v) for v in values]
