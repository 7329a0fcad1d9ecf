"""The cost model reproduces the paper's numbers (reference section 12) from its inputs."""

from __future__ import annotations

import pytest

from reproduce import cost
from reproduce.published import load

PUB = load()


def _hundred_shot_runtimes(seed: int = 0) -> list[float]:
    f = PUB.fixed_cluster
    return cost.runtimes_like(f.shots, f.runtime_sum_s, f.runtime_std_s, f.runtime_min_s, f.runtime_max_s, seed)


def test_stand_in_runtimes_have_the_published_statistics():
    f = PUB.fixed_cluster
    runtimes = _hundred_shot_runtimes()
    assert len(runtimes) == f.shots
    assert sum(runtimes) == pytest.approx(f.runtime_sum_s, abs=1.0)
    assert sum(runtimes) / len(runtimes) == pytest.approx(f.runtime_mean_s, abs=0.05)
    assert (min(runtimes), max(runtimes)) == (f.runtime_min_s, f.runtime_max_s)


def test_batch_costs_1_82_for_the_100_shot_gradient():
    f = PUB.fixed_cluster
    assert round(cost.batch_cost(_hundred_shot_runtimes(), f.price_per_hour), 2) == f.batch_cost_usd == 1.82


@pytest.mark.parametrize("instances", [1, 100])
def test_greedy_cluster_reproduces_the_published_ends(instances):
    # one instance runs everything in sequence; 100 instances wait for the longest shot: both depend
    # only on the published sum and maximum, so the greedy schedule must give the table's values
    f = PUB.fixed_cluster
    row = next(r for r in f.cluster if r.instances == instances)
    c = cost.fixed_cluster(_hundred_shot_runtimes(), instances, f.price_per_hour)
    assert c.time_to_solution_s == pytest.approx(row.time_to_solution_s, abs=0.5)
    assert round(c.cost, 2) == row.cost_usd
    assert round(c.vs_batch, 2) == row.vs_batch
    assert c.idle_s / 60 == pytest.approx(row.idle_min, abs=0.5)


def test_100_node_cluster_costs_1_63_times_batch():
    f = PUB.fixed_cluster
    c = cost.fixed_cluster(_hundred_shot_runtimes(seed=7), 100, f.price_per_hour)
    assert round(c.vs_batch, 2) == 1.63


@pytest.mark.parametrize("row", PUB.fixed_cluster.cluster, ids=lambda r: f"N={r.instances}")
def test_cluster_cost_from_the_published_time_to_solution(row):
    f = PUB.fixed_cluster
    c = cost.cluster_for_time_to_solution(row.instances, row.time_to_solution_s, f.runtime_sum_s, f.price_per_hour)
    # the table rounds times to whole seconds (387 for 387.4 s): x 100 instances that moves the idle
    # time by up to a minute and the cost and ratio in their last digit
    assert c.cost == pytest.approx(row.cost_usd, abs=0.011)
    assert c.vs_batch == pytest.approx(row.vs_batch, abs=0.011)
    assert c.idle_s / 60 == pytest.approx(row.idle_min, abs=1.5)


@pytest.mark.parametrize("instances", [10, 20])
def test_greedy_schedule_of_stand_in_runtimes_is_near_the_published_table(instances):
    # the real runtimes are not published; runtimes with the same statistics schedule within 6 % when
    # each instance runs many jobs. (At N = 50, two jobs each, the result depends on the job order,
    # which the paper does not give: the stand-in gives 660 s for the published 607 s.)
    f = PUB.fixed_cluster
    row = next(r for r in f.cluster if r.instances == instances)
    tts = cost.greedy_time_to_solution(_hundred_shot_runtimes(), instances)
    assert tts == pytest.approx(row.time_to_solution_s, rel=0.06)


def test_greedy_schedule_on_a_hand_worked_case():
    # jobs in order 5, 3, 3, 2 on two instances: A 5; B 3, then 3 (B free at 3) -> 6; then 2 on A -> 7
    assert cost.greedy_time_to_solution([5, 3, 3, 2], 2) == 7
    assert cost.greedy_time_to_solution([5, 3, 3, 2], 1) == 13
    assert cost.greedy_time_to_solution([5, 3, 3, 2], 10) == 5
    with pytest.raises(ValueError):
        cost.greedy_time_to_solution([1.0], 0)


def test_weak_scaling_cost_per_instance_and_total():
    w = PUB.weak_scaling
    assert round(cost.batch_cost([w.container_s[0]], w.price_per_hour), 3) == w.cost_usd[0]
    assert round(cost.batch_cost([w.container_s[-1]] * w.instances[-1], w.price_per_hour), 2) == w.cost_usd[-1]
    startup = [j - c - r for j, c, r in zip(w.job_s, w.container_s, w.reduction_s, strict=True)]
    assert startup == pytest.approx(w.startup_s, abs=0.5)


@pytest.mark.parametrize("itype", ["r5.24xlarge", "c5n.18xlarge"])
def test_mpi_cost_per_gradient(itype):
    m = PUB.mpi_scaling
    one, sixteen = m.container_s_1_and_16_nodes[itype]
    prices = m.price_per_hour[itype]
    assert cost.multi_node_cost(1, one, prices.on_demand) == pytest.approx(m.cost_per_gradient_usd[itype][0], abs=0.006)
    # the 16-node container time is rounded to whole seconds in the reference
    assert cost.multi_node_cost(16, sixteen, prices.on_demand) == pytest.approx(m.cost_per_gradient_usd[itype][-1], abs=0.02)
    assert round(cost.multi_node_cost(1, one, prices.spot), 2) == m.single_instance_spot_cost_usd[itype]


def test_full_sgd_run_ec2_and_step_functions():
    s = PUB.sgd_cost
    run = cost.SgdRun(iterations=s.iterations, batchsize=s.batchsize, container_s=s.container_s,
                      lambda_invocations=s.lambda_invocations, lambda_memory_mb=s.lambda_memory_mb,
                      lambda_mean_duration_s=0.1, state_transitions=cost.seed_state_transitions(s.iterations, 600),
                      sqs_requests=s.lambda_invocations)
    assert cost.seed_state_transitions(30, 600) == 2 + 6 * 30 + 3 + 1200
    b = run.breakdown(s.price_per_hour.on_demand, s.price_per_hour.spot)
    assert b["EC2 on-demand"] == pytest.approx(s.cost_usd["EC2 on-demand"], rel=0.01)
    assert b["EC2 spot"] == pytest.approx(s.cost_usd["EC2 spot"], rel=0.02)
    assert round(b["Step Functions"], 2) == s.cost_usd["Step Functions"]
    assert b["SQS"] == pytest.approx(s.cost_usd["SQS"], abs=0.01)
    # the services are a few percent of the spot bill (the paper: about 2 %)
    assert 0.005 < cost.services_share(b) < 0.05


def test_lambda_cost_formula():
    run = cost.SgdRun(iterations=1, batchsize=1, container_s=0, lambda_invocations=1_000_000, lambda_memory_mb=1024,
                      lambda_mean_duration_s=1.0, state_transitions=0, sqs_requests=0)
    # 1 M requests = $0.20, plus 1 M GB-s at $0.0000166667
    assert run.breakdown(1, 1)["Lambda"] == pytest.approx(0.20 + 16.6667, rel=1e-4)
