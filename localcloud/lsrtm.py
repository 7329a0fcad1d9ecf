"""Run the LSRTM-SGD state machine *as synthesized into cdk.out* on this machine.

S3 and SQS: moto's server on 127.0.0.1. Lambda tasks: the real handlers in lambda/, found through each
function's image command in the template. Batch array jobs: localcloud.services.batch_emulator, which
runs the real worker entrypoint (containers/gradient_worker/worker.py) as processes. The SQS event
source mapping and the EventBridge failure rule are read from the template too. Nothing is hand-copied
from the stack: change the stack, and this runs the change.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import boto3
import numpy as np

from localcloud.runs import LocalRun, failure_line
from localcloud.services.batch_emulator import JobDefinitionSpec, LocalBatch
from localcloud.services.environment import environment, local_bucket_name
from localcloud.services.event_sources import SqsEventSource
from localcloud.services.lambda_runtime import CALLER_ONLY, FunctionRuntime
from localcloud.services.local_iam import LocalIam
from localcloud.services.stack_iam import StackIam, access_key_of
from localcloud.services.template import ENTRYPOINTS, REPO_ROOT, SynthesizedStack, matches
from localcloud.services.template_roles import PolicyResolver
from workloads.seismic.datasets import Dataset, input_sections, synthetic_files


@dataclass(kw_only=True)
class LsrtmRun(LocalRun):
    report: dict | None  # the run's report.json (None when the input was rejected before a run existed)
    images: dict[int, np.ndarray]  # iteration -> image
    reducer_invocations: int
    submitted_jobs: int
    retried_children: int
    dataset: Dataset  # the local files the shots were made from


class LocalStack:
    """The synthesized stack's queues, buckets, functions, jobs and rules, wired to local stand-ins."""

    def __init__(self, stack: SynthesizedStack, iam: LocalIam, workdir: Path, max_parallel: int,
                 on_progress: Callable[[str], None]) -> None:
        self.stack = stack
        self.on_progress = on_progress
        self.workdir = workdir
        self.iam = iam
        self.s3, self.sqs = iam.client("s3"), iam.client("sqs")  # the runner's own calls (inputs, results)
        self.overrides: dict[str, str] = {}
        for logical_id in stack.of_type("AWS::S3::Bucket"):
            name = local_bucket_name(logical_id)
            self.s3.create_bucket(Bucket=name)
            self.overrides[logical_id] = name
        self.queue_urls: dict[str, str] = {}
        for logical_id, queue in stack.of_type("AWS::SQS::Queue").items():
            props = queue["Properties"]
            attributes = {"FifoQueue": "true"} if props.get("FifoQueue") else {}
            url = self.sqs.create_queue(QueueName=props.get("QueueName", logical_id), Attributes=attributes)["QueueUrl"]
            self.queue_urls[logical_id] = url
            self.overrides[logical_id] = url
            self.overrides[f"{logical_id}.Arn"] = self.sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for logical_id in stack.of_type("AWS::Batch::JobQueue"):  # Ref and GetAtt JobQueueArn: the same ARN
            self.overrides[f"{logical_id}.JobQueueArn"] = stack.resolve({"Ref": logical_id})
        self.functions = stack.functions(self.overrides)
        self.stack_iam = StackIam(iam, PolicyResolver(stack, self.overrides)).prepare()
        self.runtimes: dict[str, FunctionRuntime] = {}
        self.batch = LocalBatch(
            job_definitions=self._job_definitions(),
            job_queues={stack.resolve({"Ref": q}) for q in stack.of_type("AWS::Batch::JobQueue")},
            base_environment={**{k: v for k, v in os.environ.items() if k not in CALLER_ONLY},
                              "AWS_DEFAULT_REGION": iam.region, "PYTHONPATH": str(REPO_ROOT),
                              "AWS_ENDPOINT_URL_S3": iam.moto_url, "AWS_ENDPOINT_URL_SQS": iam.moto_url},
            log_dir=workdir / "batch-logs",
            max_parallel=max_parallel,
            on_event=self.deliver_event,
            on_progress=lambda what, job, child: on_progress(f"batch {job.name}[{child.index}] {what}"),
        )
        self.rules = stack.event_rules(self.overrides)

    def _job_definitions(self) -> dict[str, JobDefinitionSpec]:
        specs = {}
        for logical_id, jd in self.stack.of_type("AWS::Batch::JobDefinition").items():
            props = jd["Properties"]
            if props.get("Type") != "container":
                continue  # multi-node parallel jobs need several hosts
            container = props["ContainerProperties"]
            command = list(container["Command"])
            if command[-1] not in ENTRYPOINTS:
                raise ValueError(f"job definition {logical_id} runs {command}; no local entrypoint for it")
            env = {e["Name"]: e["Value"] for e in self.stack.resolve(container.get("Environment", []), self.overrides)}
            env["OMP_NUM_THREADS"] = "1"  # local workers share two cores
            retry = props.get("RetryStrategy", {})
            specs[self.stack.resolve({"Ref": logical_id})] = JobDefinitionSpec(
                arn=self.stack.resolve({"Ref": logical_id}),
                name=props.get("JobDefinitionName", logical_id),
                command=[sys.executable, str(ENTRYPOINTS[command[-1]])],
                environment=env,
                attempts=int(retry.get("Attempts", 1)),
                evaluate_on_exit=retry.get("EvaluateOnExit", []),
                timeout_s=props.get("Timeout", {}).get("AttemptDurationSeconds"),
                role_environment=self.iam.credentials(self.stack_iam.role(container["JobRoleArn"])),
                before_start=self.stack_iam.container_start_check(
                    container.get("ExecutionRoleArn"), container.get("Image"),
                    container.get("LogConfiguration", {}).get("Options")),
            )
        return specs

    def start_functions(self, endpoints: dict[str, str]) -> None:
        """Each function as its own worker processes with its role's credentials (started on first use)."""
        base = {**os.environ, "POWERTOOLS_LOG_LEVEL": "WARNING"}
        for logical_id, fn in self.functions.items():
            self.runtimes[logical_id] = self.stack_iam.lambda_runtime(
                fn, endpoints=endpoints, log_dir=self.workdir / "lambda-logs", base_environment=base)

    def stop_functions(self) -> None:
        for runtime in self.runtimes.values():
            runtime.close()

    def deliver_event(self, event: dict) -> None:
        """EventBridge: every rule whose pattern matches invokes its target functions (if they let it)."""
        for rule_id, pattern, targets in self.rules:
            if matches(pattern, event):
                for logical_id in targets:
                    self.on_progress(f"event {event['detail-type']} -> {self.functions[logical_id].handler_folder}")
                    self.stack_iam.check_rule_may_invoke(rule_id, logical_id)
                    self.runtimes[logical_id](event)

    def event_sources(self) -> list[SqsEventSource]:
        """The SQS event source polls and deletes with the function's role, as Lambda does."""
        sources = []
        for queue_id, function_id, batch_size in self.stack.event_source_mappings():
            credentials = self.iam.credentials(self.stack_iam.function_role(function_id))
            sqs = boto3.client("sqs", endpoint_url=self.iam.moto_url, region_name=self.iam.region,
                               aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
                               aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
                               aws_session_token=credentials["AWS_SESSION_TOKEN"])
            sources.append(SqsEventSource(
                sqs, self.queue_urls[queue_id], self.overrides[f"{queue_id}.Arn"],
                self.runtimes[function_id], batch_size=batch_size,
            ))
        return sources

    def data_bucket(self) -> str:
        buckets = {fn.environment.get("DATA_BUCKET") for fn in self.functions.values()} - {None}
        if len(buckets) != 1:
            raise ValueError(f"expected one DATA_BUCKET across functions, got {buckets}")
        return buckets.pop()


