"""cosmicai images for real: the rendezvous image serves /health and pairs two clients from the host, then
a two-rank inference runs as two cosmic_executor containers that pair through it (each answering one
invocation through awslambdaric), planned by cosmic_validate_input and summarized by cosmic_summary from
the workflow Lambda image, against moto's S3."""

from __future__ import annotations

import json
import tempfile
import threading
import time
import urllib.request

from localcloud.services.moto_server import free_port
from tools.images.engine import run
from tools.images.session import Session, SmokeFailed
from workloads.cosmic.dataset import save_dataset, synthetic_dataset
from workloads.cosmic.rendezvous_client import pair

DATA, CODE, RESULTS = "smoke-cosmic-data", "smoke-cosmic-code", "smoke-cosmic-results"
LAMBDA = "workflow_lambdas"
BUCKETS = {"DATA_BUCKET": DATA, "CODE_BUCKET": CODE, "RESULTS_BUCKET": RESULTS}


def _health(port: int, wait_s: float = 60.0) -> dict:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                return json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise SmokeFailed(f"rendezvous: no answer on /health within {wait_s:.0f} s") from None
            time.sleep(0.5)


def _pair_two_clients(port: int) -> str:
    peers: dict[int, bytes] = {}

    def client(rank: int) -> None:
        with pair(b"smoke-pair", "127.0.0.1", port, timeout_s=30, rank=rank) as sock:
            sock.sendall(f"hello from {rank}".encode())
            peers[rank] = sock.recv(64)

    threads = [threading.Thread(target=client, args=(r,)) for r in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    if peers != {0: b"hello from 1", 1: b"hello from 0"}:
        raise SmokeFailed(f"rendezvous: two clients did not pair and exchange bytes: {peers}")
    return "two clients paired and exchanged a message"


def smoke(session: Session, say) -> None:
    port, health_port = free_port(), free_port()
    args = ["--host", "127.0.0.1", "--port", str(port), "--health-host", "127.0.0.1", "--health-port", str(health_port)]
    with session.engine.start(session.tags["rendezvous"], args) as server:
        say(f"rendezvous /health: {json.dumps(_health(health_port))[:160]}")
        say(f"rendezvous: {_pair_two_clients(port)}")
        _inference(session, say, port)
        say(f"rendezvous /health after the run: {json.dumps(_health(health_port))[:200]}")
        if server.process.poll() is not None:
            raise SmokeFailed(f"rendezvous server ended:\n{server.stop()[-2000:]}")


def _inference(session: Session, say, port: int) -> None:
    s3 = session.client("s3")
    for bucket in BUCKETS.values():
        s3.create_bucket(Bucket=bucket)
    with tempfile.TemporaryDirectory() as tmp:
        save_dataset(synthetic_dataset(8, seed=0), f"{tmp}/data.pt")
        s3.upload_file(f"{tmp}/data.pt", DATA, "inputs/smoke.pt")
    functions = session.functions(LAMBDA)

    def env(handler: str) -> dict[str, str]:
        values = functions[handler]
        local = {**BUCKETS, "RENDEZVOUS_HOST": "127.0.0.1", "RENDEZVOUS_PORT": str(port)}
        return {k: local.get(k, v) if not isinstance(v, str) or k in local else v for k, v in values.items()}

    handler = "cosmic_validate_input.handler.handler"
    with session.lambda_function(LAMBDA, handler, env(handler)) as invoke:
        plan = invoke({"input": {"world_size": 2, "data_key": "inputs/smoke.pt", "batch_size": 4},
                       "execution": "smoke-cosmic"}).body
        refused = invoke({"input": {"world_size": 2}, "execution": "smoke-bad"}, expect_ok=False).body
    say(f"cosmic_validate_input planned ranks {plan['ranks']} ({plan['job']['comm_name']}); "
        f"refused a bad input with {refused['errorType']}")

    executor = "cosmic_executor.handler.handler"
    (executor_env,) = session.functions("cosmic_executor").values()
    answers: dict[int, object] = {}

    def rank(r: int) -> None:
        try:
            with session.lambda_function("cosmic_executor", executor, dict(executor_env)) as invoke:
                answers[r] = invoke({"rank": r, "job": plan["job"]}, wait_s=600).body
        except Exception as exc:  # noqa: BLE001 - reported below, with the other rank's outcome
            answers[r] = exc

    threads = [threading.Thread(target=rank, args=(r,)) for r in plan["ranks"]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(700)
    failed = {r: a for r, a in answers.items() if isinstance(a, Exception)}
    if failed or len(answers) != 2:
        raise SmokeFailed(f"cosmic_executor ranks failed: {failed or answers}")
    for r in sorted(answers):
        say(f"cosmic_executor rank {r}: {json.dumps(answers[r])[:220]}")

    handler = "cosmic_summary.handler.handler"
    with session.lambda_function(LAMBDA, handler, env(handler)) as invoke:
        summary = invoke(plan).body
    say(f"cosmic_summary: {json.dumps(summary)[:300]}")

    # the executor's torch must be the CPU build (the CUDA one is GBs that a Lambda cannot use)
    check = ("import importlib.metadata as m, torch; print(torch.__version__, "
             "sorted(d.metadata['Name'] for d in m.distributions() if d.metadata['Name'].startswith('nvidia')))")
    code, output = run(session.engine, session.tags["cosmic_executor"], ["python3", "-c", check], entrypoint=[],
                       timeout=120)
    if code != 0 or "+cpu []" not in output:
        raise SmokeFailed(f"cosmic_executor: torch is not the CPU build: {output[-1000:]}")
    say(f"cosmic_executor torch: {output.strip().splitlines()[-1]}")
