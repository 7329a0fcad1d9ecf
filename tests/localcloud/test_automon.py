"""End to end: the AutoMon experiment state machine as the app synthesizes it (4 inner_product nodes), run
locally by localcloud.automon: real handlers, a real coordinator process and one node process per
ecs:runTask.sync, ZeroMQ over 127.0.0.1, results uploaded to moto's S3 by the container entrypoint."""

from __future__ import annotations

import json
import signal

import pytest

from localcloud.automon import LOOPBACK, MACHINE_SUFFIX, STACK, LocalSizes, run
from localcloud.lambdas import load_handler
from localcloud.services.template import REPO_ROOT, SynthesizedStack
from workloads.automon.constants import NODE_TYPES

pytestmark = pytest.mark.slow

NODES, ROUNDS, WINDOW = 4, 30, 5
SIZES = LocalSizes(iterations=ROUNDS, window=WINDOW)
CENTRALIZATION = {"algorithm": "centralization", "node_types": ["inner_product"]}


@pytest.fixture(scope="module")
def cdk_out(tmp_path_factory):
    """The real app with cdk.json's context and 4 inner_product nodes (-c automon.node_counts=...)."""
    import aws_cdk as cdk

    import app as app_module

    outdir = tmp_path_factory.mktemp("automon-cdk.out")
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    counts = {name: nt.num_nodes for name, nt in NODE_TYPES.items()} | {"inner_product": NODES}
    cdk_app = cdk.App(outdir=str(outdir), context={**context, "automon.node_counts": counts})
    app_module.build(cdk_app)
    cdk_app.synth()
    return outdir


def _env(task) -> dict[str, str]:
    (override,) = task.overrides["containerOverrides"]
    return {v["name"]: v["value"] for v in override["environment"]}


