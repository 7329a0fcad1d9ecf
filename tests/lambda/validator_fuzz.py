"""Fuzzing the three execution-input validators: strategies, environments and the oracle.

An execution input is JSON, so every strategy here draws values `json.loads` can return: unbounded ints,
floats that overflow to inf (1e400 is valid JSON), strings with lone surrogates ("\\ud800"), deep and
odd shapes. Each input is either arbitrary or a mutation of an example input (examples/), which keeps
most draws close enough to valid to reach the checks behind the schema.

The oracle (`outcome`): a validator either rejects with InvalidInput and a short message, or accepts an
input that can run (what it stored and returned parses back, is finite JSON, fits the deployment).
Anything else is a finding. `python -m tests.lambda.validator_fuzz [N]` counts outcomes per validator
over N draws each; tests/lambda/test_validator_fuzz.py runs the same oracle as a quick test.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from hypothesis import strategies as st
from moto import mock_aws

from stacks.node_runtime import prefer_venv_node

prefer_venv_node()  # importing stacks loads jsii, which must run on the venv's Node

from localcloud.lambdas import invoke  # noqa: E402
from localcloud.services.environment import environment  # noqa: E402
from stacks.automon.config import AutoMonConfig  # noqa: E402
from stacks.config import AppConfig  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples"
MAX_MESSAGE_CHARS = 1000  # a rejection names the field; it must not echo the input back
LSRTM_BUCKET, COSMIC_BUCKETS = "seismic-data", ("cosmic-data", "cosmic-code", "cosmic-results")
AUTOMON_BUCKET = "automon-results"
TORCH_SEED_MAX = 2**64 - 1  # torch.manual_seed's upper bound

# --- values json.loads can produce ---------------------------------------------------------------
_any_char = st.characters(blacklist_categories=())  # includes lone surrogates ("\ud800" in JSON)
EDGE_NUMBERS = st.sampled_from([
    0, -1, 1, 2, 7, 8, 9, 20, 21, 24, 25, 48, 64, 65, 1000, 62000, 62259, 62260, 747110, 747111, 10**6, 2**31,
    2**63, 2**64 - 1, 2**64, -(2**63) - 1, 10**30, 0.0, -0.0, 0.5, 1e-320, 1e300, 1e308, math.inf, -math.inf,
    math.nan, True, False,
])
EDGE_STRINGS = st.sampled_from([
    "", " ", "/", "..", "a/../b", "\ud800", "x" * 2000, "é" * 600, "\x00", "a\nb", "1e400", "inf", "nan",
    "Bad Bucket!", "someone-elses-bucket", "no-such-bucket-anywhere", "ab", "runs/", "automon", "centralization",
    "quadratic", "inner_product",
])
SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_subnormal=False) | st.text(_any_char, max_size=20)
    | EDGE_NUMBERS | EDGE_STRINGS
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(_any_char, max_size=8), inner, max_size=4),
    max_leaves=12,
)
BIG = st.sampled_from([["q" * 50] * 3000, {f"k{i}": i for i in range(3000)}, [0.01 * i for i in range(1, 3000)]])
NUMBERS = st.integers(0, 3).flatmap(lambda kind: (  # edge values half of the time
    EDGE_NUMBERS if kind < 2 else st.integers(-2, 300) if kind == 2
    else st.integers(0, 10**6) | st.integers() | st.floats(allow_subnormal=False)))
EXECUTION_NAMES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,40}", fullmatch=True) | st.text(_any_char, max_size=90)


def _paths(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every key path into nested dicts (the fields a mutation can change)."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*prefix, key)
            yield from _paths(child, (*prefix, key))


def _get(doc: Any, path: tuple) -> Any:
    for key in path:
        doc = doc.get(key) if isinstance(doc, dict) else None
    return doc


def _set(doc: Any, path: tuple, value: Any, delete: bool = False) -> Any:
    if not path:
        return value
    if not isinstance(doc, dict):
        return doc
    out = dict(doc)
    if len(path) == 1 and delete:
        out.pop(path[0], None)
    else:
        out[path[0]] = _set(out.get(path[0], {}), path[1:], value, delete)
    return out


@st.composite
def mutated(draw: st.DrawFn, examples: list[dict], extra_paths: list[tuple]) -> dict:
    """An example input with one to three fields changed: mostly to an edge value of the field's own type
    (a number for a number, a string for a string, a repeated item for a list), else removed, given any
    JSON value, or added under an unknown name."""
    doc = draw(st.sampled_from(examples))
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
        known = sorted(set(_paths(doc)) | set(extra_paths), key=repr)
        path = draw(st.sampled_from(known)) if draw(st.integers(0, 9)) else draw(st.tuples(st.text(_any_char, max_size=8)))
        current = _get(doc, path)
        action = draw(st.integers(0, 9))
        if action == 0:
            doc = _set(doc, path, None, delete=True)
        elif action == 1:
            doc = _set(doc, path, draw(JSON_VALUES | BIG))
        elif isinstance(current, list) and current:
            doc = _set(doc, path, [*current, draw(st.sampled_from(current) | NUMBERS)])
        elif isinstance(current, str):
            doc = _set(doc, path, draw(EDGE_STRINGS | st.text(_any_char, max_size=30)))
        else:
            doc = _set(doc, path, draw(NUMBERS))
    return doc


@st.composite
def inputs(draw: st.DrawFn, examples: list[dict], extra_paths: list[tuple]) -> Any:
    """Mostly mutated examples (they reach the checks behind the schema), some arbitrary JSON, the examples."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.sampled_from(examples))
    if kind == 1:
        return draw(JSON_VALUES)
    return draw(mutated(examples, extra_paths))


