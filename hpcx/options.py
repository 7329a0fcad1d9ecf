"""Parameter types and options several commands share."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import click

from hpcx.errors import Failure
from hpcx.paths import CDK_OUT

MIN_GRID_POINTS = 21  # per axis: the synthetic model's layers, salt and water need room (and so do the shots)


class Shape(click.ParamType):
    """NXxNZ grid points, e.g. 161x61."""

    name = "shape"

    def get_metavar(self, param, ctx=None) -> str:
        return "NXxNZ"

    def convert(self, value: Any, param, ctx) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        parts = str(value).lower().split("x")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            self.fail(f"{value!r} is not NXxNZ grid points (for example 161x61)", param, ctx)
        nx, nz = (int(p) for p in parts)
        if min(nx, nz) < MIN_GRID_POINTS:
            self.fail(f"{value!r}: each axis needs at least {MIN_GRID_POINTS} grid points", param, ctx)
        return nx, nz


class ExecutionInput(click.ParamType):
    """An execution input: a JSON file, or the JSON text itself."""

    name = "input"

    def get_metavar(self, param, ctx=None) -> str:
        return "FILE|JSON"

    def convert(self, value: Any, param, ctx) -> dict:
        if isinstance(value, dict):
            return value
        text = str(value)
        path = Path(text).expanduser()
        if not text.lstrip().startswith("{"):
            if not path.is_file():
                self.fail(f"{text!r} is neither a file nor a JSON object", param, ctx)
            text = path.read_text()
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            self.fail(f"not JSON: {exc}", param, ctx)
        if not isinstance(parsed, dict):
            self.fail(f"the execution input must be a JSON object, got {type(parsed).__name__}", param, ctx)
        return parsed


def cdk_out_option(f):
    return click.option("--cdk-out", type=click.Path(file_okay=False, path_type=Path), default=CDK_OUT,
                        help="synthesized cloud assembly (`hpcx synth` makes it)")(f)


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="print the result as JSON on stdout")(f)


def require_stacks(cdk_out: Path, *stacks: str) -> None:
    """Exit 2 before anything starts when cdk.out lacks a stack the command reads."""
    for stack in stacks:
        if not (cdk_out / f"{stack}.template.json").exists():
            raise Failure(f"{cdk_out} has no {stack}: synthesize first (`hpcx synth`)")


def to_jsonable(value: Any) -> Any:
    """Dataclasses (a LocalRun and what it holds), paths and numpy values as plain JSON."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def emit_json(value: Any) -> None:
    click.echo(json.dumps(to_jsonable(value), indent=2))
