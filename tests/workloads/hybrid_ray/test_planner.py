"""The placement model alone (no Ray): locality, whole-backlog planning, prefetch limit, learning."""

import pytest

from workloads.hybrid_ray.emulated_link import EmulatedLinks
from workloads.hybrid_ray.estimator import RateEstimator
from workloads.hybrid_ray.planner import Demand, Planner
from workloads.hybrid_ray.topology import HybridTopology

MB = 1_000_000


def _planner(wan_mbit: float, depth: int = 2, speeds: dict[str, float] | None = None) -> Planner:
    links = EmulatedLinks(topology=HybridTopology.standard(wan_mbit=wan_mbit, wan_rtt_ms=0))
    est = RateEstimator()
    for node, rate in (speeds or {}).items():
        est.observe(node, rate, 1.0)
    planner = Planner(
        prefetch_depth=depth, speeds=est, throughput=RateEstimator(), link_seconds_prior=links.seconds
    )
    planner.add_node("hpc", "hpc", 1)
    planner.add_node("cloud", "cloud", 1)
    return planner


def _hpc_jobs(n: int, work: float = 1.0, nbytes: int = 5 * MB) -> list[Demand]:
    # Data on the HPC share: in place on the HPC node, from site hpc for the cloud node.
    return [Demand(f"j{i}", work, nbytes, {"hpc": None, "cloud": "hpc"}) for i in range(n)]


def _placed(launch) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, est in launch:
        counts[est.node_id] = counts.get(est.node_id, 0) + 1
    return counts


def test_slow_link_keeps_every_job_with_its_data():
    # 5 MB at 1 Mbit/s is 40 s; a job computes in 1 s: nothing is worth moving.
    planner = _planner(wan_mbit=1, speeds={"hpc": 1.0, "cloud": 1.0})
    launch = planner.plan(_hpc_jobs(20), now=0.0)
    assert _placed(launch) == {"hpc": 3}  # one running + prefetch depth 2, the rest wait


def test_fast_link_with_a_backlog_uses_the_remote_node():
    # 5 MB at 100 Mbit/s is 0.4 s and overlaps computation: the cloud is worth feeding.
    planner = _planner(wan_mbit=100, speeds={"hpc": 1.0, "cloud": 1.0})
    launch = planner.plan(_hpc_jobs(20), now=0.0)
    assert _placed(launch) == {"hpc": 3, "cloud": 3}
    cloud = [est for _, est in launch if est.node_id == "cloud"]
    assert all(e.needs_transfer for e in cloud)
    # Transfers queue one after another on the node (one transfer slot).
    assert [round(e.ready_at, 2) for e in cloud] == [0.4, 0.8, 1.2]


def test_no_backlog_no_transfer():
    # A single job finishes sooner where its data is, whatever the link.
    planner = _planner(wan_mbit=1000, speeds={"hpc": 1.0, "cloud": 1.0})
    assert _placed(planner.plan(_hpc_jobs(1), now=0.0)) == {"hpc": 1}


def test_outstanding_jobs_count_against_the_prefetch_limit():
    planner = _planner(wan_mbit=1, depth=0, speeds={"hpc": 1.0, "cloud": 1.0})
    ((job_id, est),) = planner.plan(_hpc_jobs(5), now=0.0)
    planner.commit(est, job_id, 1.0)
    assert planner.plan(_hpc_jobs(5)[1:], now=0.1) == []  # the hpc node is full, the cloud not worth it
    planner.finished("hpc", job_id)
    assert len(planner.plan(_hpc_jobs(5)[1:], now=1.0)) == 1


def test_a_node_learned_to_be_slow_gets_less_work():
    even = _placed(_planner(wan_mbit=10_000, speeds={"hpc": 1.0, "cloud": 1.0}).plan(_hpc_jobs(4), 0.0))
    assert even == {"hpc": 2, "cloud": 2}
    # 5 s per job on the cloud: it only pays off for the 6th job, once the hpc node has 5 queued.
    slow_planner = _planner(wan_mbit=10_000, speeds={"hpc": 1.0, "cloud": 0.2})
    assert _placed(slow_planner.plan(_hpc_jobs(5), 0.0)) == {"hpc": 3}
    assert _placed(slow_planner.plan(_hpc_jobs(8), 0.0)) == {"hpc": 3, "cloud": 1}