# --- one local execution ----------------------------------------------------------------------------
EXPERIMENT = "lsrtm"
STACK = "BatchStack"
MACHINE_SUFFIX = "LSRTM-SGD"  # the single-node machine; the multi-node one needs several hosts
EXAMPLE = REPO_ROOT / "examples" / "lsrtm_synthetic.json"
DATA_PREFIX = "examples/synthetic/"  # where the runner uploads the synthetic dataset in the data bucket


@dataclass(frozen=True)
class LocalSizes:
    """Sizes of the local run: small enough for two cores, big enough for the misfit to mean something."""

    iterations: int = 4
    # every shot in every iteration, so the misfits of successive iterations compare (with a smaller
    # batch each iteration's misfit is of other shots; the shot choice is tested in tests/workloads/lsrtm)
    batchsize: int = 8
    num_shots: int = 8
    shape: tuple[int, int] = (161, 61)
    record_ms: float = 1000.0
    # the exact line search on the batch: the step that minimises the batch misfit along the gradient, on any
    # data scale (the seed's fixed 1e-4 was tuned for BP 2004's amplitudes; Polyak's step once raised it)
    step_rule: str = "exact"
    step_length: float = 1.0  # the whole exact step; any value in (0, 2) descends


def default_input(settings: LocalSizes = LocalSizes()) -> dict:
    """The example input, naming the synthetic dataset the runner uploads, with the local sizes."""
    example = json.loads(EXAMPLE.read_text())
    sections = input_sections(DATA_PREFIX, synthetic_files(Path("dataset"), settings.num_shots))
    request = {
        **example, **sections,
        "iterations": settings.iterations, "batchsize": settings.batchsize, "step_rule": settings.step_rule,
        "step_length": settings.step_length,
    }
    if settings.step_rule != "exact":  # fixed and polyak: step_length is the step (factor) itself
        request["step_scaling"] = 1
    return request