def _example(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text())


# --- the validators and their deployments ----------------------------------------------------------
@dataclass
class Validator:
    name: str  # lambda/<name>
    examples: list[dict]
    extra_paths: list[tuple]  # optional fields the examples leave out, so mutations add them too
    setup: Callable[[], contextlib.AbstractContextManager]
    check_accepted: Callable[[dict, dict], None]  # (event, result): raises AssertionError when unrunnable
    extra_event: dict = field(default_factory=dict)  # what the state machine adds to the payload


LSRTM_LIMITS = AppConfig().batch.job_limits()


@contextlib.contextmanager
def _lsrtm() -> Iterator[None]:
    env = {"DATA_BUCKET": LSRTM_BUCKET, "JOB_LIMITS": json.dumps(LSRTM_LIMITS), "POWERTOOLS_LOG_LEVEL": "ERROR"}
    with environment(env), mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=LSRTM_BUCKET)
        s3.create_bucket(Bucket="someone-elses-bucket")
        for example in LSRTM_EXAMPLES:
            data = example["data"]
            for key in (example["model"]["key"], example["model"]["water_key"]):
                s3.put_object(Bucket=LSRTM_BUCKET, Key=key, Body=b"x")
            first = data.get("first_shot", 0)
            # every shot of a small example (a mutated shot count still finds its last shot); else the ends
            shots = range(first, first + data["num_shots"]) if data["num_shots"] <= 64 else (
                first, first + data["num_shots"] - 1)
            for shot in shots:
                s3.put_object(Bucket=LSRTM_BUCKET, Key=f"{data['prefix']}{data['name']}{shot}.segy", Body=b"x")
        yield


def _check_lsrtm(event: dict, run: dict) -> None:
    from workloads.lsrtm import layout
    from workloads.lsrtm.params import RunParameters

    json.dumps(run, allow_nan=False)  # the state machine receives it as JSON
    assert run["bucket"] == LSRTM_BUCKET, f"accepted bucket {run['bucket']!r} the stack's roles cannot reach"
    stored = boto3.client("s3", region_name="us-east-1").get_object(
        Bucket=run["bucket"], Key=layout.parameters_key(run["run_id"]))["Body"].read()
    params = RunParameters.model_validate_json(stored)  # what the next state reads back
    assert math.isfinite(params.step_size) and params.step_size > 0, f"step size {params.step_size}"
    # the exact step descends only for a fraction of it in (0, 2); the ExactStep choice reads the rule
    assert params.step_rule != "exact" or 0 < params.step_length < 2, f"exact step_length {params.step_length}"
    assert run["step_rule"] == params.step_rule, f"run state {run} does not carry the step rule"
    limits = LSRTM_LIMITS["multi_node" if event.get("multi_node") else "array"]
    assert (params.job.vcpus or 0) <= limits["online_cpus"], f"vcpus {params.job.vcpus} > {limits}"
    assert (params.job.memory_mib or 0) <= limits["usable_memory_mib"], f"memory {params.job.memory_mib} > {limits}"
    if event.get("multi_node"):
        assert params.job.num_nodes <= limits["max_nodes"], f"num_nodes {params.job.num_nodes} > {limits}"


LSRTM_EXAMPLES = [_example("lsrtm_synthetic.json"), _example("lsrtm_bp2004.json")]


@contextlib.contextmanager
def _cosmic() -> Iterator[None]:
    from workloads.cosmic.rendezvous_server import running_server

    with running_server() as server:
        env = {"RENDEZVOUS_HOST": "127.0.0.1", "RENDEZVOUS_PORT": str(server.port), "MAX_WORLD_SIZE": "8",
               "OP_TIMEOUT_S": "60", "DATA_BUCKET": COSMIC_BUCKETS[0], "CODE_BUCKET": COSMIC_BUCKETS[1],
               "RESULTS_BUCKET": COSMIC_BUCKETS[2], "POWERTOOLS_LOG_LEVEL": "ERROR"}
        with environment(env), mock_aws():
            s3 = boto3.client("s3", region_name="us-east-1")
            for bucket in COSMIC_BUCKETS:
                s3.create_bucket(Bucket=bucket)
            s3.put_object(Bucket=COSMIC_BUCKETS[0], Key=COSMIC_EXAMPLES[0]["data_key"], Body=b"x")
            for key in ("weights/astromae.pt", "scripts/hello.py"):
                s3.put_object(Bucket=COSMIC_BUCKETS[1], Key=key, Body=b"x")
            yield


