"""JSONPath as ASL uses it.

Reference paths ($, .field, ['field'], [n], [-n]) address one node and are what ResultPath, Variable and
intrinsic arguments take; they are evaluated here. Anything else ($..x, [*], filters, slices) is an
indefinite path, allowed in InputPath/OutputPath/Parameters, and yields a list like Jayway (the
library Step Functions uses); jsonpath-ng evaluates those.
"""

from __future__ import annotations

import copy
import json
import re
from functools import lru_cache
from typing import Any

from localcloud.sfn.errors import RESULT_PATH_MATCH_FAILURE, DefinitionError, StatesError

Segment = str | int

_SEGMENT = re.compile(
    r"""\.(?P<name>[^.\[\]*]+)|\[(?P<index>-?\d+)\]|\['(?P<single>(?:[^'\\]|\\.)*)'\]|\["(?P<double>(?:[^"\\]|\\.)*)"\]"""
)


class PathNotFound(KeyError):
    """The path selects nothing in the data; callers turn it into the States error of their field."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


@lru_cache(maxsize=4096)
def parse_reference(path: str) -> tuple[Segment, ...] | None:
    """The segments of a reference path, or None when the path is indefinite (wildcards, filters...)."""
    if not path.startswith("$"):
        raise DefinitionError(f"a path must start with '$': {path!r}")
    segments: list[Segment] = []
    pos = 1
    while pos < len(path):
        m = _SEGMENT.match(path, pos)
        if m is None:
            return None
        if m["name"] is not None:
            segments.append(m["name"])
        elif m["index"] is not None:
            segments.append(int(m["index"]))
        else:
            quoted = m["single"] if m["single"] is not None else m["double"]
            segments.append(re.sub(r"\\(.)", r"\1", quoted))
        pos = m.end()
    return tuple(segments)


@lru_cache(maxsize=1024)
def _indefinite(path: str):
    from jsonpath_ng.ext import parse  # moto[stepfunctions] installs it

    return parse(path)


def is_context_path(path: str) -> bool:
    return path.startswith("$$")


def read(path: str, data: Any, context: dict | None = None) -> Any:
    """The value at `path` ($$... reads the context object). Raises PathNotFound for a reference path
    that selects nothing; an indefinite path returns the (possibly empty) list of matches."""
    if is_context_path(path):
        if context is None:
            raise PathNotFound(path)
        return read(path[1:], context)
    segments = parse_reference(path)
    if segments is None:
        return [match.value for match in _indefinite(path).find(data)]
    node = data
    for seg in segments:
        if isinstance(seg, int) and isinstance(node, list) and -len(node) <= seg < len(node):
            node = node[seg]
        elif isinstance(seg, str) and isinstance(node, dict) and seg in node:
            node = node[seg]
        else:
            raise PathNotFound(path)
    return node


def exists(path: str, data: Any, context: dict | None = None) -> bool:
    try:
        read(path, data, context)
    except PathNotFound:
        return False
    return True


def with_result(data: Any, path: str, value: Any) -> Any:
    """ResultPath: a copy of `data` with `value` placed at `path`, creating missing objects on the way."""
    segments = parse_reference(path)
    if segments is None or is_context_path(path):
        raise DefinitionError(f"ResultPath must be a reference path: {path!r}")
    if not segments:
        return copy.deepcopy(value)
    root = copy.deepcopy(data)
    node = root
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if isinstance(seg, int):
            if not (isinstance(node, list) and -len(node) <= seg < len(node)):
                raise _match_failure(path, data)
            if last:
                node[seg] = copy.deepcopy(value)
            else:
                node = node[seg]
        else:
            if not isinstance(node, dict):
                raise _match_failure(path, data)
            if last:
                node[seg] = copy.deepcopy(value)
            else:
                node = node.setdefault(seg, {})
    return root


def _match_failure(path: str, data: Any) -> StatesError:
    return StatesError(RESULT_PATH_MATCH_FAILURE, f"Unable to apply ReferencePath {path} to input {json.dumps(data)}")