def check_input(cdk_out: Path, execution_input: dict, sizes: LocalSizes = LocalSizes()) -> None:
    """InvalidInput with lsrtm_validate_input's message, before any shot is modelled: the same schema and
    job-fit checks with the template's JOB_LIMITS, and the handler's object check against the objects this
    runner will upload (the local bucket is empty until then)."""
    from workloads.common.execution_input import echo
    from workloads.lsrtm.params import DataInput, InvalidInput, RunParameters, check_job_fits

    params = RunParameters.parse(execution_input)
    if params.bucket is not None:
        raise InvalidInput(f"bucket: {echo(params.bucket)} is not the local run's data bucket; leave bucket out")
    stack = SynthesizedStack.load(cdk_out, STACK)
    (validator,) = [f for f in stack.functions().values() if f.handler_folder == "lsrtm_validate_input"]
    check_job_fits(params.job, json.loads(validator.environment["JOB_LIMITS"])["array"], multi_node=False,
                   memory_budget_mib=params.physics.memory_budget_mib)
    sections = input_sections(DATA_PREFIX, synthetic_files(Path("dataset"), sizes.num_shots))
    uploaded = {sections["model"]["key"], sections["model"]["water_key"]}
    uploaded |= {DataInput(**sections["data"]).key(i) for i in range(sizes.num_shots)}
    last = params.data.num_shots - 1
    required = {"model.key": params.model.key, "model.water_key": params.model.water_key,
                "data (first shot)": params.data.key(0), f"data (shot {last})": params.data.key(last)}
    missing = [f"{field} {key!r}" for field, key in required.items() if key is not None and key not in uploaded]
    if missing:
        raise InvalidInput(f"no such object in the local data bucket: {', '.join(missing)}; the local run uploads "
                           f"{sizes.num_shots} synthetic shots under {DATA_PREFIX} (more with --shots)")