def _check_cosmic(event: dict, run: dict) -> None:
    from workloads.cosmic.job import RankJob

    json.dumps(run, allow_nan=False)
    job = run["job"]
    assert 0 <= job["seed"] <= TORCH_SEED_MAX, f"seed {job['seed']} is out of torch.manual_seed's range"
    assert math.isfinite(job["timeout_s"]) and job["timeout_s"] > 0, f"timeout_s {job['timeout_s']}"
    for rank in run["ranks"]:
        RankJob.of(rank, job)  # every rank parses its payload


COSMIC_EXAMPLES = [
    _example("cosmicai_synthetic.json"),
    {"world_size": 2, "script_key": "scripts/hello.py"},
    {"world_size": 3, "data_key": "inputs/synthetic-1024.pt", "weights_key": "weights/astromae.pt", "threads": 2,
     "seed": 7, "timeout_s": 30},
]


AUTOMON_CONFIG = AutoMonConfig()


@contextlib.contextmanager
def _automon() -> Iterator[None]:
    env = {"RESULTS_BUCKET": AUTOMON_BUCKET, "RESULTS_PREFIX": "results/",
           "NODE_COUNTS": json.dumps(AUTOMON_CONFIG.node_counts), "ERROR_BOUNDS": json.dumps(AUTOMON_CONFIG.error_bounds),
           "AUTOMON_IN_IMAGE": "1", "DATASETS_IN_IMAGE": "0", "POWERTOOLS_LOG_LEVEL": "ERROR"}
    with environment(env), mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=AUTOMON_BUCKET)
        yield


def _check_automon(event: dict, run: dict) -> None:
    json.dumps(run, allow_nan=False)
    items = run["items"]
    assert items, "a run with nothing to do"
    for what in ("results_prefix", "token"):
        values = [item[what] for item in items]
        assert len(set(values)) == len(values), f"two items share a {what}"


AUTOMON_EXAMPLES = [
    {"algorithm": "automon", "synthetic": True},
    {"algorithm": "centralization", "node_types": ["quadratic", "inner_product"]},
    {"algorithm": "automon", "node_types": ["inner_product"], "error_bounds": {"inner_product": [0.02, 0.05]},
     "synthetic": True},
]

VALIDATORS = {
    "lsrtm_validate_input": Validator("lsrtm_validate_input", LSRTM_EXAMPLES,
                                [("bucket",), ("job", "vcpus"), ("job", "memory_mib"), ("job", "num_nodes"),
                                 ("physics", "peak_frequency_hz"), ("step_rule",), ("step_scaling",)],
                                _lsrtm, _check_lsrtm),
    "cosmic_validate_input": Validator("cosmic_validate_input", COSMIC_EXAMPLES,
                                       [("seed",), ("timeout_s",), ("weights_key",)], _cosmic, _check_cosmic),
    "automon_validate_input": Validator("automon_validate_input", AUTOMON_EXAMPLES,
                                        [("error_bounds", "quadratic"), ("node_types",)], _automon, _check_automon),
}


# --- the oracle -----------------------------------------------------------------------------------
class Finding(AssertionError):
    """The validator crashed, accepted what cannot run, or rejected with an overlong message."""


def outcome(validator: Validator, raw: Any, execution: str, multi_node: bool = False) -> str:
    """'accepted' or 'rejected'; raises Finding for anything else (its message says which kind)."""
    event = {"input": raw, "execution": execution, **({"multi_node": multi_node} if validator.name == "lsrtm_validate_input"
                                                       else {})}
    try:
        run = invoke(validator.name, event)
    except Exception as exc:  # noqa: BLE001 - sorting every exception is the point
        if type(exc).__name__ != "InvalidInput":
            raise Finding(f"unexpected {type(exc).__name__}: {str(exc)[:200]}") from exc
        if len(str(exc)) > MAX_MESSAGE_CHARS:
            raise Finding(f"overlong message ({len(str(exc))} chars)") from exc
        return "rejected"
    try:
        validator.check_accepted(event, run)
    except Exception as exc:  # noqa: BLE001
        raise Finding(f"accepted but cannot run: {type(exc).__name__}: {str(exc)[:200]}") from exc
    return "accepted"


def count(name: str, examples: int) -> Counter:
    """Draw `examples` inputs for one validator and count outcomes (findings by kind)."""
    from hypothesis import HealthCheck, Phase, given, settings

    validator = VALIDATORS[name]
    counts: Counter = Counter()

    @settings(max_examples=examples, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(raw=inputs(validator.examples, validator.extra_paths), execution=EXECUTION_NAMES, multi_node=st.booleans())
    def draw(raw: Any, execution: str, multi_node: bool) -> None:
        counts["inputs"] += 1
        try:
            counts[outcome(validator, raw, execution, multi_node)] += 1
        except Finding as finding:
            counts["unexpected"] += 1
            counts[str(finding).split(":")[0]] += 1

    with validator.setup():
        draw()
    return counts


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    for name in sys.argv[2:] or VALIDATORS:
        print(name, json.dumps(dict(count(name, n).most_common())), flush=True)
