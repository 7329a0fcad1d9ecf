"""`hpcx status`: the collectors against AWS-shaped responses (Stubber for Step Functions and Batch, moto for
the run's S3 objects), the rendering, and the command's bad input, JSON and errors."""

from __future__ import annotations

import io
import json
import zipfile

import boto3
import numpy as np
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from rich.console import Console

from hpcx.status import collect as collect_module
from hpcx.status import command
from hpcx.status.collect import ExecutionArn, collect
from hpcx.status.render import render
from hpcx.status.s3_ranges import RangedObject
from tests.cli.status_responses import (
    REGION,
    History,
    array_job,
    described,
    execution_arn,
    lsrtm_history,
    machine_arn,
    map_run,
)
from workloads.lsrtm import layout
from workloads.lsrtm.reduction import Accumulator

BUCKET = "hpcx-batch-databucket"
LSRTM = "hpcx-LSRTM-SGD"
RUN = {"run_id": "run-1", "bucket": BUCKET, "iteration": 0, "iterations": 4}
ARN = execution_arn(LSRTM, "run-1")
HISTORY_CALL = {"executionArn": ARN, "reverseOrder": True, "maxResults": 1000, "includeExecutionData": True}


@pytest.fixture
def aws():
    """Stubbed stepfunctions and batch clients, and a moto S3 holding the run's bucket."""
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        sfn, batch = boto3.client("stepfunctions", region_name=REGION), boto3.client("batch", region_name=REGION)
        with Stubber(sfn) as sfn_stub, Stubber(batch) as batch_stub:
            yield sfn, sfn_stub, batch, batch_stub, s3
            sfn_stub.assert_no_pending_responses()
            batch_stub.assert_no_pending_responses()


def no_calls(client):
    """The client with a Stubber holding no responses: any call fails the test."""
    Stubber(client).activate()
    return client


def stub_history(sfn_stub, history: History, page_size: int, arn: str = ARN) -> None:
    for i, page in enumerate(history.pages(page_size)):
        params = {**HISTORY_CALL, "executionArn": arn, **({"nextToken": f"page-{i}"} if i else {})}
        sfn_stub.add_response("get_execution_history", page, params)


def put_iteration(s3, iteration: int, *, shots: list[int], job_ids: list[str], summed: set[int] | None) -> None:
    manifest = {"run_id": "run-1", "iteration": iteration, "shots": shots, "step_size": 1.0, "step_rule": "fixed",
                "task_token": "token", "job_ids": job_ids}
    s3.put_object(Bucket=BUCKET, Key=layout.manifest_key("run-1", iteration), Body=json.dumps(manifest).encode())
    if summed is not None:
        acc = Accumulator(total=np.ones(50_000, np.float32), shots=summed, misfit=1.0)
        s3.put_object(Bucket=BUCKET, Key=layout.accumulator_key("run-1", iteration), Body=acc.to_bytes())


def text_of(snap) -> str:
    console = Console(record=True, width=140, file=io.StringIO())
    console.print(render(snap))
    return console.export_text()


def test_a_running_iteration_shows_its_array_children_and_the_reducer(aws):
    sfn, sfn_stub, batch, batch_stub, s3 = aws
    sfn_stub.add_response("describe_execution", described(LSRTM, "run-1", "RUNNING"), {"executionArn": ARN})
    history = lsrtm_history(RUN, misfits=[12.5], computing=True)
    stub_history(sfn_stub, history, page_size=5)  # three pages: each must be asked for with the last token
    put_iteration(s3, 2, shots=[3, 9, 1, 4, 6, 0, 12, 7], job_ids=["job-it2"], summed={1, 4, 6})
    batch_stub.add_response("describe_jobs", {"jobs": [array_job(
        "job-it2", "run-1-it2", {"SUCCEEDED": 3, "RUNNING": 2, "RUNNABLE": 3})]}, {"jobs": ["job-it2"]})

    snap = collect(ExecutionArn.parse(ARN), sfn, batch, s3)

    assert len(history.pages(5)) == 3 and snap.events == len(history.events)
    assert (snap.experiment, snap.status, snap.current_state) == ("LSRTM-SGD", "RUNNING", "ComputeGradient")
    assert (snap.iteration, snap.iterations, snap.misfits) == (2, 4, {1: 12.5})
    assert snap.batch.counts["SUCCEEDED"] == 3 and snap.batch.counts["RUNNABLE"] == 3
    assert (snap.batch.done, snap.batch.total) == (3, 8)
    assert (snap.reducer.summed, snap.reducer.expected) == (3, 8)
    text = text_of(snap)
    assert "3/8 shots' gradients summed" in text and "1/4 done, computing 2" in text and "runnable 3" in text