def run(
    cdk_out: Path,
    *,
    execution_input: dict | None = None,
    workdir: Path | None = None,
    execution: str = "local-demo",
    timeout_s: float = 900.0,
    on_progress: Callable[[str], None] = lambda line: None,
    sizes: LocalSizes = LocalSizes(),
    max_parallel: int | None = None,
    kill_first_attempt: tuple[int, int] | None = None,
    extra_objects: dict[str, bytes] | None = None,
) -> LsrtmRun:
    """Execute the synthesized LSRTM-SGD definition here; returns status, images and the report.

    `execution_input`: the whole input (default: `default_input(sizes)`);
    `kill_first_attempt` = (iteration, array index): that worker's first attempt loses its host;
    `extra_objects`: more objects for the data bucket (key -> bytes), e.g. broken shots.
    """
    from adapters.s3_store import S3Store
    from localcloud.services.moto_server import moto_server
    from workloads.common.store import ObjectNotFound
    from workloads.lsrtm import layout
    from workloads.lsrtm.arrays import from_npy_bytes
    from workloads.seismic.datasets import make_synthetic

    workdir = Path(workdir or tempfile.mkdtemp(prefix="lsrtm-local-"))
    workdir.mkdir(parents=True, exist_ok=True)
    stack = SynthesizedStack.load(cdk_out, STACK)
    machine_name, definition = stack.state_machine_ending(MACHINE_SUFFIX)
    on_progress(f"state machine {machine_name} from {cdk_out / (STACK + '.template.json')}")
    dataset = make_synthetic(workdir / "dataset", shape=sizes.shape, num_shots=sizes.num_shots,
                             record_ms=sizes.record_ms)
    request = execution_input if execution_input is not None else default_input(sizes)

    started = time.perf_counter()
    with moto_server() as moto_url:
        iam = LocalIam(moto_url)
        local = LocalStack(stack, iam, workdir, max_parallel or os.cpu_count() or 1, on_progress)
        with iam.enforce(), environment({"AWS_ENDPOINT_URL_S3": moto_url, "AWS_ENDPOINT_URL_SQS": moto_url}):
            result, sources = _execute(local, definition, machine_name, dataset, request, execution, timeout_s,
                                       kill_first_attempt, extra_objects, on_progress)
            bucket = local.data_bucket()
            store = S3Store(bucket, local.s3)
            try:
                report = json.loads(store.get(layout.report_key(execution)))
            except ObjectNotFound:
                report = None  # the input was rejected before a run existed
            images = {
                entry["iteration"]: from_npy_bytes(store.get(entry["image_key"]))
                for entry in (report or {}).get("iterations", [])
            }
    return LsrtmRun(
        experiment=EXPERIMENT, execution=execution, status=result.status, error=result.error, cause=result.cause,
        output=result.output, report=report, images=images, elapsed_s=time.perf_counter() - started,
        reducer_invocations=sum(s.invocations for s in sources),
        states=result.states_entered(),
        submitted_jobs=len(local.batch.jobs), dataset=dataset,
        retried_children=sum(max(0, len(c.attempts) - 1) for j in local.batch.jobs.values() for c in j.children),
        iam=iam.stats.summary(), denials=list(iam.denials),
    )