def test_unknown_nodes_get_a_probe_that_is_cheapest_to_move():
    planner = _planner(wan_mbit=1)  # no speed known anywhere
    demands = _hpc_jobs(3) + [Demand("on-cloud", 1.0, 5 * MB, {"hpc": "cloud", "cloud": None})]
    launch = dict(planner.plan(demands, now=0.0))
    assert launch["on-cloud"].node_id == "cloud" and not launch["on-cloud"].needs_transfer
    assert {launch[j].node_id for j in ("j0", "j1", "j2")} == {"hpc"}


def test_removing_a_node_returns_its_outstanding_jobs():
    planner = _planner(wan_mbit=100, speeds={"hpc": 1.0, "cloud": 1.0})
    for job_id, est in planner.plan(_hpc_jobs(20), now=0.0):
        planner.commit(est, job_id, 1.0)
    lost = planner.remove_node("cloud")
    assert len(lost) == 3 and "cloud" not in planner.nodes
    assert all(est.node_id == "hpc" for _, est in planner.plan(_hpc_jobs(2), now=0.0))


def test_observed_throughput_replaces_the_nominal_link():
    planner = _planner(wan_mbit=100)
    assert planner.transfer_seconds("hpc", "cloud", 5 * MB) == pytest.approx(0.4)
    planner.throughput.observe(("hpc", "cloud"), 5 * MB, 2.0)  # the link turned out 5x slower
    assert planner.transfer_seconds("hpc", "cloud", 5 * MB) == pytest.approx(2.0)


def test_rate_estimator_weights_recent_observations():
    est = RateEstimator(alpha=0.5)
    est.observe("n", 10.0, 1.0)
    est.observe("n", 20.0, 1.0)
    est.observe("n", 5.0, 0.0)  # instantaneous: ignored
    assert est.rate("n") == 15.0 and est.count("n") == 2
    assert est.mean_rate() == 15.0 and est.rate("other") is None
    with pytest.raises(ValueError):
        RateEstimator(alpha=0)


def test_an_overdue_transfer_pushes_back_the_transfers_queued_behind_it():
    # Two 0.4 s transfers committed to the cloud at t=0; at t=2 neither has finished (the link is slower
    # than estimated). The first may end now at the earliest, the second 0.4 s later, so a third
    # cannot be ready before 2.8 s (counting both as ending "now" would say 2.4 s).
    planner = _planner(wan_mbit=100, depth=2, speeds={"hpc": 1.0, "cloud": 1.0})
    demands = [Demand(f"c{i}", 1.0, 5 * MB, {"cloud": "hpc"}) for i in range(2)]
    for job_id, est in planner.plan(demands, now=0.0):
        planner.commit(est, job_id, 1.0)
    assert [round(j.ready_at, 2) for j in planner.nodes["cloud"].jobs] == [0.4, 0.8]
    assert planner.estimate("cloud", 1.0, "hpc", 5 * MB, now=2.0).ready_at == pytest.approx(2.8)
    # Once the first is staged, the link is free for the second only.
    planner.staged("cloud", "c0", now=2.1)
    assert planner.estimate("cloud", 1.0, "hpc", 5 * MB, now=2.1).ready_at == pytest.approx(2.9)


def test_a_congested_link_keeps_the_next_job_on_the_hpc_side():
    # The cloud computes fast (0.1 s a job) and is bound by its link; two 0.4 s transfers are overdue at
    # t=1.5. Behind both of them a third job finishes at 2.4 s on the cloud, but at 2.1 s on the HPC
    # node (0.2 s a job, 2 queued). Counting both transfers as ending "now" said 2.0 s: the cloud.
    planner = _planner(wan_mbit=100, depth=2, speeds={"hpc": 5.0, "cloud": 10.0})
    for i in range(2):
        est = planner.estimate("cloud", 1.0, "hpc", 5 * MB, now=0.0)
        planner.commit(est, f"c{i}", 1.0)
    for i in range(2):
        est = planner.estimate("hpc", 1.0, None, 5 * MB, now=1.5)
        planner.commit(est, f"h{i}", 1.0)
    ((_, est),) = planner.plan(_hpc_jobs(1), now=1.5)
    assert est.node_id == "hpc" and est.finish_at == pytest.approx(2.1)
    assert planner.estimate("cloud", 1.0, "hpc", 5 * MB, now=1.5).finish_at == pytest.approx(2.4)