def test_the_exact_rules_curvature_stage_shows_its_own_jobs_and_sums(aws):
    from workloads.lsrtm.line_search import CurvatureSums

    sfn, sfn_stub, batch, batch_stub, s3 = aws
    sfn_stub.add_response("describe_execution", described(LSRTM, "run-1", "RUNNING"), {"executionArn": ARN})
    history = lsrtm_history(RUN, misfits=[12.5], computing=True)
    state = {**RUN, "iteration": 1, "misfit": 12.5}
    history.state("TaskStateExited", "ComputeGradient", output={**state, "last": {"iteration": 2, "misfit": 9.5}})
    history.state("ChoiceStateEntered", "ExactStep", input=state).state("ChoiceStateExited", "ExactStep")
    history.state("TaskStateEntered", "MeasureCurvature", input=state)
    stub_history(sfn_stub, history, page_size=1000)
    put_iteration(s3, 2, shots=[3, 9, 1, 4], job_ids=["job-it2"], summed={1, 3, 4, 9})
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=layout.manifest_key("run-1", 2))["Body"].read())
    manifest.update(step_rule="exact", curvature_token="token-2", curvature_job_ids=["curv-it2"])
    s3.put_object(Bucket=BUCKET, Key=layout.manifest_key("run-1", 2), Body=json.dumps(manifest).encode())
    sums = CurvatureSums({3: (1.0, 2.0)})
    s3.put_object(Bucket=BUCKET, Key=layout.curvature_key("run-1", 2), Body=sums.to_bytes())
    batch_stub.add_response("describe_jobs", {"jobs": [array_job(
        "curv-it2", "run-1-it2-curvature", {"SUCCEEDED": 1, "RUNNING": 3})]}, {"jobs": ["curv-it2"]})

    snap = collect(ExecutionArn.parse(ARN), sfn, batch, s3)

    assert (snap.current_state, snap.stage, snap.iteration) == ("MeasureCurvature", "curvature", 2)
    assert snap.batch.job_ids == ["curv-it2"] and (snap.batch.done, snap.batch.total) == (1, 4)
    assert (snap.reducer.summed, snap.reducer.expected) == (1, 4)
    text = text_of(snap)
    assert "batch it2 curvature" in text and "1/4 shots' line-search terms summed" in text


def test_a_finished_run_lists_every_misfit_and_reads_nothing_else(aws):
    sfn, sfn_stub, batch, _, s3 = aws
    sfn_stub.add_response("describe_execution", described(LSRTM, "run-1", "SUCCEEDED", stop_after_s=3600),
                          {"executionArn": ARN})
    history = lsrtm_history(RUN, misfits=[12.5, 9.0, 7.25, 6.5], computing=False)
    history.state("ChoiceStateEntered", "MoreIterations").state("TaskStateEntered", "CleanUp")
    history.state("TaskStateExited", "CleanUp").state("SucceedStateEntered", "Done")
    history.add("ExecutionSucceeded", executionSucceededEventDetails={"output": "{}"})
    stub_history(sfn_stub, history, page_size=1000)

    snap = collect(ExecutionArn.parse(ARN), sfn, batch, no_calls(s3))

    assert snap.finished and snap.stop is not None
    assert snap.misfits == {1: 12.5, 2: 9.0, 3: 7.25, 4: 6.5}
    assert snap.batch is None and snap.reducer is None
    text = text_of(snap)
    assert "4/4 done" in text and "it4 6.5" in text and "1:00:00" in text


