"""What a campaign will cost before it is launched: jobs, instance-hours and dollars, from the plans alone.

Each run's instance time comes from the paper's own measurements of the same kind of run (published.json),
so the estimate says what it rests on:
- an execution of the workflow (weak, cost, resilience) on N instances: the published weak-scaling job
  time (start-up included) at the nearest published instance count, per instance;
- a direct job (openmp, mpi, hybrid): the published start-up of one instance plus the published kernel
  (openmp, mpi) or container (hybrid) time of that setting, per node.
Prices: the published per-instance-hour prices (spot for a Spot queue, on-demand otherwise), with their
source and date; an instance type without a published price is reported, not guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reproduce.cost import instance_cost
from reproduce.outputs import Deployment
from reproduce.plans import Plan
from reproduce.published import Published, load

CONFIRM_ABOVE_USD = 5.0  # a launch estimated above this asks before submitting (unless --yes)
SECONDS_PER_HOUR = 3600.0


@dataclass
class RunEstimate:
    run_id: str
    instance_type: str
    instances: int
    seconds_per_instance: float
    price_per_hour: float | None
    basis: str

    @property
    def instance_hours(self) -> float:
        return self.instances * self.seconds_per_instance / SECONDS_PER_HOUR

    @property
    def usd(self) -> float | None:
        if self.price_per_hour is None:
            return None
        return instance_cost(self.instances * self.seconds_per_instance, self.price_per_hour)


@dataclass
class Estimate:
    runs: list[RunEstimate]
    price_source: str
    unpriced: list[str] = field(default_factory=list)  # instance types without a published price

    @property
    def jobs(self) -> int:
        return len(self.runs)

    @property
    def instance_runs(self) -> int:
        return sum(r.instances for r in self.runs)

    @property
    def instance_hours(self) -> float:
        return sum(r.instance_hours for r in self.runs)

    @property
    def usd(self) -> float:
        return sum(r.usd or 0.0 for r in self.runs)

    def needs_confirmation(self, threshold: float = CONFIRM_ABOVE_USD) -> bool:
        return self.usd > threshold or bool(self.unpriced)

    def as_dict(self) -> dict:
        return {
            "run_count": self.jobs, "instance_runs": self.instance_runs,
            "instance_hours": round(self.instance_hours, 2), "usd": round(self.usd, 2),
            "price_source": self.price_source, "unpriced_instance_types": self.unpriced,
            "confirm_above_usd": CONFIRM_ABOVE_USD,
            "runs": [{"run_id": r.run_id, "instance_type": r.instance_type, "instances": r.instances,
                      "seconds_per_instance": round(r.seconds_per_instance, 1),
                      "instance_hours": round(r.instance_hours, 3), "price_per_hour": r.price_per_hour,
                      "usd": None if r.usd is None else round(r.usd, 3), "basis": r.basis} for r in self.runs],
        }


def _nearest(points: list[int], value: int) -> int:
    """Index of the published point closest to `value` (ties: the larger, the dearer)."""
    return min(range(len(points)), key=lambda i: (abs(points[i] - value), -points[i]))


def estimate(plans: list[Plan], deployment: Deployment, published: Published | None = None) -> Estimate:
    pub = published or load()
    prices = pub.spot_prices.price_per_hour
    runs, unpriced = [], []
    for plan in plans:
        queue = deployment.queue(plan.queue)
        instance_type = queue.instance_types[0]
        instances, seconds, basis = _instance_time(plan, queue.hyperthreading, instance_type, pub)
        price = prices.get(instance_type)
        per_hour = None if price is None else (price.spot if queue.spot else price.on_demand)
        if per_hour is None and instance_type not in unpriced:
            unpriced.append(instance_type)
        runs.append(RunEstimate(plan.run_id, instance_type, instances, seconds, per_hour, basis))
    return Estimate(runs, pub.spot_prices.source, unpriced)


def _instance_time(plan: Plan, hyperthreading: bool, instance_type: str, pub: Published) -> tuple[int, float, str]:
    weak = pub.weak_scaling
    startup = weak.startup_s[0]
    p = plan.parameters
    if plan.experiment in ("weak", "cost", "resilience"):
        n = int(p["batchsize"])
        i = _nearest(weak.instances, n)
        return n, weak.job_s[i], f"published weak-scaling job time at {weak.instances[i]} instance(s)"
    if plan.experiment == "openmp":
        series = "Batch, hyper-threading on" if hyperthreading else "Batch, hyper-threading off"
        cores, kernel = pub.openmp_scaling.cores, pub.openmp_scaling.kernel_s[series]
        known = [i for i, v in enumerate(kernel) if v is not None]
        i = min(known, key=lambda j: (abs(cores[j] - int(p["threads"])), -cores[j]))
        return 1, startup + kernel[i], f"published start-up + {series} kernel at {cores[i]} cores"
    if plan.experiment == "mpi":
        nodes = int(p["nodes"])
        mpi = pub.mpi_scaling
        series = instance_type if instance_type in mpi.kernel_s else max(mpi.kernel_s, key=lambda k: max(mpi.kernel_s[k]))
        i = _nearest(mpi.nodes, nodes)
        return nodes, startup + mpi.kernel_s[series][i], f"published start-up + {series} MPI kernel at {mpi.nodes[i]} node(s)"
    case = pub.hybrid.case(str(p["case"]))
    return 1, startup + case.container_s, f"published start-up + container time of hybrid case {case.case}"


def summary_line(est: Estimate) -> str:
    unpriced = f"; no published price for {', '.join(est.unpriced)}" if est.unpriced else ""
    return (f"{est.jobs} run(s), {est.instance_runs} instance-run(s), {est.instance_hours:.1f} instance-hours, "
            f"about ${est.usd:.2f}{unpriced} (prices: {est.price_source})")
