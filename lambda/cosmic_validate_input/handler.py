"""cosmicai step 1: validate the execution input and plan the ranks, before any rank starts.

Event: {"input": <execution input>, "execution": <execution name>}; the input schema is
workloads.cosmic.job.CosmicInput (world_size, data_key or script_key, optional weights_key, batch_size,
threads, seed, timeout_s). Checks that the named objects exist and that the rendezvous server accepts a
TCP connection, writes the plan to runs/<execution>/plan.json and returns it (job + list of ranks).
Raises InvalidInput or RendezvousUnreachable: the execution fails with the message, nothing launched.
"""

from __future__ import annotations

import os
import socket

from aws_lambda_powertools import Logger

from adapters.s3_inputs import require_objects
from adapters.s3_store import S3Store
from workloads.cosmic.job import Deployment, plan

logger = Logger(service="cosmic-validate-input")
CONNECT_TIMEOUT_S = 5.0


class RendezvousUnreachable(RuntimeError):
    """No TCP connection to the rendezvous server: every rank would wait for its peers until it times out."""


def _check_rendezvous(host: str, port: int) -> None:
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass  # the server counts a connection without a name as `empty_names`; nothing else happens
    except OSError as exc:
        raise RendezvousUnreachable(f"rendezvous server {host}:{port} does not accept connections: {exc}") from None


def handler(event: dict, context: object) -> dict:
    deployment = Deployment.from_env(os.environ)
    run = plan(event.get("input"), execution=str(event.get("execution", "")), deployment=deployment)
    job = run["job"]
    results = S3Store(run["results_bucket"])
    require_objects(results.client, job["data_bucket"], {"data_key": job["data_key"]} if job["data_key"] else {})
    require_objects(results.client, job["code_bucket"],
                    {f: job[f] for f in ("weights_key", "script_key") if job[f]})
    _check_rendezvous(job["rendezvous_host"], job["rendezvous_port"])
    results.put_json(f"{run['results_prefix']}plan.json", run)
    logger.info("run accepted", extra={"run_id": run["run_id"], "world_size": run["world_size"], "mode": run["mode"]})
    return run