def test_a_failed_run_shows_the_error_its_cause_and_where_it_stopped(aws):
    sfn, sfn_stub, batch, batch_stub, s3 = aws
    cause = "shot 9 of iteration 3 failed after 3 attempts: OutOfMemoryError: Container killed due to memory usage"
    sfn_stub.add_response("describe_execution", described(
        LSRTM, "run-1", "FAILED", stop_after_s=900, error="GradientJobFailed", cause=cause), {"executionArn": ARN})
    history = lsrtm_history(RUN, misfits=[12.5, 9.0], computing=True)
    history.add("TaskFailed", taskFailedEventDetails={"resourceType": "lambda", "resource": "invoke.waitForTaskToken",
                                                      "error": "GradientJobFailed", "cause": cause})
    history.state("TaskStateEntered", "CleanUpAfterFailure").state("TaskStateExited", "CleanUpAfterFailure")
    history.state("FailStateEntered", "Failed")
    history.add("ExecutionFailed", executionFailedEventDetails={"error": "GradientJobFailed", "cause": cause})
    stub_history(sfn_stub, history, page_size=1000)
    put_iteration(s3, 3, shots=list(range(8)), job_ids=["job-it3"], summed=None)  # clean-up deleted the sum
    batch_stub.add_response("describe_jobs", {"jobs": [array_job(
        "job-it3", "run-1-it3", {"SUCCEEDED": 6, "FAILED": 2}, status="FAILED")]}, {"jobs": ["job-it3"]})

    snap = collect(ExecutionArn.parse(ARN), sfn, batch, s3)

    assert (snap.status, snap.error, snap.cause) == ("FAILED", "GradientJobFailed", cause)
    assert (snap.iteration, snap.misfits) == (3, {1: 12.5, 2: 9.0})
    assert snap.batch.counts["FAILED"] == 2 and snap.reducer is None
    text = text_of(snap)
    assert "error GradientJobFailed: shot 9 of iteration 3 failed" in text and "failed 2" in text


def test_automon_counts_its_inline_map_iterations(aws):
    sfn, sfn_stub, batch, _, s3 = aws
    machine = "hpcx-AutoMon-Experiment"
    arn = execution_arn(machine, "a-1")
    sfn_stub.add_response("describe_execution", described(machine, "a-1", "RUNNING"), {"executionArn": arn})
    h = History().add("ExecutionStarted", executionStartedEventDetails={"input": "{}"})
    h.state("MapStateEntered", "RunExperiments").add("MapStateStarted", mapStateStartedEventDetails={"length": 3})
    for i in range(3):
        h.add("MapIterationStarted", mapIterationStartedEventDetails={"name": "RunExperiments", "index": i})
    h.add("MapIterationSucceeded", mapIterationSucceededEventDetails={"name": "RunExperiments", "index": 0})
    h.add("MapIterationFailed", mapIterationFailedEventDetails={"name": "RunExperiments", "index": 2})
    h.state("TaskStateEntered", "StartCoordinator")
    stub_history(sfn_stub, h, page_size=1000, arn=arn)

    snap = collect(ExecutionArn.parse(arn), sfn, batch, s3)

    assert snap.experiment == "AutoMon" and snap.current_state == "StartCoordinator"
    [runs] = snap.maps
    assert (runs.name, runs.total, runs.succeeded, runs.failed, runs.running) == ("RunExperiments", 3, 1, 1, 1)