def test_centralization_runs_the_synthesized_definition_with_exact_traffic(cdk_out, tmp_path):
    definition = SynthesizedStack.load(cdk_out, STACK).state_machine_ending(MACHINE_SUFFIX)[1]
    assert "RunExperiments" in definition["States"]  # the deployed definition, not a copy

    result = run(cdk_out, execution_input=CENTRALIZATION, sizes=SIZES, workdir=tmp_path, execution="e2e-ok")
    assert result.status == "SUCCEEDED", f"{result.error}: {result.cause}"
    # every handler, task, the coordinator and the state machine's Tasks ran under the synthesized roles
    print(f"AutoMon IAM: {result.iam}")
    assert result.denials == [] and result.iam["denied"] == 0
    assert result.iam["calls_evaluated"] > 0 and result.iam["distinct_role_action_pairs"] >= 30
    assert result.output["succeeded"] == 1 and result.output["failed"] == 0
    assert result.output["report_key"] == "results/e2e-ok/report.json"
    assert result.states.count("RunNode") == NODES and "ExperimentsFailed" not in result.states

    # the documented layout: results/<execution>/{plan,report}.json and <node_type>/centralization/...
    item_dir = result.results_dir / "inner_product" / "centralization"
    files = sorted(p.relative_to(result.results_dir).as_posix() for p in result.results_dir.rglob("*") if p.is_file())
    assert files == sorted(["plan.json", "report.json", *(f"inner_product/centralization/{name}" for name in (
        "coordinator.json", "summary.json", *(f"node_{i}.json" for i in range(NODES))))])
    plan = json.loads((result.results_dir / "plan.json").read_text())
    assert [i["key"] for i in plan["items"]] == ["inner_product/centralization"]

    # one coordinator (moto's EC2 instance, played by a process), started with the item's settings as tags
    (host,) = result.coordinators
    assert host.environment["NODE_TYPE"] == "inner_product" and host.environment["NUM_NODES"] == str(NODES)
    # it completes and exits on its own (then its instance terminates); StopCoordinator may still catch it
    # exiting after the upload GatherResults waited for
    assert host.process.returncode in (0, -signal.SIGTERM)
    # every node is a process of the task definition, given the coordinator's address by the state machine
    assert sorted(_env(t)["NODE_IDX"] for t in result.node_tasks) == [str(i) for i in range(NODES)]
    for task in result.node_tasks:
        assert _env(task)["HOST"] == host.public_ip  # what StartCoordinator returned, passed on by RunNodes
        assert (task.environment["HOST"], task.environment["PORT"]) == (LOOPBACK, str(host.port))
        assert task.exit_code == 0 and task.stop_code == "EssentialContainerExited"
    assert result.alive_at_end == []

    # traffic, from the protocol: each node sends ready, ROUNDS - WINDOW + 1 updates (12-byte header + d
    # doubles), done, bye_ack; the coordinator sends start and bye to each
    d = NODE_TYPES["inner_product"].d
    updates, update_bytes = ROUNDS - WINDOW + 1, 12 + 8 * d
    coordinator = json.loads((item_dir / "coordinator.json").read_text())
    assert coordinator["status"] == "completed"
    assert (coordinator["run"]["iterations"], coordinator["run"]["window"], coordinator["run"]["num_nodes"]) == (
        ROUNDS, WINDOW, NODES)
    assert coordinator["run"]["link_latency_s"] == SIZES.link_latency_s == 0.028  # the emulated WAN link
    assert coordinator["algorithm_summary"]["updates_per_node"] == [updates] * NODES
    received, sent = coordinator["traffic"]["received"], coordinator["traffic"]["sent"]
    assert received["messages"] == NODES * (updates + 3)
    assert received["bytes"] == NODES * (len(b"ready") + len(b"done") + len(b"bye_ack") + updates * update_bytes)
    assert received["by_kind"]["LOCAL_VECTOR_INFO"] == {
        "messages": NODES * updates, "bytes": NODES * updates * update_bytes,
        "zmtp_bytes": NODES * updates * (update_bytes + 9)}  # frames over 255 bytes: 9-byte ZMTP header
    assert sent["messages"] == 2 * NODES and sent["bytes"] == NODES * (len(b"start") + len(b"bye"))
    for i in range(NODES):
        node = json.loads((item_dir / f"node_{i}.json").read_text())
        assert node["status"] == "completed" and node["local_vectors"] == updates
        assert node["traffic"]["sent"]["messages"] == updates + 3
        assert node["traffic"]["sent"]["bytes"] == coordinator["traffic_per_node"][str(i)]["received"]["bytes"]

    summary = json.loads((item_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["rejected_frames"] == 0
    assert summary["messages"] == {"received": received["messages"], "sent": sent["messages"]}
    assert summary["bytes"] == {"received": received["bytes"], "sent": sent["bytes"]}
    assert summary["messages_per_node"] == {str(i): updates + 5 for i in range(NODES)}
    report = json.loads((result.results_dir / "report.json").read_text())
    assert [(i["key"], i["status"]) for i in report["items"]] == [("inner_product/centralization", "SUCCEEDED")]


def test_a_crashing_node_fails_its_item_stops_everything_and_fails_the_execution(cdk_out, tmp_path):
    # the runTask.sync stand-in leaves abandoned node tasks running, so the state machine's own clean-up
    # (StopNodeTasks) must find and stop them
    result = run(cdk_out, execution_input=CENTRALIZATION, sizes=SIZES, workdir=tmp_path, execution="e2e-crash",
                 crash_node=2, stop_abandoned_tasks=False)
    assert result.status == "FAILED" and result.error == "AutoMon.ExperimentsFailed"
    # the clean-up's ListTasks / DescribeTasks / StopTask and the coordinator's termination were allowed
    print(f"AutoMon IAM (crash): {result.iam}")
    assert result.denials == []
    assert result.cause.startswith("1 of 1 experiment(s) failed; details in results/e2e-crash/report.json")
    assert "inner_product/centralization FAILED: States.TaskFailed" in result.cause
    assert "GatherResults" not in result.states
    for state in ("MarkFailed", "StopCoordinator", "StopNodeTasks", "WriteReport", "ExperimentsFailed"):
        assert state in result.states, state

    report = json.loads((result.results_dir / "report.json").read_text())
    (item,) = report["items"]
    assert (item["key"], item["status"], report["failed"]) == ("inner_product/centralization", "FAILED", 1)
    assert item["error"]["Error"] == "States.TaskFailed"
    failed_task = json.loads(item["error"]["Cause"])  # the stopped task, as ECS describes it
    assert failed_task["Containers"][0]["ExitCode"] == 137  # SIGKILL
    assert {"Name": "NODE_IDX", "Value": "2"} in failed_task["Overrides"]["ContainerOverrides"][0]["Environment"]
    assert not (result.results_dir / "inner_product" / "centralization" / "summary.json").exists()

    # the coordinator was stopped by the workflow (its instance terminated), the other nodes by the clean-up
    (host,) = result.coordinators
    assert host.ended_by == "instance terminated" and host.process.returncode is not None
    stop_reason = load_handler("automon_clean_up").__globals__["STOP_REASON"]
    for task in result.node_tasks:
        if _env(task)["NODE_IDX"] == "2":
            assert task.stop_code == "EssentialContainerExited" and task.exit_code == 137
        else:
            assert task.stop_code == "UserInitiated" and task.stopped_reason == stop_reason
    assert result.alive_at_end == []


@pytest.mark.parametrize(("request_input", "message"), [
    ({"algorithm": "centralization", "node_types": ["inner_product", "cubic"]}, "['cubic'] are not deployed"),
    ({"algorithm": "automon", "node_types": ["inner_product"]}, "needs the automon package in the image"),
])
def test_bad_input_fails_at_validation_and_starts_nothing(cdk_out, tmp_path, request_input, message):
    result = run(cdk_out, execution_input=request_input, sizes=SIZES, workdir=tmp_path, execution="e2e-bad")
    assert result.status == "FAILED" and result.error == "InvalidInput"
    assert message in result.cause
    assert result.states == ["ValidateInput", "InputRejected"]
    assert result.coordinators == [] and result.node_tasks == []
    assert not any(result.results_dir.rglob("*"))  # not even the plan
