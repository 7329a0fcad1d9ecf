"""The cosmicai Lambda handlers against moto S3: input validation before anything starts, ranks that
really pair through a loopback rendezvous server, scripts whose failure fails the invocation, and the
paginated summary."""

from __future__ import annotations

import io
import json
import math
import socket
import sys
import tempfile
import threading
import traceback

import boto3
import pytest
import torch

from adapters.s3_store import S3Store
from localcloud.lambdas import invoke, load_handler
from localcloud.services.moto_server import moto_server
from localcloud.sfn.integrations import LambdaContext
from workloads.common.execution_input import MAX_MESSAGE_CHARS
from workloads.cosmic.astromae import build_model
from workloads.cosmic.dataset import save_dataset, synthetic_dataset
from workloads.cosmic.inference import InferenceSettings, run_rank
from workloads.cosmic.job import InvalidInput, ResultsIncomplete, ResultsInconsistent, rank_key
from workloads.cosmic.metrics import SCHEMA, combine_records, delta_z, rank_record
from workloads.cosmic.rendezvous_server import running_server
from workloads.cosmic.script_runner import ScriptFailed

DATA, CODE, RESULTS = "cosmic-data", "cosmic-code", "cosmic-results"


@pytest.fixture
def s3(monkeypatch):
    """moto's server, not mock_aws: rank threads download a 63 MB state_dict at once, and s3transfer's ranged
    GETs from several threads are not safe under mock_aws's in-process patching (seen as a truncated file)."""
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "test")
    with moto_server() as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        client = boto3.client("s3", region_name="us-east-1")
        for bucket in (DATA, CODE, RESULTS):
            client.create_bucket(Bucket=bucket)
        yield client


@pytest.fixture
def deployment(monkeypatch, s3):
    """The validator's environment, pointing at a loopback rendezvous server."""
    with running_server() as server:
        env = {"RENDEZVOUS_HOST": "127.0.0.1", "RENDEZVOUS_PORT": str(server.port), "MAX_WORLD_SIZE": "8",
               "OP_TIMEOUT_S": "60", "DATA_BUCKET": DATA, "CODE_BUCKET": CODE, "RESULTS_BUCKET": RESULTS}
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        yield server


def _validate(execution_input, execution="exec-1"):
    return invoke("cosmic_validate_input", {"input": execution_input, "execution": execution})