def test_cosmicai_reads_its_distributed_map_run(aws):
    sfn, sfn_stub, batch, _, s3 = aws
    machine = "hpcx-cosmicai"
    arn = execution_arn(machine, "c-1")
    sfn_stub.add_response("describe_execution", described(machine, "c-1", "RUNNING"), {"executionArn": arn})
    run_arn = map_run(4, 2, 2)["mapRunArn"]
    h = History().add("ExecutionStarted", executionStartedEventDetails={"input": "{}"})
    h.state("MapStateEntered", "RunRanks").add("MapStateStarted", mapStateStartedEventDetails={"length": 4})
    h.add("MapRunStarted", mapRunStartedEventDetails={"mapRunArn": run_arn})
    stub_history(sfn_stub, h, page_size=1000, arn=arn)
    sfn_stub.add_response("describe_map_run", map_run(4, 2, 2), {"mapRunArn": run_arn})

    snap = collect(ExecutionArn.parse(arn), sfn, batch, s3)

    assert snap.experiment == "cosmicai"
    assert [(m.name, m.total, m.succeeded, m.running) for m in snap.maps] == [("RunRanks", 4, 2, 2)]
    assert "2 succeeded, 0 failed, 2 running of 4" in text_of(snap)


def test_the_summed_shots_are_read_without_downloading_the_gradient_sum():
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        body = Accumulator(total=np.ones(1_000_000, np.float32), shots={2, 5}, misfit=3.0).to_bytes()
        s3.put_object(Bucket=BUCKET, Key="acc.npz", Body=body)
        view = RangedObject(s3, BUCKET, "acc.npz", block=16 * 1024)
        with zipfile.ZipFile(view) as archive, archive.open("shots.npy") as member:
            assert set(np.lib.format.read_array(member).tolist()) == {2, 5}
        assert view.requests * 16 * 1024 < len(body) / 20  # a few blocks of a 4 MB object
        assert collect_module.accumulated_shots(s3, BUCKET, "acc.npz") == {2, 5}
        assert collect_module.accumulated_shots(s3, BUCKET, "missing.npz") == set()


# --- the command


class FakeSession:
    def __init__(self, **clients) -> None:
        self.clients = clients

    def get_credentials(self):
        return object()

    def client(self, name: str):
        return self.clients[name]


def test_help_names_the_forms_of_execution(hpcx):
    result = hpcx("status", "--help")
    assert result.exit_code == 0
    assert "--stack" in result.output and "--interval" in result.output and "--once" in result.output


