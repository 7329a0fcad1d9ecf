"""The AutoMon experiment's plan: the execution input validated and expanded into its items, before
anything starts (lambda/automon_validate_input runs it and stores the plan).

The input:
  {"algorithm": "automon" | "centralization",
   "node_types": ["inner_product", ...],            optional; default: every configured node type
   "error_bounds": {"inner_product": [0.02, ...]},  optional, automon only; default: the configured lists
   "synthetic": false}                               optional; seeded stand-ins for the kld/dnn data sets
Returns the run: {"run_id", "bucket", "results_prefix", "algorithm", "items": [...]}, one item per
(node type, error bound) -- per node type for centralization -- with its S3 prefix
results/<run>/<node_type>/eps_<e>/ (centralization: .../centralization/), its clean-up token and the
environment of its coordinator and nodes.
Raises InvalidInput (the execution fails with the message as its cause; nothing is started).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Literal

from workloads.automon.config import RunConfig
from workloads.automon.constants import AUTOMON, AUTOMON_PIP_SPEC_EXAMPLE, NODE_TYPES, SYNTHETIC
from workloads.common.execution_input import InvalidInput, StrictInput, echo, parse_input
from workloads.common.run_ids import RUN_ID_CHARS, run_id_of

MAX_TOKEN = 128  # ECS startedBy: up to 128 letters, digits, '-' and '_'
MAX_ITEMS = 200


class ExperimentInput(StrictInput):
    algorithm: Literal["automon", "centralization"]
    node_types: list[str] | None = None
    error_bounds: dict[str, list[float]] | None = None
    synthetic: bool = False


def _token(run_id: str, key: str) -> str:
    token = RUN_ID_CHARS.sub("_", f"{run_id}-{key}")
    if len(token) > MAX_TOKEN:  # keep it unique: a readable head and a hash of the whole
        token = token[: MAX_TOKEN - 17] + "-" + hashlib.sha256(token.encode()).hexdigest()[:16]
    return token


def _repeated(values: list) -> list:
    return sorted((v for v, n in Counter(values).items() if n > 1), key=repr)


def plan(raw: object, *, execution: str, bucket: str, results_prefix: str, node_counts: dict[str, int],
         error_bounds: dict[str, list[float]], automon_in_image: bool, datasets_in_image: bool) -> dict:
    """The run and its items, or InvalidInput naming every problem found."""
    request = parse_input(ExperimentInput, raw, what="input")
    run_id = run_id_of(execution)
    problems: list[str] = []
    types = request.node_types if request.node_types is not None else list(node_counts)
    if not types:
        problems.append("node_types is empty")
    if len(set(types)) != len(types):
        problems.append(f"node_types has duplicates: {echo(_repeated(types))}")
    unknown = [t for t in types if t not in node_counts]
    if unknown:
        problems.append(f"node types {echo(unknown)} are not deployed; choose from {list(node_counts)}")
    if request.algorithm == AUTOMON and not automon_in_image:
        problems.append(
            "algorithm 'automon' needs the automon package in the image, which was built without it: deploy with "
            f"-c automon.automon_pip_spec='{AUTOMON_PIP_SPEC_EXAMPLE}', or run algorithm 'centralization'"
        )
    if request.algorithm != AUTOMON and request.error_bounds is not None:
        problems.append("error_bounds apply to algorithm 'automon' only; centralization runs once per node type")
    if request.error_bounds is not None:
        stray = sorted(set(request.error_bounds) - set(types))
        if stray:
            problems.append(f"error_bounds names node types that are not run: {echo(stray)}")
        for node_type, bounds in request.error_bounds.items():
            # one item per bound: a repeated bound would give two items one results prefix and stop token
            if len(set(bounds)) != len(bounds):
                problems.append(f"error_bounds.{echo(node_type)} repeats {echo(_repeated(bounds))}")
    count = sum(len(_bounds(request, t, error_bounds)) for t in types if t in node_counts)
    if count > MAX_ITEMS:  # before building them: a long list would otherwise be checked bound by bound
        problems.append(f"{count} experiments in one execution; at most {MAX_ITEMS}")
    needs_data = [t for t in types if t in NODE_TYPES and NODE_TYPES[t].data != SYNTHETIC]
    if needs_data and not request.synthetic and not datasets_in_image:
        problems.append(
            f"{needs_data} read external data sets the image was built without: deploy with "
            "-c automon.fetch_datasets=true, or pass \"synthetic\": true for seeded stand-ins"
        )
    if problems:
        raise InvalidInput("; ".join(problems))

    run_prefix = f"{results_prefix}{run_id}/"
    items = []
    for node_type in types:
        for bound in _bounds(request, node_type, error_bounds):
            num_nodes = node_counts[node_type]
            try:
                RunConfig.for_type(node_type, algorithm=request.algorithm, num_nodes=num_nodes,
                                   error_bound=bound, synthetic=request.synthetic)
            except ValueError as exc:
                problems.append(f"{node_type}, error bound {bound!r}: {exc}")
                continue
            segment = "centralization" if bound is None else f"eps_{bound!r}"
            key = f"{node_type}/{segment}"
            items.append({
                "key": key,
                "node_type": node_type,
                "error_bound": bound,
                "num_nodes": num_nodes,
                "results_prefix": f"{run_prefix}{key}/",
                "token": _token(run_id, key.replace("/", "-")),
                "node_indices": [str(i) for i in range(num_nodes)],
                "env": {
                    "NODE_TYPE": node_type,
                    "ALGORITHM": request.algorithm,
                    "ERROR_BOUND": "" if bound is None else repr(bound),
                    "NUM_NODES": str(num_nodes),
                    "SYNTHETIC": "1" if request.synthetic else "0",
                    "RESULTS_PREFIX": f"{run_prefix}{key}/",
                },
            })
    if problems:
        raise InvalidInput("; ".join(problems))
    return {"run_id": run_id, "bucket": bucket, "results_prefix": run_prefix, "algorithm": request.algorithm,
            "items": items}


def _bounds(request: ExperimentInput, node_type: str, configured: dict[str, list[float]]) -> list[float | None]:
    """The error bounds one node type runs with: centralization runs once, without one."""
    if request.algorithm != AUTOMON:
        return [None]
    return list((request.error_bounds or {}).get(node_type) or configured[node_type])
