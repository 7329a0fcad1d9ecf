"""Run the cosmicai state machine *as synthesized into cdk.out* on this machine.

    python -m localcloud.cosmic                 # world_size 4, 512 synthetic samples, weights from "S3"
    python -m localcloud.cosmic --world-size 2 --samples 128 --no-weights

S3: moto's server on 127.0.0.1 (buckets named after the template's logical ids). The rendezvous server:
the real one (workloads.cosmic.rendezvous_server) on 127.0.0.1, standing in for the NLB (its DNS name in
the template resolves to 127.0.0.1, and the port is the local server's, since 10000 may be taken here).
Lambda tasks: the real handlers, found through each function's image command. The executor runs each
invocation in a process of its own, as separate Lambda instances would, so ranks really run at the same
time and pair and gather through the server with the real communicator. The Map's MaxConcurrency comes
from the definition, as everything else does: change the stack, and this runs the change.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localcloud.lambdas import load_handler
from localcloud.runs import LocalRun, download_prefix, failure_line
from localcloud.services.environment import local_bucket_name
from localcloud.services.lambda_runtime import FunctionErrors, FunctionRuntime, function_environment
from localcloud.services.local_iam import LocalIam
from localcloud.services.moto_server import moto_server
from localcloud.services.stack_iam import StackIam
from localcloud.services.template import REPO_ROOT, FunctionSpec, SynthesizedStack
from localcloud.services.template_roles import PolicyResolver, log_stream_arn
from localcloud.sfn import Integrations, LocalStateMachine
from localcloud.sfn.integrations import LambdaContext

EXPERIMENT = "cosmic"
STACK = "FmiStack"
MACHINE_SUFFIX = "cosmicai"
EXECUTOR = "cosmic_executor"
EXAMPLE = REPO_ROOT / "examples" / "cosmicai_synthetic.json"
DATA_KEY = "inputs/local-synthetic.pt"
WEIGHTS_KEY = "weights/astromae-seed1.pt"

@dataclass
class Invocation:
    """One executor invocation (one rank), as a separate process."""

    rank: int
    start: float
    end: float = 0.0
    returncode: int | None = None
    log: Path | None = None


@dataclass(kw_only=True)
class CosmicRun(LocalRun):
    invocations: list[Invocation] = field(default_factory=list)  # one per executor (rank) invocation
    rendezvous: dict = field(default_factory=dict)  # the server's counters after the run
    weights: str | None = None  # what the metrics were computed with (weights_label); None: no inference


RANDOM_WEIGHTS = "the metrics measure no trained model"


def weights_label(record: str | None, runner_state_dict: bool) -> str | None:
    """What the ranks' "weights" record means for the metrics. Without a state_dict the model is a seeded
    random initialisation, and the state_dict this runner uploads is one too (seed 1): an r2 of -1.4 from
    either says nothing about AstroMAE, and a person must not read it as if it did."""
    if record is None:
        return None
    if record.startswith("random-init"):
        return f"random weights ({record}, no state_dict): {RANDOM_WEIGHTS}"
    if runner_state_dict:
        return f"random weights (the local runner's seed-1 state_dict): {RANDOM_WEIGHTS}"
    return record


@dataclass(frozen=True)
class LocalSizes:
    """Ranks and samples small enough for two cores; one thread per rank so the ranks do not fight."""

    world_size: int = 4
    samples: int = 512
    threads: int | None = 1
    batch_size: int | None = 64


class ProcessLambda:
    """A Lambda handler run in a fresh Python process per invocation (JSON in, JSON out, errors by name)."""

    def __init__(self, folder: str, env: dict[str, str], log_dir: Path, timeout_s: float,
                 on_start: Callable[[str], None] = lambda stream: None) -> None:
        self.folder, self.env, self.log_dir, self.timeout_s = folder, env, log_dir, timeout_s
        self.on_start = on_start  # what the Lambda service does with the role first (the log stream)
        self.invocations: list[Invocation] = []
        self._lock = threading.Lock()

    def __call__(self, event: dict, context: object) -> Any:
        rank = int(event.get("rank", -1)) if isinstance(event, dict) else -1
        with self._lock:
            record = Invocation(rank=rank, start=time.monotonic(),
                                log=self.log_dir / f"{self.folder}-{len(self.invocations):04d}-rank{rank}.log")
            self.invocations.append(record)
        self.on_start(record.log.stem)
        with tempfile.TemporaryDirectory(prefix="lambda-") as tmp:
            request, response = Path(tmp) / "event.json", Path(tmp) / "response.json"
            request.write_text(json.dumps(event))
            with open(record.log, "w") as log:
                proc = subprocess.run(
                    [sys.executable, "-m", "localcloud.cosmic", "invoke", self.folder, str(request), str(response),
                     "--timeout", str(self.timeout_s)],
                    env=self.env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, timeout=self.timeout_s + 30,
                    check=False,
                )
            record.end, record.returncode = time.monotonic(), proc.returncode
            if not response.exists():
                raise FunctionErrors.named("Runtime.ExitError")(f"the process exited with {proc.returncode}; see {record.log}")
            answer = json.loads(response.read_text())
        if "errorType" in answer:
            raise FunctionErrors.named(answer["errorType"])(answer["errorMessage"])
        return answer["response"]


def _invoke_in_this_process(folder: str, request: Path, response: Path, timeout_s: float) -> int:
    """The child side of ProcessLambda."""
    event = json.loads(request.read_text())
    try:
        result = load_handler(folder)(event, LambdaContext(folder, timeout_s))
    except Exception as exc:  # reported like the Lambda runtime does; the parent raises it by name
        import traceback

        traceback.print_exc()
        response.write_text(json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}))
        return 1
    response.write_text(json.dumps({"response": result}))
    return 0


def _upload_inputs(s3, data_bucket: str, code_bucket: str, samples: int, with_weights: bool, workdir: Path) -> None:
    import torch

    from workloads.cosmic.astromae import build_model
    from workloads.cosmic.dataset import save_dataset, synthetic_dataset

    data_path = workdir / "inputs" / "synthetic.pt"
    data_path.parent.mkdir(parents=True, exist_ok=True)
    save_dataset(synthetic_dataset(samples, seed=0), data_path)
    s3.upload_file(str(data_path), data_bucket, DATA_KEY)
    if with_weights:  # a state_dict, as exported from the course checkpoint (seed 1: not the default weights)
        weights_path = workdir / "inputs" / "weights.pt"
        torch.save(build_model(seed=1).state_dict(), weights_path)
        s3.upload_file(str(weights_path), code_bucket, WEIGHTS_KEY)


def default_input(sizes: LocalSizes = LocalSizes(), with_weights: bool = True) -> dict:
    """The example input, pointed at the objects the runner uploads, with the local sizes."""
    example = json.loads(EXAMPLE.read_text())
    request = {**example, "world_size": sizes.world_size, "data_key": DATA_KEY}
    if with_weights:
        request["weights_key"] = WEIGHTS_KEY
    if sizes.threads:
        request["threads"] = sizes.threads
    if sizes.batch_size:
        request["batch_size"] = sizes.batch_size
    return request


def check_input(cdk_out: Path, execution_input: dict, with_weights: bool = True) -> None:
    """InvalidInput with cosmic_validate_input's message, before anything starts: the same plan() with the
    template's deployment settings, and the handler's object check against what this runner uploads."""
    from workloads.cosmic.job import Deployment, InvalidInput, plan

    stack = SynthesizedStack.load(cdk_out, STACK)
    validate = _one(stack.functions(), "cosmic_validate_input")
    job = plan(execution_input, execution="local-check", deployment=Deployment.from_env(validate.environment))["job"]
    uploaded = {"data_key": DATA_KEY, "weights_key": WEIGHTS_KEY if with_weights else None}
    missing = [f"{field} {job[field]!r}" for field in ("data_key", "weights_key", "script_key")
               if job[field] and job[field] != uploaded.get(field)]
    if missing:
        raise InvalidInput(f"no such object in the local buckets: {', '.join(missing)}; the local run uploads "
                           f"data_key {DATA_KEY!r}" + (f" and weights_key {WEIGHTS_KEY!r}" if with_weights else ""))


def run(
    cdk_out: Path,
    *,
    execution_input: dict | None = None,
    workdir: Path | None = None,
    execution: str | None = None,
    timeout_s: float = 900.0,
    on_progress: Callable[[str], None] = lambda message: None,
    sizes: LocalSizes = LocalSizes(),
    with_weights: bool = True,
    extra_objects: dict[tuple[str, str], bytes] | None = None,
) -> CosmicRun:
    """One execution. `execution_input`: the whole input (default: `default_input(sizes, with_weights)`);
    `extra_objects` maps (bucket role "code"|"data", key) -> bytes to upload first."""
    from workloads.cosmic.rendezvous_server import running_server

    workdir = Path(workdir or tempfile.mkdtemp(prefix="cosmicai-local-"))
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    stack = SynthesizedStack.load(cdk_out, STACK)
    machine_name, definition = stack.state_machine_ending(MACHINE_SUFFIX)
    execution = execution or f"local-{int(time.time())}"


    with moto_server() as moto_url, running_server() as rendezvous, contextlib.ExitStack() as scope:
        iam = LocalIam(moto_url)
        s3 = iam.client("s3")  # the runner's own calls (inputs, results)
        overrides: dict[str, str] = {}
        for logical_id in stack.of_type("AWS::S3::Bucket"):
            overrides[logical_id] = local_bucket_name(logical_id)
            s3.create_bucket(Bucket=overrides[logical_id])
        for logical_id in stack.of_type("AWS::ElasticLoadBalancingV2::LoadBalancer"):
            overrides[f"{logical_id}.DNSName"] = "127.0.0.1"  # the NLB is the local rendezvous server
        functions = stack.functions(overrides)
        stack_iam = StackIam(iam, PolicyResolver(stack, overrides)).prepare()
        validate = _one(functions, "cosmic_validate_input")
        validate.environment["RENDEZVOUS_PORT"] = str(rendezvous.port)
        data_bucket, code_bucket = validate.environment["DATA_BUCKET"], validate.environment["CODE_BUCKET"]
        results_bucket = validate.environment["RESULTS_BUCKET"]

        scope.enter_context(iam.enforce())  # from here on every call is authorized by its caller's role
        on_progress(f"uploading {sizes.samples} synthetic samples{' and a state_dict' if with_weights else ''}")
        _upload_inputs(s3, data_bucket, code_bucket, sizes.samples, with_weights, workdir)
        for (role, key), body in (extra_objects or {}).items():
            s3.put_object(Bucket={"code": code_bucket, "data": data_bucket}[role], Key=key, Body=body)

        integrations = Integrations(authorize=stack_iam.state_machine_authorizer(machine_name))
        executor: ProcessLambda | None = None
        runtimes: list[FunctionRuntime] = []
        endpoints = {"AWS_ENDPOINT_URL": moto_url}
        for logical_id, fn in functions.items():
            if fn.handler_folder == EXECUTOR:  # one process per rank: each invocation a cold environment
                role, group = stack_iam.function_role(logical_id), stack_iam.function_log_group(logical_id)
                child_env = function_environment(
                    os.environ, {**fn.environment, "OMP_NUM_THREADS": str(sizes.threads or 1)}, iam.credentials(role),
                    function_name=fn.logical_id, region=iam.region, endpoints=endpoints)

                def log_writes(stream: str, role=role, group=group) -> None:
                    for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
                        iam.authorize(role, action, log_stream_arn(group, stream),
                                      on_behalf="the Lambda service writing the function's logs")

                executor = ProcessLambda(EXECUTOR, child_env, workdir / "logs", timeout_s, on_start=log_writes)
                integrations.register_lambda(logical_id, executor, timeout_s=timeout_s)
            else:
                runtime = stack_iam.lambda_runtime(fn, endpoints=endpoints, log_dir=workdir / "logs",
                                                   base_environment=dict(os.environ))
                runtimes.append(runtime)
                integrations.register_lambda(logical_id, runtime)
        if executor is None:
            raise LookupError(f"no function of {STACK} runs the {EXECUTOR} handler")

        request = execution_input if execution_input is not None else default_input(sizes, with_weights)
        machine = LocalStateMachine(definition, integrations, name=machine_name)

        def progress(event) -> None:
            if event.type in ("TaskStateEntered", "MapStateStarted", "MapIterationFailed", "ExecutionFailed"):
                on_progress(f"{event.type} {event.state_name or ''}".strip())

        on_progress(f"executing {machine_name} ({request.get('world_size')} ranks)")
        start = time.monotonic()
        try:
            result = machine.execute(request, name=execution, timeout=timeout_s, on_event=progress)
        finally:
            for runtime in runtimes:
                runtime.close()
        elapsed = time.monotonic() - start
        results_dir = download_prefix(s3, results_bucket, f"runs/{execution}/", workdir / "results")
        counters = dict(vars(rendezvous.server.counters))
    combined = results_dir / "combined.json"
    record = json.loads(combined.read_text()).get("weights") if combined.exists() else None
    runner_state_dict = with_weights and request.get("weights_key") == WEIGHTS_KEY \
        and ("code", WEIGHTS_KEY) not in (extra_objects or {})
    return CosmicRun(
        experiment=EXPERIMENT, status=result.status, error=result.error, cause=result.cause, output=result.output, execution=execution,
        elapsed_s=elapsed, results_dir=results_dir, invocations=list(executor.invocations), rendezvous=counters,
        weights=weights_label(record, runner_state_dict), states=result.states_entered(), iam=iam.stats.summary(), denials=list(iam.denials),
    )


def _one(functions: dict[str, FunctionSpec], folder: str) -> FunctionSpec:
    found = [f for f in functions.values() if f.handler_folder == folder]
    if len(found) != 1:
        raise LookupError(f"expected one function running {folder}, got {len(found)}")
    return found[0]


def main(argv: list[str] | None = None, on_result: Callable[[CosmicRun], None] = lambda run: None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["invoke"]:  # internal: one Lambda invocation in this process (see ProcessLambda)
        p = argparse.ArgumentParser(prog="python -m localcloud.cosmic invoke")
        p.add_argument("folder")
        p.add_argument("request", type=Path)
        p.add_argument("response", type=Path)
        p.add_argument("--timeout", type=float, default=900.0)
        a = p.parse_args(argv[1:])
        return _invoke_in_this_process(a.folder, a.request, a.response, a.timeout)
    if argv[:1] == ["run"]:
        argv = argv[1:]
    p = argparse.ArgumentParser(prog="python -m localcloud.cosmic", description=__doc__.split("\n")[0])
    p.add_argument("--cdk-out", type=Path, default=REPO_ROOT / "cdk.out")
    p.add_argument("--world-size", type=int, default=4)
    p.add_argument("--samples", type=int, default=512)
    p.add_argument("--no-weights", action="store_true", help="random weights instead of a state_dict from S3")
    p.add_argument("--workdir", type=Path)
    a = p.parse_args(argv)
    if not (a.cdk_out / f"{STACK}.template.json").exists():
        print(f"{a.cdk_out}/{STACK}.template.json is missing: run `make synth` first", file=sys.stderr)
        return 2
    sizes = LocalSizes(world_size=a.world_size, samples=a.samples)
    result = run(a.cdk_out, sizes=sizes, with_weights=not a.no_weights, workdir=a.workdir, on_progress=progress)
    on_result(result)
    show(result)
    if result.status != "SUCCEEDED":
        return 1
    print(result.results_dir / "summary.json")
    return 0


def progress(message: str) -> None:
    sys.stderr.write(f"[cosmicai] {message}\n")  # one write per line: ranks report from threads
    sys.stderr.flush()


def show(result: CosmicRun) -> None:
    """What a person reads after a run, on stderr (stdout is left to the caller's result)."""
    print(f"[cosmicai] {result.status} in {result.elapsed_s:.1f} s; rendezvous pairs: "
          f"{result.rendezvous.get('pairs_completed')}", file=sys.stderr)
    print(f"[cosmicai] IAM: {result.iam.get('calls_evaluated')} calls evaluated under the synthesized roles, "
          f"{result.iam.get('distinct_role_action_pairs')} distinct (role, action) pairs, "
          f"{result.iam.get('denied')} refused", file=sys.stderr)
    for denial in result.denials:
        print(f"[cosmicai] AccessDenied {denial}", file=sys.stderr)
    if result.status != "SUCCEEDED":
        print(f"[cosmicai] {failure_line(result, result.results_dir.parent)}", file=sys.stderr)
        return
    metrics = result.output.get("metrics", {})
    line = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if v is not None)
    print(f"[cosmicai] {line}" + (f" ({result.weights})" if result.weights else ""), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