@pytest.mark.parametrize("args, message", [
    (["arn:aws:states:us-east-1:123:execution:x"], "is not an execution ARN"),
    (["arn:aws:states:us-east-1:123456789012:stateMachine:hpcx-LSRTM-SGD"], "is not an execution ARN"),
    (["run-1"], "name its stack with --stack"),
    (["run 1", "--stack", "hpcx-batch"], "is not an execution name"),
    ([ARN, "--region", "eu-west-1"], "differs from the ARN's region us-east-1"),
    ([ARN, "--interval", "0"], "--interval"),
])
def test_bad_input_exits_2_before_any_aws_call(hpcx, forbid, args, message):
    forbid(command, "_session")
    result = hpcx("status", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_no_credentials_is_one_line(hpcx, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = hpcx("status", ARN)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: no AWS credentials found") and result.stderr.count("\n") == 1


def test_an_unknown_execution_is_one_line(hpcx, monkeypatch):
    sfn = boto3.client("stepfunctions", region_name=REGION)
    with Stubber(sfn) as stub:
        stub.add_client_error("describe_execution", "ExecutionDoesNotExist", f"Execution Does Not Exist: '{ARN}'")
        monkeypatch.setattr(command, "_session", lambda region: FakeSession(stepfunctions=sfn, batch=None, s3=None))
        result = hpcx("status", ARN, "--json")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: DescribeExecution: Execution Does Not Exist") and "check the ARN" in result.stderr
    assert result.stdout == ""


def test_json_prints_the_snapshot_once(hpcx, aws, monkeypatch):
    sfn, sfn_stub, batch, batch_stub, s3 = aws
    sfn_stub.add_response("describe_execution", described(LSRTM, "run-1", "RUNNING"), {"executionArn": ARN})
    stub_history(sfn_stub, lsrtm_history(RUN, misfits=[12.5], computing=True), page_size=1000)
    put_iteration(s3, 2, shots=list(range(8)), job_ids=["job-it2"], summed={0, 1, 2})
    batch_stub.add_response("describe_jobs", {"jobs": [array_job("job-it2", "run-1-it2", {"RUNNING": 8})]},
                            {"jobs": ["job-it2"]})
    monkeypatch.setattr(command, "_session", lambda region: FakeSession(stepfunctions=sfn, batch=batch, s3=s3))

    result = hpcx("status", ARN, "--json")

    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert {"execution_arn", "experiment", "status", "start", "stop", "error", "cause", "current_state", "iteration",
            "iterations", "misfits", "batch", "reducer", "maps", "events"} <= set(doc)
    assert (doc["status"], doc["iteration"], doc["misfits"]) == ("RUNNING", 2, {"1": 12.5})
    assert doc["batch"]["counts"]["RUNNING"] == 8 and doc["batch"]["job_ids"] == ["job-it2"]
    assert doc["reducer"] == {"summed": 3, "expected": 8}


def test_a_run_id_is_found_through_the_stacks_state_machines(hpcx, aws, monkeypatch):
    sfn, sfn_stub, batch, _, s3 = aws
    multi = "hpcx-LSRTM-SGD-MultiNode"
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    outputs = [{"OutputKey": "StateMachineArn", "OutputValue": machine_arn(LSRTM)},
               {"OutputKey": "MultiNodeStateMachineArn", "OutputValue": machine_arn(multi)},
               {"OutputKey": "DataBucket", "OutputValue": BUCKET}]
    arn = execution_arn(multi, "run-1")
    sfn_stub.add_client_error("describe_execution", "ExecutionDoesNotExist", expected_params={"executionArn": ARN})
    sfn_stub.add_response("describe_execution", described(multi, "run-1", "SUCCEEDED", stop_after_s=60),
                          {"executionArn": arn})
    sfn_stub.add_response("describe_execution", described(multi, "run-1", "SUCCEEDED", stop_after_s=60),
                          {"executionArn": arn})
    stub_history(sfn_stub, lsrtm_history(RUN, misfits=[5.0], computing=False), page_size=1000, arn=arn)
    with Stubber(cloudformation) as cfn_stub:
        cfn_stub.add_response("describe_stacks", {"Stacks": [{
            "StackName": "hpcx-batch", "CreationTime": described(LSRTM, "x", "RUNNING")["startDate"],
            "StackStatus": "UPDATE_COMPLETE", "Outputs": outputs}]}, {"StackName": "hpcx-batch"})
        monkeypatch.setattr(command, "_session", lambda region: FakeSession(
            stepfunctions=sfn, batch=batch, s3=s3, cloudformation=cloudformation))
        result = hpcx("status", "run-1", "--stack", "hpcx-batch", "--once")
    assert result.exit_code == 0, result.output
    assert "LSRTM-SGD  run-1  SUCCEEDED" in result.stdout and "it1 5" in result.stdout


def _snapshot(**changes):
    snap = collect_module.Snapshot(
        execution_arn=ARN, name="run-1", state_machine=LSRTM, experiment="LSRTM-SGD", status="RUNNING",
        start="2026-12-01T10:00:00+00:00", stop=None, iteration=2, iterations=4, misfits={1: 12.5},
        reducer=collect_module.ReducerProgress(3, 8))
    for key, value in changes.items():
        setattr(snap, key, value)
    return snap


def test_the_live_view_refreshes_until_the_execution_ends(monkeypatch):
    frames = iter([_snapshot(reducer=collect_module.ReducerProgress(6, 8)),
                   _snapshot(status="SUCCEEDED", stop="2026-12-01T10:30:00+00:00", reducer=None,
                             misfits={1: 12.5, 2: 9.0, 3: 7.0, 4: 6.5})])
    sleeps = []
    monkeypatch.setattr(command.time, "sleep", sleeps.append)
    out = io.StringIO()
    command._watch(Console(file=out, width=120), _snapshot(), lambda: next(frames), 5.0)
    assert sleeps == [5.0, 5.0]  # two refreshes, then the execution had ended
    assert "SUCCEEDED" in out.getvalue() and "4/4 done" in out.getvalue() and out.getvalue().endswith("\n")


def test_ctrl_c_stops_watching_without_a_traceback(capsys, monkeypatch):
    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(command.time, "sleep", lambda s: None)
    command._watch(Console(file=io.StringIO()), _snapshot(), interrupted, 5.0)
    assert "stopped watching; the execution goes on" in capsys.readouterr().err


def test_a_multi_node_iteration_counts_one_job_per_shot_in_calls_of_at_most_100(aws):
    _, _, batch, batch_stub, _ = aws
    ids = [f"job-{i}" for i in range(150)]
    for chunk, status in ((ids[:100], "SUCCEEDED"), (ids[100:], "RUNNING")):
        jobs = [{k: v for k, v in array_job(i, "run-1-it1-shot", {}, status=status).items() if k != "arrayProperties"}
                for i in chunk]
        batch_stub.add_response("describe_jobs", {"jobs": jobs}, {"jobs": chunk})
    progress = collect_module.batch_progress(batch, ids)
    assert (progress.counts["SUCCEEDED"], progress.counts["RUNNING"], progress.total) == (100, 50, 150)


def test_nested_maps_started_by_interleaved_branches_add_to_their_own_totals(aws):
    sfn, sfn_stub, batch, _, s3 = aws
    machine = "hpcx-AutoMon-Experiment"
    arn = execution_arn(machine, "a-2")
    sfn_stub.add_response("describe_execution", described(machine, "a-2", "RUNNING"), {"executionArn": arn})
    h = History().add("ExecutionStarted", executionStartedEventDetails={"input": "{}"})
    h.state("MapStateEntered", "RunExperiments").add("MapStateStarted", mapStateStartedEventDetails={"length": 2})
    first = len(h.state("MapStateEntered", "RunNodes").events)  # experiment 0's nodes
    h.state("MapStateEntered", "RunExperiments")  # an unrelated Map entered in between (another branch)
    h.add("MapStateStarted", mapStateStartedEventDetails={"length": 10})
    h.events[-1]["previousEventId"] = first  # ...started by experiment 0's RunNodes
    stub_history(sfn_stub, h, page_size=1000, arn=arn)

    snap = collect(ExecutionArn.parse(arn), sfn, batch, s3)

    assert {m.name: m.total for m in snap.maps} == {"RunExperiments": 2, "RunNodes": 10}


def test_access_denied_is_one_line_naming_the_call(hpcx, monkeypatch):
    sfn = boto3.client("stepfunctions", region_name=REGION)
    with Stubber(sfn) as stub:
        stub.add_client_error("describe_execution", "AccessDeniedException", "User: x is not authorized to perform: "
                              "states:DescribeExecution", http_status_code=400)
        monkeypatch.setattr(command, "_session", lambda region: FakeSession(stepfunctions=sfn, batch=None, s3=None))
        result = hpcx("status", ARN)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: DescribeExecution was refused (AccessDeniedException)")


def test_a_run_id_without_a_region_says_to_pass_one(hpcx, monkeypatch, tmp_path):
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = hpcx("status", "run-1", "--stack", "hpcx-batch")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "no AWS region configured" in result.stderr and "--region" in result.stderr