def _execute(local: LocalStack, definition: dict, machine_name: str, dataset: Dataset, request: dict,
             execution_name: str, timeout_s: float, kill_first_attempt: tuple[int, int] | None,
             extra_objects: dict[str, bytes] | None, on_progress: Callable[[str], None]):
    """Upload the inputs, start every local service with the template's IAM, run one execution."""
    from adapters.seismic_upload import upload
    from localcloud.services.batch_emulator import BatchHttpServer
    from localcloud.sfn import Integrations, LocalStateMachine
    from localcloud.sfn.callback_server import CallbackServer
    from localcloud.sfn.tokens import TaskTokens

    bucket = local.data_bucket()
    upload(local.s3, bucket, DATA_PREFIX, dataset, show_progress=False)
    for key, body in (extra_objects or {}).items():
        local.s3.put_object(Bucket=bucket, Key=key, Body=body)
    stack_iam = local.stack_iam
    integrations = Integrations(authorize=stack_iam.state_machine_authorizer(machine_name))
    tokens = TaskTokens()
    if kill_first_attempt is not None:
        iteration, index = kill_first_attempt
        local.batch.kill_first_attempt_of.add((f"{execution_name}-it{iteration}", index))

    def batch_caller(headers, action: str, resource: str, context: dict) -> None:
        local.iam.authorize_key(access_key_of(headers), action, resource, context)

    with BatchHttpServer(local.batch, authorize=batch_caller) as batch_server, \
            CallbackServer(tokens, authorize=stack_iam.callback_authorizer()) as callbacks:
        local.start_functions({"AWS_ENDPOINT_URL_S3": local.iam.moto_url, "AWS_ENDPOINT_URL_SQS": local.iam.moto_url,
                               "AWS_ENDPOINT_URL_BATCH": batch_server.url, **callbacks.environment()})
        for logical_id, runtime in local.runtimes.items():  # localcloud.asl names functions by logical id
            integrations.register_lambda(logical_id, runtime)
        machine = LocalStateMachine(definition, integrations, name=machine_name, tokens=tokens)
        sources = local.event_sources()
        execution = machine.start(request, name=execution_name,
                                  on_event=lambda e: on_progress(f"state {e.state_name}") if e.is_state_entered else None)
        for source in sources:  # a source whose polling is refused stops the run with the refusal
            source.on_error = lambda message: execution.stop("SQS.EventSourceFailed", message)
            source.start()
        try:
            result = execution.wait(timeout_s)
        finally:
            for source in sources:
                source.stop()
            local.batch.shutdown()
            local.stop_functions()
    return result, sources


# --- what a person looks at ---------------------------------------------------------------------------
def step_lines(report: dict | None) -> list[str]:
    """Per iteration of the exact rule: misfit before -> predicted after (step, alpha*). With the whole batch
    every iteration, the next iteration's misfit is the prediction, measured."""
    return [f"iteration {e['iteration']}: misfit {e['misfit']:.6g} -> predicted {e['predicted_misfit']:.6g} "
            f"(step {e['step']:.4g}, alpha* {e['alpha']:.4g})"
            for e in (report or {}).get("iterations", []) if "predicted_misfit" in e]


def write_outputs(run: LsrtmRun, workdir: Path, settings: LocalSizes) -> dict[str, Path]:
    """The final image beside the true reflectivity (PNG), the misfit curve (PNG) and a JSON report."""
    from localcloud.lsrtm_plots import plot_image, plot_misfit, reflectivity
    from workloads.seismic.model import Model

    paths = {"report": workdir / "lsrtm_report.json"}
    misfits = [entry["misfit"] for entry in (run.report or {}).get("iterations", [])]
    summary = {
        "status": run.status, "error": run.error, "cause": run.cause,
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in settings.__dict__.items()},
        "workflow_seconds": round(run.elapsed_s, 1),
        "misfit_per_iteration": misfits,
        "steps": step_lines(run.report),
        "misfit_decrease": (misfits[0] - misfits[-1]) / misfits[0] if len(misfits) > 1 and misfits[0] else None,
        "batch_jobs_submitted": run.submitted_jobs,
        "worker_retries": run.retried_children,
        "reducer_invocations": run.reducer_invocations,
        "states_entered": len(run.states),
        "iam": run.iam,
        "access_denied": run.denials,
        "report": run.report,
    }
    if run.images:
        true, background = Model.load_npz(run.dataset.true_model), Model.load_npz(run.dataset.model)
        (x0, x1), (z0, z1) = true.extent
        final = max(run.images)
        paths["image"] = plot_image(
            run.images[final], reflectivity(true.m, background.m, true.spacing[1] / 1e3),
            (x0 / 1e3, x1 / 1e3, z1 / 1e3, z0 / 1e3),
            workdir / "lsrtm_image.png", f"LS-RTM image after {final} SGD iterations",
        )
        predicted = [e["predicted_misfit"] for e in run.report["iterations"] if "predicted_misfit" in e]
        paths["misfit"] = plot_misfit(misfits, workdir / "lsrtm_misfit.png", predicted)
    paths["report"].write_text(json.dumps(summary, indent=2))
    return paths


