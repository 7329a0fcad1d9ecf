"""The LSRTM-SGD state machine exactly as synthesized, run locally (localcloud/lsrtm.py): real handlers,
real worker processes computing Devito gradients, S3/SQS in moto's server, the SQS event source and the
Batch emulator. Small model, so the three runs take about a minute on two cores."""

from __future__ import annotations

import numpy as np
import pytest

from localcloud.lsrtm import LocalSizes, default_input, run

pytestmark = pytest.mark.slow

SMALL = LocalSizes(iterations=3, batchsize=4, num_shots=4, shape=(101, 41), record_ms=700.0)
TIMEOUT_S = 240.0


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("lsrtm-local")  # shared: the synthetic dataset is made once


@pytest.fixture(scope="module")
def baseline(synthesized, workdir):
    return run(synthesized.outdir, workdir=workdir, sizes=SMALL, execution="e2e-baseline", timeout_s=TIMEOUT_S)


def test_the_synthesized_workflow_succeeds_and_the_misfit_decreases(baseline):
    assert baseline.status == "SUCCEEDED", f"{baseline.error}: {baseline.cause}"
    assert SMALL.step_rule == "exact"  # the default
    iterations = baseline.report["iterations"]
    misfits = [entry["misfit"] for entry in iterations]
    assert len(misfits) == SMALL.iterations
    assert all(later < earlier for earlier, later in zip(misfits, misfits[1:], strict=False)), misfits
    assert misfits[-1] < 0.7 * misfits[0], misfits
    # the exact step: the batch misfit drops at every iteration, and with the whole batch each iteration the
    # next iteration measures what the line search predicted
    assert all(e["predicted_misfit"] < e["misfit"] and e["step"] == pytest.approx(e["alpha"]) for e in iterations)
    for entry, following in zip(iterations, iterations[1:], strict=False):
        assert following["misfit"] == pytest.approx(entry["predicted_misfit"], rel=1e-3), iterations
    assert baseline.states.count("MeasureCurvature") == SMALL.iterations
    assert sorted(baseline.images) == [1, 2, 3]
    assert all(np.abs(image).max() > 0 for image in baseline.images.values())
    assert baseline.report["deleted_objects"] > 0  # partial gradients and accumulators cleaned up
    # a gradient and a curvature array job per iteration; the reducer runs at most once per message, far from
    # the seed's busy loop
    assert baseline.submitted_jobs == 2 * SMALL.iterations
    assert baseline.reducer_invocations <= SMALL.iterations * 2 * (SMALL.batchsize + 1)
    assert baseline.retried_children == 0
    assert baseline.states[:2] == ["ValidateInput", "MoreIterations"] and baseline.states[-1] == "Done"
    # every handler, worker and Step Functions call ran under its synthesized role, and none was refused
    assert baseline.denials == [] and baseline.iam["denied"] == 0
    assert baseline.iam["calls_evaluated"] > 100 and baseline.iam["distinct_role_action_pairs"] > 25


def test_the_fixed_rule_skips_the_curvature_state(synthesized, workdir):
    one = LocalSizes(**{**SMALL.__dict__, "iterations": 1, "step_rule": "fixed", "step_length": 1e-4})
    fixed = run(synthesized.outdir, workdir=workdir, sizes=one, execution="e2e-fixed", timeout_s=TIMEOUT_S)
    assert fixed.status == "SUCCEEDED", f"{fixed.error}: {fixed.cause}"
    assert "MeasureCurvature" not in fixed.states and fixed.submitted_jobs == 1
    assert "predicted_misfit" not in fixed.report["iterations"][0]


def test_a_worker_killed_once_is_retried_and_the_result_is_unchanged(synthesized, workdir, baseline):
    one = LocalSizes(**{**SMALL.__dict__, "iterations": 1})
    killed = run(synthesized.outdir, workdir=workdir, sizes=one, execution="e2e-killed", timeout_s=TIMEOUT_S,
                 kill_first_attempt=(1, 1))
    assert killed.status == "SUCCEEDED", f"{killed.error}: {killed.cause}"
    # the name prefix e2e-killed-it1 matches the gradient job and the curvature job: child 1 of each loses
    # its host once
    assert killed.retried_children == 2
    assert sorted(killed.images) == [1], killed.report
    # the same shots (same seed and iteration); only the order of the float32 sum may differ
    scale = np.abs(baseline.images[1]).max()
    np.testing.assert_allclose(killed.images[1], baseline.images[1], rtol=0, atol=1e-5 * scale)
    assert killed.report["iterations"][0]["misfit"] == pytest.approx(baseline.report["iterations"][0]["misfit"])


def test_bad_input_fails_in_validation_and_submits_nothing(synthesized, workdir):
    rejected = run(synthesized.outdir, workdir=workdir, sizes=SMALL, execution="e2e-rejected", timeout_s=TIMEOUT_S,
                   execution_input={**default_input(SMALL), "batchsize": 99})
    assert rejected.status == "FAILED"
    assert rejected.error == "InvalidInput"
    assert "batchsize=99 exceeds data.num_shots=4" in rejected.cause
    assert rejected.submitted_jobs == 0
    assert rejected.states == ["ValidateInput", "InputRejected"]


def test_a_shot_that_fails_for_good_fails_the_execution_with_its_cause_after_clean_up(synthesized, workdir):
    broken = {f"broken/shot_{i}.segy": b"not a SEG-Y file" for i in range(4)}
    one = LocalSizes(**{**SMALL.__dict__, "iterations": 1})
    failed = run(synthesized.outdir, workdir=workdir, sizes=one, execution="e2e-broken", timeout_s=TIMEOUT_S,
                 execution_input={**default_input(one), "data": {"prefix": "broken/", "num_shots": 4}},
                 extra_objects=broken)
    assert failed.status == "FAILED"
    assert failed.states[-2:] == ["CleanUpAfterFailure", "Failed"]
    assert "e2e-broken-it1" in failed.cause  # the failed job is named in the cause, with what to read next
    assert "exit code 1, log stream " in failed.cause and "attempt1.log" in failed.cause
    assert failed.retried_children == 0  # an application error is not retried (Spot reclaims are)
    assert failed.report["status"] == "FAILED" and failed.report["iterations"] == []