def _put_dataset(s3, n: int, key: str = "inputs/small.pt", seed: int = 0):
    data = synthetic_dataset(n, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        save_dataset(data, f"{tmp}/data.pt")
        s3.upload_file(f"{tmp}/data.pt", DATA, key)
    return data


# --- validate -------------------------------------------------------------------------------------
def test_valid_input_becomes_a_plan_with_one_item_per_rank(s3, deployment):
    _put_dataset(s3, 8)
    run = _validate({"world_size": 3, "data_key": "inputs/small.pt", "batch_size": 4}, execution="exec/1")
    assert run["ranks"] == [0, 1, 2] and run["mode"] == "inference"
    assert run["run_id"] == "exec_1" and run["results_prefix"] == "runs/exec_1/"
    job = run["job"]
    assert job["rendezvous_host"] == "127.0.0.1" and job["rendezvous_port"] == deployment.port
    assert job["comm_name"].startswith("cosmicai-") and job["timeout_s"] == 60
    stored = json.loads(s3.get_object(Bucket=RESULTS, Key="runs/exec_1/plan.json")["Body"].read())
    assert stored == run
    # a different execution gets its own communicator name (no cross-pairing on a shared server)
    assert _validate({"world_size": 3, "data_key": "inputs/small.pt"}, "exec-2")["job"]["comm_name"] != job["comm_name"]


def test_pairing_names_cannot_be_worked_out_from_the_execution_and_each_run_has_a_secret(s3, deployment):
    """A squatter who knows the execution's name must not be able to register its pairing names first."""
    _put_dataset(s3, 8)
    first, again = (_validate({"world_size": 2, "data_key": "inputs/small.pt"}, "same-name")["job"] for _ in "12")
    assert first["comm_name"] != again["comm_name"]  # a re-run under the same name, too
    assert len(first["comm_secret"]) >= 32 and first["comm_secret"] != again["comm_secret"]
    assert first["comm_secret"] not in first["comm_name"]  # the secret never goes to the rendezvous server


@pytest.mark.parametrize(("execution_input", "message"), [
    ({"world_size": 9, "data_key": "inputs/small.pt"}, "above the deployed limit 8"),
    ({"world_size": 0, "data_key": "inputs/small.pt"}, "world_size"),
    ({"world_size": 2}, "exactly one of data_key"),
    ({"world_size": 2, "data_key": "inputs/small.pt", "script_key": "s.py"}, "exactly one of data_key"),
    ({"world_size": 2, "data_key": "../etc/passwd"}, "not a plain S3 key"),
    ({"world_size": 2, "data_key": "inputs/small.pt", "colour": "red"}, "colour"),
    ({"world_size": 2, "data_key": "inputs/missing.pt"}, "not found"),
    ({"world_size": 2, "data_key": "inputs/small.pt", "weights_key": "w.pt"}, "weights_key s3://cosmic-code/w.pt"),
    ({"world_size": 2, "data_key": "inputs/small.pt", "timeout_s": 600}, "timeout_s"),
    ([1, 2], "JSON object"),
    # torch.manual_seed takes at most 2^64 - 1: every rank would fail
    ({"world_size": 2, "data_key": "inputs/small.pt", "seed": 2**64}, "seed"),
    ({"world_size": 2, "data_key": "inputs/small.pt", "timeout_s": math.inf}, "timeout_s"),
    # the message names the field without echoing a long value back
    ({"world_size": 2, "data_key": "k" * 100_000}, "data_key 'kkkkk"),
])
def test_bad_input_is_refused_with_a_clear_message(s3, deployment, execution_input, message):
    _put_dataset(s3, 4)
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(")) as err:
        _validate(execution_input)
    assert len(str(err.value)) <= MAX_MESSAGE_CHARS
    assert "Contents" not in s3.list_objects_v2(Bucket=RESULTS)  # nothing written, nothing launched


def test_an_unreachable_rendezvous_server_fails_validation(s3, deployment, monkeypatch):
    _put_dataset(s3, 4)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        monkeypatch.setenv("RENDEZVOUS_PORT", str(probe.getsockname()[1]))
    unreachable = sys.modules["cosmic_validate_input.handler"].RendezvousUnreachable
    with pytest.raises(unreachable, match="does not accept connections"):
        _validate({"world_size": 2, "data_key": "inputs/small.pt"})


# --- executor -------------------------------------------------------------------------------------
def _run_ranks(run: dict) -> list:
    """Every rank at once, on threads (each pairs through the rendezvous server, as Lambdas would)."""
    results: list = [None] * run["world_size"]
    # import the handler once, before the threads: localcloud.lambdas.load_handler registers the module before
    # executing it, so a second thread importing at the same moment could see it half-initialised
    load_handler("cosmic_executor")

    def one(rank: int) -> None:
        try:
            results[rank] = invoke("cosmic_executor", {"rank": rank, "job": run["job"]})
        except Exception:  # noqa: BLE001 - the test shows it
            results[rank] = traceback.format_exc()

    threads = [threading.Thread(target=one, args=(r,)) for r in run["ranks"]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_ranks_infer_their_own_slices_with_weights_from_s3_and_match_one_process(s3, deployment):
    data = _put_dataset(s3, 22)
    model = build_model(seed=3)  # not the default seed: the record must come from the uploaded weights
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    s3.put_object(Bucket=CODE, Key="weights/astromae.pt", Body=buf.getvalue())
    run = _validate({"world_size": 2, "data_key": "inputs/small.pt", "weights_key": "weights/astromae.pt",
                     "threads": 1, "batch_size": 8})

    results = _run_ranks(run)
    assert results == [{"rank": r, "result_key": rank_key("runs/exec-1/", r)} for r in (0, 1)], results
    records = [json.loads(s3.get_object(Bucket=RESULTS, Key=rank_key("runs/exec-1/", r))["Body"].read()) for r in (0, 1)]
    assert [r["sample_ranges"] for r in records] == [[[0, 11]], [[11, 22]]]
    assert all(r["schema"] == SCHEMA and r["weights"] == "state_dict:weights.pt" for r in records)
    combined = json.loads(s3.get_object(Bucket=RESULTS, Key="runs/exec-1/combined.json")["Body"].read())
    assert combined["scope"] == "combined" and combined["samples"] == 22 and combined["ranks"] == [0, 1]

    solo = run_rank(data, InferenceSettings(batch_size=8, threads=1), "solo", model=model)["combined"]
    for name in ("mae", "mse", "bias", "nmad", "r2"):
        assert combined["metrics"][name] == pytest.approx(solo["metrics"][name], rel=1e-4, abs=1e-7), name


SCRIPT_OK = "import os\nprint('rank', os.environ['RANK'], 'of', os.environ['WORLD_SIZE'])\n"
SCRIPT_FAILS = "import sys\nprint('about to fail')\nsys.exit(3)\n"


def test_a_script_runs_with_its_rank_and_a_failing_script_fails_the_invocation(s3, deployment):
    s3.put_object(Bucket=CODE, Key="scripts/ok.py", Body=SCRIPT_OK.encode())
    s3.put_object(Bucket=CODE, Key="scripts/fails.py", Body=SCRIPT_FAILS.encode())
    run = _validate({"world_size": 1, "script_key": "scripts/ok.py"})
    assert invoke("cosmic_executor", {"rank": 0, "job": run["job"]})["rank"] == 0
    record = json.loads(s3.get_object(Bucket=RESULTS, Key=rank_key(run["results_prefix"], 0))["Body"].read())
    assert record["returncode"] == 0 and "rank 0 of 1" in record["output_tail"]

    run = _validate({"world_size": 1, "script_key": "scripts/fails.py"}, execution="exec-fail")
    with pytest.raises(ScriptFailed, match="status 3(.|\n)*about to fail"):
        load_handler("cosmic_executor")({"rank": 0, "job": run["job"]}, LambdaContext("cosmic_executor", 60))
    assert "Contents" not in s3.list_objects_v2(Bucket=RESULTS, Prefix="runs/exec-fail/ranks/")


def test_the_executor_refuses_a_malformed_payload(s3):
    with pytest.raises(InvalidInput):
        invoke("cosmic_executor", {"job": {}})
    with pytest.raises(ValueError, match="rank"):
        invoke("cosmic_executor", {"rank": 5, "job": {"world_size": 2, "comm_name": "c-", "rendezvous_host": "h"}})


# --- summary --------------------------------------------------------------------------------------
def _fake_run(s3, world_size: int, prefix: str = "runs/r1/", run_id: str = "r1") -> dict:
    """Rank records and a combined record as the executors write them (small made-up predictions)."""
    records, dzs = [], []
    for rank in range(world_size):
        z = torch.linspace(0.05, 0.3, 5).numpy() + rank * 0.01
        pred = z + 0.002 * (rank + 1)
        record = rank_record(run_id=run_id, rank=rank, world_size=world_size, sample_range=(5 * rank, 5 * rank + 5),
                             pred=pred, z=z, batch_size=8, threads=1, weights="w", input_bits=100,
                             timing_s={"inference": 0.5})
        records.append(record)
        dzs.append(delta_z(pred, z))
        s3.put_object(Bucket=RESULTS, Key=rank_key(prefix, rank), Body=json.dumps(record).encode())
    s3.put_object(Bucket=RESULTS, Key=f"{prefix}combined.json", Body=json.dumps(combine_records(records, dzs)).encode())
    return {"run_id": run_id, "mode": "inference", "world_size": world_size, "results_bucket": RESULTS,
            "results_prefix": prefix, "ranks": list(range(world_size))}


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setattr(S3Store, "PAGE_SIZE", 2)


def test_summary_reads_every_page_of_rank_records(s3, small_pages):
    run = _fake_run(s3, world_size=5)  # 3 pages of 2: one unpaginated call would see 2 ranks
    out = invoke("cosmic_summary", run)
    assert out["samples"] == 25 and out["world_size"] == 5 and out["summary_key"] == "runs/r1/summary.json"
    summary = json.loads(s3.get_object(Bucket=RESULTS, Key="runs/r1/summary.json")["Body"].read())
    assert summary["rank_keys"] == [rank_key("runs/r1/", r) for r in range(5)]
    assert summary["metrics"]["mae"] == pytest.approx(sum(0.002 * (r + 1) for r in range(5)) / 5)


def test_summary_fails_when_a_rank_is_missing_or_the_combined_record_does_not_add_up(s3, small_pages):
    run = _fake_run(s3, world_size=4)
    s3.delete_object(Bucket=RESULTS, Key=rank_key("runs/r1/", 2))
    with pytest.raises(ResultsIncomplete, match=r"\[2\]"):
        invoke("cosmic_summary", run)

    run = _fake_run(s3, world_size=3, prefix="runs/r2/", run_id="r2")
    _fake_run(s3, world_size=2, prefix="runs/other/", run_id="r2")  # its combined record covers 2 ranks
    s3.copy_object(Bucket=RESULTS, Key="runs/r2/combined.json",
                   CopySource={"Bucket": RESULTS, "Key": "runs/other/combined.json"})
    with pytest.raises(ResultsInconsistent, match="does not match"):
        invoke("cosmic_summary", run)