def main(argv: list[str] | None = None, on_result: Callable[[LsrtmRun], None] = lambda run: None) -> int:
    """The command line; `on_result` gets the run (make demo adds up the IAM counters)."""
    import argparse

    from rich.console import Console

    parser = argparse.ArgumentParser(description="Run the synthesized LSRTM-SGD state machine on this machine.")
    parser.add_argument("--cdk-out", type=Path, default=REPO_ROOT / "cdk.out", help="synthesized cloud assembly")
    parser.add_argument("--workdir", type=Path, default=REPO_ROOT / "out" / "lsrtm-demo")
    parser.add_argument("--iterations", type=int, default=LocalSizes.iterations)
    parser.add_argument("--batchsize", type=int, default=LocalSizes.batchsize)
    parser.add_argument("--shots", type=int, default=LocalSizes.num_shots)
    parser.add_argument("--step-rule", choices=["exact", "fixed", "polyak"], default=LocalSizes.step_rule)
    parser.add_argument("--step-length", type=float, default=LocalSizes.step_length,
                        help="exact: fraction of the line-search step, in (0, 2); fixed: the step; polyak: its factor")
    parser.add_argument("--shape", default="x".join(map(str, LocalSizes.shape)), help="nx x nz grid points")
    args = parser.parse_args(argv)
    nx, nz = (int(v) for v in args.shape.lower().split("x"))
    settings = LocalSizes(iterations=args.iterations, batchsize=args.batchsize, num_shots=args.shots,
                          step_rule=args.step_rule, step_length=args.step_length, shape=(nx, nz))
    if not (args.cdk_out / f"{STACK}.template.json").exists():
        print(f"{args.cdk_out} has no {STACK}: synthesize first (hpcx synth)", file=sys.stderr)
        return 2
    result = run_and_show(args.cdk_out, args.workdir, settings, Console())
    on_result(result)
    return 0 if result.status == "SUCCEEDED" else 1


def run_and_show(cdk_out: Path, workdir: Path, settings: LocalSizes, console,
                 execution_input: dict | None = None) -> LsrtmRun:
    """Run, show progress on one status line, print where the results are (on `console`)."""
    console.print(f"LSRTM-SGD locally: {settings.num_shots} shots, {settings.iterations} iterations of "
                  f"{settings.batchsize}, model {settings.shape[0]}x{settings.shape[1]}, "
                  f"{os.cpu_count()} worker process(es) at a time")
    with console.status("starting") as status:
        result = run(cdk_out, workdir=workdir, sizes=settings, execution_input=execution_input,
                     on_progress=lambda line: status.update(line))
    paths = write_outputs(result, workdir, settings)
    colour = "green" if result.status == "SUCCEEDED" else "red"
    console.print(f"[{colour}]{result.status}[/] in {result.elapsed_s:.0f} s; {result.submitted_jobs} Batch jobs, "
                  f"{result.reducer_invocations} reducer invocations")
    console.print(f"IAM: {result.iam.get('calls_evaluated', 0)} calls evaluated under the synthesized roles, "
                  f"{result.iam.get('distinct_role_action_pairs', 0)} distinct (role, action) pairs, "
                  f"{result.iam.get('denied', 0)} refused")
    for denial in result.denials:
        console.print(f"[red]AccessDenied[/] {denial}")
    if result.status != "SUCCEEDED":
        console.print(failure_line(result, workdir), markup=False, highlight=False)
    misfits = [e["misfit"] for e in (result.report or {}).get("iterations", [])]
    if misfits:
        console.print("misfit per iteration: " + ", ".join(f"{m:.4g}" for m in misfits))
    for line in step_lines(result.report):
        console.print(line, markup=False, highlight=False)
    for what, path in paths.items():
        console.print(f"{what}: {path}")
    return result


if __name__ == "__main__":
    sys.exit(main())
